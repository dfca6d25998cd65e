import type { FastifyRequest } from "fastify";
import { Type } from "typebox";
import { AppError } from "../../platform/errors.ts";
import type { Guards } from "../../platform/http/auth.ts";
import { AmountSchema, problemResponses } from "../../platform/http/schemas.ts";
import type { HttpServer } from "../../platform/http/server.ts";
import { STEP_UP_PROOF_HEADER } from "../../platform/step-up.ts";
import type { ScheduledTransferService } from "./scheduled.service.ts";

const DateSchema = Type.String({ pattern: "^\\d{4}-\\d{2}-\\d{2}$", examples: ["2026-12-01"] });
const FrequencySchema = Type.Union([Type.Literal("once"), Type.Literal("weekly"), Type.Literal("monthly")]);
const ScheduledSchema = Type.Object({
  id: Type.String(),
  fromAccountId: Type.String(),
  toIban: Type.String(),
  amount: AmountSchema,
  reference: Type.Union([Type.String(), Type.Null()]),
  frequency: FrequencySchema,
  nextRunOn: Type.Union([Type.String(), Type.Null()]),
  endOn: Type.Union([Type.String(), Type.Null()]),
  status: Type.String(),
  createdAt: Type.String({ format: "date-time" }),
});

function callerId(request: FastifyRequest): string {
  const actor = request.caller.actor;
  if (actor.type !== "customer") throw new AppError("unauthorized");
  return actor.id;
}

export function registerScheduledTransferRoutes(
  app: HttpServer,
  deps: { scheduled: ScheduledTransferService; guards: Guards },
): void {
  const { scheduled, guards } = deps;
  const tags = ["transfers"];
  const security = [{ customerToken: [] }];

  app.post(
    "/v1/scheduled-transfers",
    {
      preValidation: guards.customer,
      schema: {
        tags,
        security,
        summary: "Schedule a transfer once, or a standing order (weekly, monthly), from firstRunOn",
        description:
          "Approved once with step-up (401 `step-up-required` until retried with X-Step-Up-Proof) unless it is " +
          "between the customer's own accounts. Each run is checked like an immediate transfer (funds, limits).",
        headers: Type.Object({ [STEP_UP_PROOF_HEADER]: Type.Optional(Type.String({ maxLength: 200 })) }),
        body: Type.Object(
          {
            fromAccountId: Type.String({ pattern: "^acc_[0-9a-f]{32}$" }),
            toIban: Type.String({ minLength: 1, maxLength: 64 }),
            amount: AmountSchema,
            reference: Type.Optional(Type.String({ minLength: 1, maxLength: 140 })),
            frequency: FrequencySchema,
            firstRunOn: DateSchema,
            endOn: Type.Optional(DateSchema),
          },
          { additionalProperties: false },
        ),
        response: { 201: ScheduledSchema, ...problemResponses(400, 401, 404, 422) },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          await scheduled.create(
            request.caller,
            callerId(request),
            request.body,
            request.headers[STEP_UP_PROOF_HEADER],
          ),
        ),
  );

  app.get(
    "/v1/scheduled-transfers",
    {
      preValidation: guards.customer,
      schema: {
        tags,
        security,
        summary: "The caller's scheduled and standing transfers",
        response: { 200: Type.Object({ items: Type.Array(ScheduledSchema) }), ...problemResponses(401) },
      },
    },
    async (request) => ({ items: await scheduled.list(callerId(request)) }),
  );

  app.delete(
    "/v1/scheduled-transfers/:id",
    {
      preValidation: guards.customer,
      schema: {
        tags,
        security,
        summary: "Cancel one of the caller's scheduled or standing transfers",
        params: Type.Object({ id: Type.String({ pattern: "^sto_[0-9a-f]{32}$" }) }),
        response: { 204: Type.Null(), ...problemResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      await scheduled.cancel(request.caller, callerId(request), request.params.id);
      return reply.code(204).send(null);
    },
  );
}

import type { FastifyRequest } from "fastify";
import { Type } from "typebox";
import { AppError } from "../../platform/errors.ts";
import type { Guards } from "../../platform/http/auth.ts";
import { problemResponses } from "../../platform/http/schemas.ts";
import type { HttpServer } from "../../platform/http/server.ts";
import type { PayeeService } from "./payee.service.ts";

const NameCheckResultSchema = Type.Union([
  Type.Literal("match"),
  Type.Literal("close_match"),
  Type.Literal("no_match"),
  Type.Literal("not_applicable"),
]);
const NameCheckSchema = Type.Object({
  result: NameCheckResultSchema,
  registeredName: Type.Optional(Type.String({ description: "The holder's name, on a close match only" })),
});
const PayeeSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  iban: Type.String(),
  nameCheck: NameCheckResultSchema,
  createdAt: Type.String({ format: "date-time" }),
});
const PayeeInput = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 140 }),
    iban: Type.String({ minLength: 1, maxLength: 64 }),
  },
  { additionalProperties: false },
);

/** Confirmation of Payee answers whether a name fits an account: limited per customer, like any oracle. */
const NAME_CHECKS_PER_MINUTE = 30;

function callerId(request: FastifyRequest): string {
  const actor = request.caller.actor;
  if (actor.type !== "customer") throw new AppError("unauthorized");
  return actor.id;
}

export function registerPayeeRoutes(app: HttpServer, deps: { payees: PayeeService; guards: Guards }): void {
  const { payees, guards } = deps;
  const tags = ["payees"];
  const security = [{ customerToken: [] }];
  const perCustomer = (groupId: string) => ({
    rateLimit: {
      max: NAME_CHECKS_PER_MINUTE,
      timeWindow: 60_000,
      groupId,
      keyGenerator: (request: FastifyRequest) =>
        `customer:${request.caller?.actor.type === "customer" ? request.caller.actor.id : request.ip}`,
    },
  });

  app.post(
    "/v1/payees/name-check",
    {
      preValidation: guards.customer,
      config: perCustomer("payee-name-check"),
      schema: {
        tags,
        security,
        summary: "Check a payee's name against the holder of the IBAN before paying (Confirmation of Payee)",
        body: PayeeInput,
        response: { 200: NameCheckSchema, ...problemResponses(400, 401, 422, 429) },
      },
    },
    async (request) => {
      const { iban: _iban, ...check } = await payees.checkName(request.body);
      return check;
    },
  );

  app.post(
    "/v1/payees",
    {
      preValidation: guards.customer,
      config: perCustomer("payee-create"),
      schema: {
        tags,
        security,
        summary: "Save a payee; the answer carries the name check, shown before the first payment",
        description: "The first payment to a payee still needs step-up (it approves that payee).",
        body: PayeeInput,
        response: {
          201: Type.Object({ payee: PayeeSchema, nameCheck: NameCheckSchema }),
          ...problemResponses(400, 401, 409, 422, 429),
        },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await payees.create(request.caller, callerId(request), request.body)),
  );

  app.get(
    "/v1/payees",
    {
      preValidation: guards.customer,
      schema: {
        tags,
        security,
        summary: "The caller's saved payees",
        response: { 200: Type.Object({ items: Type.Array(PayeeSchema) }), ...problemResponses(401) },
      },
    },
    async (request) => ({ items: await payees.list(callerId(request)) }),
  );

  app.delete(
    "/v1/payees/:id",
    {
      preValidation: guards.customer,
      schema: {
        tags,
        security,
        summary: "Delete one of the caller's payees",
        params: Type.Object({ id: Type.String({ pattern: "^pye_[0-9a-f]{32}$" }) }),
        response: { 204: Type.Null(), ...problemResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      await payees.delete(request.caller, callerId(request), request.params.id);
      return reply.code(204).send(null);
    },
  );
}

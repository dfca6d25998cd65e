import { Type } from "typebox";
import { AppError } from "../../platform/errors.ts";
import type { Guards } from "../../platform/http/auth.ts";
import { AmountSchema, IdempotencyHeaders, problemResponses } from "../../platform/http/schemas.ts";
import type { HttpServer } from "../../platform/http/server.ts";
import { STEP_UP_PROOF_HEADER } from "../../platform/step-up.ts";
import type { PaymentService } from "./payment.service.ts";
import { isFinal } from "./transfer-lifecycle.ts";

const TRANSFER_STATUSES = ["received", "pending_review", "accepted", "settled", "rejected", "returned"];

const TransferSchema = Type.Object({
  id: Type.String(),
  status: Type.String({ enum: TRANSFER_STATUSES }),
  statusReason: Type.Union([Type.String(), Type.Null()], {
    description:
      "Why the payment is in its state: fraud_review, fraud_blocked, insufficient-funds, or the rail's ISO 20022 code",
  }),
  statusHistory: Type.Array(
    Type.Object({
      status: Type.String({ enum: TRANSFER_STATUSES }),
      reasonCode: Type.Union([Type.String(), Type.Null()]),
      at: Type.String({ format: "date-time" }),
    }),
  ),
  fromAccountId: Type.String(),
  toIban: Type.String(),
  external: Type.Boolean(),
  amount: AmountSchema,
  reference: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: "date-time" }),
});

const CashMovementSchema = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  status: Type.String(),
  accountId: Type.String(),
  amount: AmountSchema,
  reference: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: "date-time" }),
});

const TransferHeaders = Type.Object({
  ...IdempotencyHeaders.properties,
  [STEP_UP_PROOF_HEADER]: Type.Optional(Type.String({ maxLength: 200 })),
});

const Reference = Type.Optional(Type.String({ minLength: 1, maxLength: 140 }));

const CashBody = Type.Object({ amount: AmountSchema, reference: Reference }, { additionalProperties: false });

function customerId(request: { caller: { actor: { type: string; id?: string } } }): string {
  const actor = request.caller.actor;
  if (actor.type !== "customer" || !actor.id) throw new AppError("unauthorized");
  return actor.id;
}

export function registerPaymentRoutes(
  app: HttpServer,
  deps: { payments: PaymentService; guards: Guards },
): void {
  const { payments, guards } = deps;

  app.post(
    "/v1/transfers",
    {
      preValidation: guards.customer,
      schema: {
        tags: ["transfers"],
        security: [{ customerToken: [] }],
        summary: "Move money from one of the caller's accounts to any IBAN, at this bank or another",
        headers: TransferHeaders,
        body: Type.Object(
          {
            fromAccountId: Type.String({ pattern: "^acc_[0-9a-f]{32}$" }),
            toIban: Type.String({ minLength: 1, maxLength: 64 }),
            amount: AmountSchema,
            reference: Reference,
          },
          { additionalProperties: false },
        ),
        response: {
          201: TransferSchema,
          202: TransferSchema,
          ...problemResponses(400, 401, 404, 409, 422, 503),
        },
        description:
          "201 when the payment settled at once (inside the bank); 202 when it is held for review " +
          "(`pending_review`) or on its way to another bank through the payment rail (`received`); follow " +
          "it with GET /v1/transfers/{id}. A payment refused by the fraud checks answers 422 `payment-blocked`. " +
          "Idempotent: the same Idempotency-Key and body return the first result; a different body is 422; " +
          "the same key while the first request runs is 409. A transfer to a payee not yet approved, or above " +
          "the step-up amount, answers 401 `step-up-required` until retried with X-Step-Up-Proof.",
      },
    },
    async (request, reply) => {
      const transfer = await payments.transfer(
        request.caller,
        customerId(request),
        request.body,
        request.headers["idempotency-key"],
        request.headers[STEP_UP_PROOF_HEADER],
      );
      return reply.code(isFinal(transfer.status) ? 201 : 202).send(transfer);
    },
  );

  app.get(
    "/v1/transfers/:id",
    {
      preValidation: guards.customer,
      schema: {
        tags: ["transfers"],
        security: [{ customerToken: [] }],
        summary: "A transfer the caller made, in whatever state it is, with its status history",
        params: Type.Object({ id: Type.String({ pattern: "^trf_[0-9a-f]{32}$" }) }),
        response: { 200: TransferSchema, ...problemResponses(400, 401, 404) },
      },
    },
    async (request) => payments.getTransfer(customerId(request), request.params.id),
  );

  for (const kind of ["deposits", "withdrawals"] as const) {
    app.post(
      `/v1/staff/accounts/:id/${kind}`,
      {
        preValidation: guards.staff("teller"),
        schema: {
          tags: ["staff"],
          security: [{ staffToken: [] }],
          summary:
            kind === "deposits" ? "Teller cash deposit at a branch" : "Teller cash withdrawal at a branch",
          headers: IdempotencyHeaders,
          params: Type.Object({ id: Type.String({ pattern: "^acc_[0-9a-f]{32}$" }) }),
          body: CashBody,
          response: { 201: CashMovementSchema, ...problemResponses(400, 401, 403, 404, 409, 422, 503) },
        },
      },
      async (request, reply) => {
        const key = request.headers["idempotency-key"];
        const movement =
          kind === "deposits"
            ? await payments.depositCash(request.caller, request.params.id, request.body, key)
            : await payments.withdrawCash(request.caller, request.params.id, request.body, key);
        return reply.code(201).send(movement);
      },
    );
  }
}

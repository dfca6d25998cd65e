import { Type } from "typebox";
import { AppError } from "../../platform/errors.ts";
import type { Guards } from "../../platform/http/auth.ts";
import { AmountSchema, IdempotencyHeaders, Nullable, problemResponses } from "../../platform/http/schemas.ts";
import type { HttpServer } from "../../platform/http/server.ts";
import type { LegacyService } from "./legacy.service.ts";

const PAYMENT_STATUSES = ["accepted", "posted", "rejected"];
const AccountParams = Type.Object({ id: Type.String({ pattern: "^lac_[0-9a-f]{32}$" }) });

const LegacyAccountSchema = Type.Object({
  id: Type.String(),
  iban: Type.String(),
  currency: Type.String(),
  status: Type.String(),
  balances: Type.Object({ booked: AmountSchema, available: AmountSchema }),
  asOf: Type.String({
    format: "date-time",
    description: "When the legacy core last said what the balance is",
  }),
  stale: Type.Boolean({
    description: "The legacy core is down or its feed was not read recently: the balance may be behind",
  }),
});

const LegacyTransactionSchema = Type.Object({
  id: Type.String(),
  bookedAt: Type.String({ format: "date-time" }),
  amount: AmountSchema,
  balanceAfter: AmountSchema,
  reference: Type.String(),
  paymentId: Nullable(Type.String()),
});

const LegacyPaymentSchema = Type.Object({
  id: Type.String(),
  accountId: Type.String(),
  status: Type.String({ enum: PAYMENT_STATUSES }),
  statusReason: Nullable(Type.String()),
  statusHistory: Type.Array(
    Type.Object({
      status: Type.String({ enum: PAYMENT_STATUSES }),
      reasonCode: Nullable(Type.String()),
      at: Type.String({ format: "date-time" }),
    }),
  ),
  toIban: Type.String(),
  amount: AmountSchema,
  reference: Type.String(),
  degraded: Type.Boolean(),
  createdAt: Type.String({ format: "date-time" }),
});

const ReconciliationSchema = Type.Object({
  runId: Type.String(),
  status: Type.String({ enum: ["completed", "incomplete"] }),
  startedAt: Type.String({ format: "date-time" }),
  finishedAt: Type.String({ format: "date-time" }),
  asOf: Nullable(Type.String({ format: "date-time" })),
  businessDate: Nullable(Type.String()),
  lastSeq: Nullable(Type.Integer()),
  accountsMatched: Type.Integer(),
  postingsMatched: Type.Integer(),
  breaksCount: Type.Integer(),
  detail: Nullable(Type.String()),
  breaks: Type.Array(
    Type.Object({
      id: Type.String(),
      kind: Type.String({
        enum: ["missing_in_mirror", "missing_in_core", "amount_mismatch", "balance_mismatch"],
      }),
      subject: Type.String({ enum: ["account", "posting"] }),
      legacyAccountId: Type.String(),
      postingId: Nullable(Type.String()),
      mirrorMinor: Nullable(Type.String()),
      coreMinor: Nullable(Type.String()),
    }),
  ),
});

function customerId(request: { caller: { actor: { type: string; id?: string } } }): string {
  const actor = request.caller.actor;
  if (actor.type !== "customer" || !actor.id) throw new AppError("unauthorized");
  return actor.id;
}

/** Thin handlers: validate, take the customer from the verified token, call one service method. */
export function registerLegacyRoutes(app: HttpServer, deps: { legacy: LegacyService; guards: Guards }): void {
  const { legacy, guards } = deps;
  const customer = { preValidation: guards.customer };
  const tags = ["legacy accounts"];
  const security = [{ customerToken: [] }];

  app.get(
    "/v1/legacy-accounts",
    {
      ...customer,
      schema: {
        tags,
        security,
        summary:
          "The caller's accounts held in the legacy core, from Omnicore's mirror, with the balance's as-of time",
        response: { 200: Type.Object({ items: Type.Array(LegacyAccountSchema) }), ...problemResponses(401) },
      },
    },
    async (request) => ({ items: await legacy.listAccounts(customerId(request)) }),
  );

  app.get(
    "/v1/legacy-accounts/:id",
    {
      ...customer,
      schema: {
        tags,
        security,
        summary: "One of the caller's legacy accounts",
        params: AccountParams,
        response: { 200: LegacyAccountSchema, ...problemResponses(400, 401, 404) },
      },
    },
    async (request) => legacy.getAccount(customerId(request), request.params.id),
  );

  app.get(
    "/v1/legacy-accounts/:id/transactions",
    {
      ...customer,
      schema: {
        tags,
        security,
        summary: "The mirrored transactions of one of the caller's legacy accounts, newest first",
        params: AccountParams,
        querystring: Type.Object(
          { limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(LegacyTransactionSchema) }),
          ...problemResponses(400, 401, 404),
        },
      },
    },
    async (request) => ({
      items: await legacy.transactions(customerId(request), request.params.id, request.query.limit),
    }),
  );

  app.post(
    "/v1/legacy-accounts/:id/payments",
    {
      ...customer,
      schema: {
        tags,
        security,
        summary:
          "Pay from a legacy account: decided at once against the mirror, posted to the legacy core later",
        description:
          "202 `accepted`: the amount is held against the mirror's available balance and the posting queued for the " +
          "legacy core; follow it with GET /v1/legacy-payments/{id} (posted, or rejected with the core's reason). " +
          "While the core is down the payment is accepted within the account's exposure limit; beyond it 503 " +
          "`legacy-exposure-exceeded`. Idempotent by Idempotency-Key.",
        headers: IdempotencyHeaders,
        params: AccountParams,
        body: Type.Object(
          {
            toIban: Type.String({ minLength: 1, maxLength: 64 }),
            amount: AmountSchema,
            reference: Type.Optional(Type.String({ minLength: 1, maxLength: 140 })),
          },
          { additionalProperties: false },
        ),
        response: { 202: LegacyPaymentSchema, ...problemResponses(400, 401, 404, 409, 422, 503) },
      },
    },
    async (request, reply) => {
      const payment = await legacy.pay(
        request.caller,
        customerId(request),
        request.params.id,
        request.body,
        request.headers["idempotency-key"],
      );
      return reply.code(202).send(payment);
    },
  );

  app.get(
    "/v1/legacy-payments/:id",
    {
      ...customer,
      schema: {
        tags,
        security,
        summary: "A payment the caller made from a legacy account, with its status history",
        params: Type.Object({ id: Type.String({ pattern: "^lpm_[0-9a-f]{32}$" }) }),
        response: { 200: LegacyPaymentSchema, ...problemResponses(400, 401, 404) },
      },
    },
    async (request) => legacy.getPayment(customerId(request), request.params.id),
  );

  // Reconciliation breaks are a finance-control and compliance matter, not a customer-service one.
  app.get(
    "/v1/staff/legacy/reconciliation/latest",
    {
      preValidation: guards.staff("compliance_analyst", "admin"),
      schema: {
        tags: ["staff"],
        security: [{ staffToken: [] }],
        summary: "The last reconciliation of the mirror with the legacy core, with its breaks",
        response: { 200: ReconciliationSchema, ...problemResponses(401, 403, 404) },
      },
    },
    async () => legacy.latestReconciliation(),
  );
}

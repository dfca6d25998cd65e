import type { FastifyRequest } from "fastify";
import { type TSchema, Type } from "typebox";
import { AppError } from "../../../platform/errors.ts";
import type { Guards } from "../../../platform/http/auth.ts";
import {
  AmountSchema,
  ChannelSummarySchema,
  DateTimeSchema,
  Nullable,
  problemResponses,
  riskQueuePageSchema,
  riskQueueQuerystring,
} from "../../../platform/http/schemas.ts";
import type { HttpServer } from "../../../platform/http/server.ts";
import { STEP_UP_PROOF_HEADER } from "../../../platform/step-up.ts";
import {
  type FraudCaseService,
  NOTE_LENGTH_MAX,
  QUEUE_PAGE_MAX,
  type REJECTION_REASON_CODES,
} from "./fraud-case.service.ts";
import type { CASE_STATUSES } from "./fraud-case.tables.ts";

const DateTime = DateTimeSchema;
const CaseStatusSchema = Type.Union([
  Type.Literal("open"),
  Type.Literal("released"),
  Type.Literal("rejected"),
  Type.Literal("fraud_confirmed"),
  Type.Literal("released_by_customer"),
]) satisfies TSchema & { anyOf: Array<{ const: (typeof CASE_STATUSES)[number] }> };
const RejectionReasonSchema = Type.Union([
  Type.Literal("suspected_fraud"),
  Type.Literal("suspected_scam"),
  Type.Literal("payee_not_trusted"),
  Type.Literal("customer_not_reachable"),
  Type.Literal("unusual_activity"),
]) satisfies TSchema & { anyOf: Array<{ const: (typeof REJECTION_REASON_CODES)[number] }> };

const CaseSchema = Type.Object({
  id: Type.String(),
  customerId: Type.String(),
  transferId: Type.String(),
  decisionId: Type.String(),
  riskScore: Type.Integer(),
  reasons: Type.Array(Type.String()),
  status: CaseStatusSchema,
  openedAt: DateTime,
  customerConfirmedAt: Nullable(DateTime),
  decidedAt: Nullable(DateTime),
  decidedBy: Nullable(Type.String()),
  resolutionReason: Nullable(Type.String()),
});

const NoteSchema = Type.Object({
  id: Type.String(),
  authorType: Type.String(),
  authorId: Type.String(),
  text: Type.String(),
  createdAt: DateTime,
});

const PaymentSchema = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  status: Type.String(),
  rejectionReason: Nullable(Type.String()),
  fromAccountId: Nullable(Type.String()),
  toAccountId: Nullable(Type.String()),
  toIban: Nullable(Type.String()),
  amount: AmountSchema,
  reference: Nullable(Type.String()),
  external: Type.Boolean(),
  decisionId: Nullable(Type.String()),
  channel: Type.String(),
  deviceId: Nullable(Type.String()),
  createdAt: DateTime,
  updatedAt: Nullable(DateTime),
});

const ContextSchema = Type.Object({
  case: CaseSchema,
  notes: Type.Array(NoteSchema),
  customer: Nullable(
    Type.Object({
      id: Type.String(),
      email: Type.String(),
      givenName: Type.String(),
      familyName: Type.String(),
      phone: Nullable(Type.String()),
      preferredLanguage: Nullable(Type.String()),
      address: Nullable(
        Type.Object({
          line1: Type.String(),
          line2: Type.Optional(Type.String()),
          postalCode: Type.String(),
          city: Type.String(),
          country: Type.String(),
        }),
      ),
      status: Type.String(),
      createdAt: DateTime,
    }),
  ),
  payment: Nullable(PaymentSchema),
  decision: Nullable(
    Type.Object({
      id: Type.String(),
      outcome: Type.String(),
      score: Type.Number(),
      reasons: Type.Array(Type.String()),
      ruleSetVersion: Type.Number(),
    }),
  ),
  channels: Type.Array(ChannelSummarySchema),
  sessions: Type.Array(
    Type.Object({
      id: Type.String(),
      channel: Type.String(),
      deviceId: Nullable(Type.String()),
      platform: Nullable(Type.String()),
      strength: Type.String(),
      ip: Nullable(Type.String()),
      country: Nullable(Type.String()),
      createdAt: DateTime,
      lastSeenAt: DateTime,
      revokedAt: Nullable(DateTime),
      revokedReason: Nullable(Type.String()),
    }),
  ),
  devices: Type.Array(
    Type.Object({
      deviceId: Type.String(),
      platform: Nullable(Type.String()),
      appVersion: Nullable(Type.String()),
      trusted: Type.Boolean(),
      firstSeenAt: DateTime,
      lastSeenAt: DateTime,
    }),
  ),
  recentPayments: Type.Array(PaymentSchema),
  payees: Type.Array(
    Type.Object({
      id: Type.String(),
      name: Type.String(),
      iban: Type.String(),
      nameCheck: Type.String(),
      createdAt: DateTime,
    }),
  ),
  profile: Type.Unknown({ description: "The decision engine's statistics of the customer" }),
  securityEvents: Type.Array(
    Type.Object({
      action: Type.String(),
      occurredAt: DateTime,
      actorType: Type.String(),
      channel: Nullable(Type.String()),
      deviceId: Nullable(Type.String()),
      ip: Nullable(Type.String()),
      country: Nullable(Type.String()),
      details: Type.Record(Type.String(), Type.Unknown()),
    }),
  ),
  earlierCases: Type.Array(CaseSchema),
});

const ActionResultSchema = Type.Object({
  case: CaseSchema,
  paymentStatus: Type.String(),
  sessionsRevoked: Type.Integer(),
  accountsFrozen: Type.Array(Type.String()),
});

const CaseParams = Type.Object({ id: Type.String({ pattern: "^cas_[0-9a-f]{32}$" }) });
const NoteText = Type.String({ minLength: 1, maxLength: NOTE_LENGTH_MAX });
const ProofHeaders = Type.Object({
  [STEP_UP_PROOF_HEADER]: Type.Optional(Type.String({ maxLength: 200 })),
});

function callerId(request: FastifyRequest): string {
  const actor = request.caller.actor;
  if (actor.type !== "customer") throw new AppError("unauthorized");
  return actor.id;
}

export function registerFraudCaseRoutes(
  app: HttpServer,
  deps: { cases: FraudCaseService; guards: Guards },
): void {
  registerQueueRoutes(app, deps);
  registerActionRoutes(app, deps);
  registerCustomerConfirmRoute(app, deps);
}

const STAFF = { tags: ["fraud cases"], security: [{ staffToken: [] }] };

function registerQueueRoutes(
  app: HttpServer,
  { cases, guards }: { cases: FraudCaseService; guards: Guards },
) {
  const preValidation = guards.staff("fraud_investigator", "admin");
  app.get(
    "/v1/staff/cases",
    {
      preValidation,
      schema: {
        ...STAFF,
        summary: "The queue of fraud cases: highest risk first, then the oldest",
        querystring: riskQueueQuerystring(CaseStatusSchema, QUEUE_PAGE_MAX),
        response: {
          200: riskQueuePageSchema(CaseSchema),
          ...problemResponses(400, 401, 403),
        },
      },
    },
    async (request) => {
      const { status, limit, cursor } = request.query;
      return cases.queue(status ?? "open", { limit, cursor });
    },
  );

  app.get(
    "/v1/staff/cases/:id",
    {
      preValidation,
      schema: {
        ...STAFF,
        summary: "One case with the customer's whole cross-channel context (the read is audited)",
        params: CaseParams,
        response: { 200: ContextSchema, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request) => cases.context(request.caller, request.params.id),
  );
}

function registerActionRoutes(
  app: HttpServer,
  { cases, guards }: { cases: FraudCaseService; guards: Guards },
) {
  const preValidation = guards.staff("fraud_investigator", "admin");
  const responses = { 200: ActionResultSchema, ...problemResponses(400, 401, 403, 404, 409, 422) };
  app.post(
    "/v1/staff/cases/:id/release",
    {
      preValidation,
      schema: {
        ...STAFF,
        summary: "Release the held payment: it proceeds",
        params: CaseParams,
        response: responses,
      },
    },
    async (request) => cases.release(request.caller, request.params.id),
  );

  app.post(
    "/v1/staff/cases/:id/reject",
    {
      preValidation,
      schema: {
        ...STAFF,
        summary: "Reject the held payment; the customer sees the reason code",
        params: CaseParams,
        body: Type.Object(
          {
            reasonCode: RejectionReasonSchema,
            note: Type.Optional(NoteText),
          },
          { additionalProperties: false },
        ),
        response: responses,
      },
    },
    async (request) => cases.reject(request.caller, request.params.id, request.body),
  );

  app.post(
    "/v1/staff/cases/:id/confirm-fraud",
    {
      preValidation,
      schema: {
        ...STAFF,
        summary: "Confirm fraud: reject the payment, end the customer's sessions, freeze their accounts",
        params: CaseParams,
        body: Type.Object({ note: Type.Optional(NoteText) }, { additionalProperties: false }),
        response: responses,
      },
    },
    async (request) => cases.confirmFraud(request.caller, request.params.id, request.body),
  );

  app.post(
    "/v1/staff/cases/:id/notes",
    {
      preValidation,
      schema: {
        ...STAFF,
        summary: "Add a note to an open case",
        params: CaseParams,
        body: Type.Object({ text: NoteText }, { additionalProperties: false }),
        response: { 201: NoteSchema, ...problemResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await cases.addNote(request.caller, request.params.id, request.body.text)),
  );
}

function registerCustomerConfirmRoute(
  app: HttpServer,
  { cases, guards }: { cases: FraudCaseService; guards: Guards },
) {
  app.post(
    "/v1/transfers/:id/confirm",
    {
      preValidation: guards.customer,
      schema: {
        tags: ["transfers"],
        security: [{ customerToken: [] }],
        summary: 'Confirm a payment held for review as your own ("it was me"), with step-up',
        description:
          "Answers 401 `step-up-required` with a challenge bound to this payment until retried with " +
          "X-Step-Up-Proof. A payment of low enough risk is released at once (200); otherwise the " +
          "confirmation is passed to an investigator and the payment stays held (202).",
        headers: ProofHeaders,
        params: Type.Object({ id: Type.String({ pattern: "^trf_[0-9a-f]{32}$" }) }),
        response: {
          200: Type.Object({
            outcome: Type.Literal("released"),
            transferId: Type.String(),
            status: Type.String(),
          }),
          202: Type.Object({
            outcome: Type.Literal("under_review"),
            transferId: Type.String(),
            status: Type.String(),
          }),
          ...problemResponses(400, 401, 404, 409, 422),
        },
      },
    },
    async (request, reply) => {
      const result = await cases.confirmByCustomer(
        request.caller,
        callerId(request),
        request.params.id,
        request.headers[STEP_UP_PROOF_HEADER],
      );
      return reply.code(result.outcome === "released" ? 200 : 202).send(result);
    },
  );
}

import type { FastifyRequest } from "fastify";
import { type TSchema, Type } from "typebox";
import { AppError } from "../../platform/errors.ts";
import type { Guards } from "../../platform/http/auth.ts";
import { problemResponses } from "../../platform/http/schemas.ts";
import type { HttpServer } from "../../platform/http/server.ts";
import { KYC_SIGNATURE_HEADER } from "../../platform/webhook-signature.ts";
import {
  AddressSchema,
  ApplicationPatchSchema,
  DocumentSchema,
  PersonalSchema,
  TaxResidenceSchema,
} from "./application.ts";
import { KYC_WEBHOOK_BODY_MAX_BYTES } from "./kyc/index.ts";
import { type OnboardingService, REVIEW_PAGE_MAX } from "./onboarding.service.ts";

function Nullable<T extends TSchema>(schema: T) {
  return Type.Union([schema, Type.Null()]);
}
const DateTime = Type.String({ format: "date-time" });
const StatusSchema = Type.Union([
  Type.Literal("draft"),
  Type.Literal("submitted"),
  Type.Literal("referred"),
  Type.Literal("approved"),
  Type.Literal("rejected"),
  Type.Literal("active"),
  Type.Literal("activation_failed"),
]);

const ApplicationSchema = Type.Object({
  id: Type.String(),
  customerId: Type.String(),
  status: StatusSchema,
  channelStarted: Type.String(),
  channelLast: Type.String(),
  personal: Nullable(PersonalSchema),
  address: Nullable(AddressSchema),
  taxResidences: Nullable(Type.Array(TaxResidenceSchema)),
  document: Nullable(DocumentSchema),
  consents: Type.Array(
    Type.Object({ kind: Type.String(), version: Type.String(), accepted: Type.Boolean(), at: DateTime }),
  ),
  missing: Type.Array(Type.String(), { description: "what still stops a submission" }),
  kycLevel: Nullable(Type.Union([Type.Literal("basic"), Type.Literal("full")])),
  referralReasons: Type.Array(Type.String()),
  accountId: Nullable(Type.String()),
  submittedAt: Nullable(DateTime),
  decidedAt: Nullable(DateTime),
  activatedAt: Nullable(DateTime),
  createdAt: DateTime,
  updatedAt: DateTime,
});

const ReviewSchema = Type.Intersect([
  ApplicationSchema,
  Type.Object({
    screening: Nullable(
      Type.Object({
        screeningId: Type.String(),
        status: Type.String(),
        hits: Type.Integer(),
        pep: Type.Boolean(),
      }),
    ),
    risk: Nullable(
      Type.Object({ level: Type.String(), score: Type.Integer(), factors: Type.Array(Type.String()) }),
    ),
    kyc: Nullable(
      Type.Object({
        verificationId: Type.String(),
        outcome: Type.String(),
        reasons: Type.Array(Type.String()),
        documentVerified: Type.Boolean(),
        decidedAt: DateTime,
      }),
    ),
    decision: Nullable(
      Type.Object({
        by: Type.String(),
        staffId: Type.Optional(Type.String()),
        outcome: Type.String(),
        reason: Type.String(),
      }),
    ),
  }),
]);

const ApplicationParams = Type.Object(
  { id: Type.String({ pattern: "^onb_[0-9a-f]{32}$" }) },
  { additionalProperties: false },
);
const CUSTOMER = { tags: ["onboarding"], security: [{ customerToken: [] }] };
const STAFF = { tags: ["onboarding review"], security: [{ staffToken: [] }] };

function customerId(request: FastifyRequest): string {
  const actor = request.caller.actor;
  if (actor.type !== "customer") throw new AppError("unauthorized");
  return actor.id;
}

export function registerOnboardingRoutes(
  app: HttpServer,
  deps: { onboarding: OnboardingService; guards: Guards },
): void {
  registerApplicantRoutes(app, deps);
  registerUpgradeRoute(app, deps);
  registerReviewRoutes(app, deps);
  registerKycWebhook(app, deps);
}

function registerApplicantRoutes(
  app: HttpServer,
  { onboarding, guards }: { onboarding: OnboardingService; guards: Guards },
) {
  const preValidation = guards.customer;
  app.post(
    "/v1/onboarding/applications",
    {
      preValidation,
      schema: {
        ...CUSTOMER,
        summary: "Start an application (one at a time; resumable on any channel)",
        response: { 201: ApplicationSchema, ...problemResponses(401, 403, 409) },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await onboarding.start(request.caller, customerId(request))),
  );

  app.get(
    "/v1/onboarding/applications",
    {
      preValidation,
      schema: {
        ...CUSTOMER,
        summary: "The caller's applications, newest first (to resume on another channel)",
        response: {
          200: Type.Object({ items: Type.Array(ApplicationSchema) }),
          ...problemResponses(401, 403),
        },
      },
    },
    async (request) => ({ items: await onboarding.list(customerId(request)) }),
  );

  app.get(
    "/v1/onboarding/applications/:id",
    {
      preValidation,
      schema: {
        ...CUSTOMER,
        summary: "One of the caller's applications",
        params: ApplicationParams,
        response: { 200: ApplicationSchema, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request) => onboarding.get(customerId(request), request.params.id),
  );

  app.patch(
    "/v1/onboarding/applications/:id",
    {
      preValidation,
      schema: {
        ...CUSTOMER,
        summary: "Save sections of a draft: personal data, address, tax residences, document, consents",
        params: ApplicationParams,
        body: ApplicationPatchSchema,
        response: { 200: ApplicationSchema, ...problemResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) =>
      onboarding.update(request.caller, customerId(request), request.params.id, request.body),
  );

  app.post(
    "/v1/onboarding/applications/:id/submit",
    {
      preValidation,
      schema: {
        ...CUSTOMER,
        summary: "Submit for screening and identity verification; the result arrives asynchronously",
        params: ApplicationParams,
        response: { 202: ApplicationSchema, ...problemResponses(400, 401, 403, 404, 409, 422, 503) },
      },
    },
    async (request, reply) =>
      reply.code(202).send(await onboarding.submit(request.caller, customerId(request), request.params.id)),
  );
}

function registerUpgradeRoute(
  app: HttpServer,
  { onboarding, guards }: { onboarding: OnboardingService; guards: Guards },
) {
  app.post(
    "/v1/onboarding/applications/:id/document-verification",
    {
      preValidation: guards.customer,
      schema: {
        ...CUSTOMER,
        summary: "On basic KYC: send an identity document to verify, to move to full KYC and its limits",
        params: ApplicationParams,
        body: DocumentSchema,
        response: { 202: ApplicationSchema, ...problemResponses(400, 401, 403, 404, 409, 503) },
      },
    },
    async (request, reply) =>
      reply
        .code(202)
        .send(
          await onboarding.verifyDocument(
            request.caller,
            customerId(request),
            request.params.id,
            request.body,
          ),
        ),
  );
}

function registerReviewRoutes(
  app: HttpServer,
  { onboarding, guards }: { onboarding: OnboardingService; guards: Guards },
) {
  const preValidation = guards.staff("compliance_analyst", "admin");
  app.get(
    "/v1/staff/onboarding/applications",
    {
      preValidation,
      schema: {
        ...STAFF,
        summary: "The review queue: referred applications, oldest first",
        querystring: Type.Object(
          {
            status: Type.Optional(
              Type.Union([
                Type.Literal("referred"),
                Type.Literal("submitted"),
                Type.Literal("activation_failed"),
              ]),
            ),
            limit: Type.Integer({ minimum: 1, maximum: REVIEW_PAGE_MAX, default: 50 }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(ReviewSchema) }),
          ...problemResponses(400, 401, 403),
        },
      },
    },
    async (request) => ({
      items: await onboarding.reviewQueue(request.query.status ?? "referred", request.query.limit),
    }),
  );

  app.get(
    "/v1/staff/onboarding/applications/:id",
    {
      preValidation,
      schema: {
        ...STAFF,
        summary: "One application with its screening, risk rating and KYC result (the read is audited)",
        params: ApplicationParams,
        response: { 200: ReviewSchema, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request) => onboarding.review(request.caller, request.params.id),
  );

  const DecisionBody = Type.Object(
    { reason: Type.String({ minLength: 3, maxLength: 500 }) },
    { additionalProperties: false },
  );
  for (const outcome of ["approved", "rejected"] as const) {
    const verb = outcome === "approved" ? "approve" : "reject";
    app.post(
      `/v1/staff/onboarding/applications/:id/${verb}`,
      {
        preValidation,
        schema: {
          ...STAFF,
          summary:
            outcome === "approved"
              ? "Approve a referred application: it activates"
              : "Reject a referred application",
          params: ApplicationParams,
          body: DecisionBody,
          response: { 200: ReviewSchema, ...problemResponses(400, 401, 403, 404, 409) },
        },
      },
      async (request) =>
        onboarding.decide(request.caller, request.params.id, { outcome, reason: request.body.reason }),
    );
  }
}

/**
 * The KYC provider's webhook. No bearer token: the provider signs the raw JSON body, and the
 * signature is checked on those bytes before anything is parsed.
 */
function registerKycWebhook(app: HttpServer, { onboarding }: { onboarding: OnboardingService }) {
  app.register(async (scope) => {
    scope.addContentTypeParser(
      "application/json",
      { parseAs: "string", bodyLimit: KYC_WEBHOOK_BODY_MAX_BYTES },
      (_request, body, done) => done(null, body),
    );
    scope.post(
      "/v1/onboarding/kyc/callbacks",
      {
        schema: {
          tags: ["onboarding"],
          security: [{ kycSignature: [] }],
          summary: "Decisions of the identity-verification provider",
          description:
            `Signed with HMAC-SHA256 over \`<timestamp>.<raw body>\` in \`${KYC_SIGNATURE_HEADER}: t=<unix s>,v1=<hex>\`. ` +
            "A bad, missing or stale signature answers 401 `webhook-signature-invalid`. A decision already applied " +
            "answers 200 with `duplicate: true` and changes nothing.",
          headers: Type.Object({ [KYC_SIGNATURE_HEADER]: Type.Optional(Type.String({ maxLength: 1_000 })) }),
          body: Type.String({ minLength: 1, maxLength: KYC_WEBHOOK_BODY_MAX_BYTES }),
          response: {
            200: Type.Object({ applicationId: Nullable(Type.String()), duplicate: Type.Boolean() }),
            ...problemResponses(400, 401, 413, 415),
          },
        },
      },
      async (request) => {
        const headers = request.headers as Record<string, string | undefined>;
        return onboarding.receiveKycWebhook(request.body as string, headers[KYC_SIGNATURE_HEADER]);
      },
    );
  });
}

import type { AuthenticationResponseJSON, RegistrationResponseJSON } from "@simplewebauthn/server";
import { Type } from "typebox";
import { problemResponses } from "../../platform/http/schemas.ts";
import type { HttpServer } from "../../platform/http/server.ts";
import type { IdentityRouteDeps, Limits } from "./identity.routes.ts";
import {
  ChallengeIdSchema,
  EmailSchema,
  NewPasswordSchema,
  PasswordSchema,
  SessionIdSchema,
  SessionSchema,
  StepUpHeaders,
  stepUpProof,
  TotpCodeSchema,
  WebAuthnOptionsSchema,
  WebAuthnResponseSchema,
} from "./identity.schemas.ts";

const RecoveryCodesSchema = Type.Object({
  recoveryCodes: Type.Array(Type.String(), { description: "Shown once; each works once" }),
});
const PasskeySchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  deviceType: Type.String(),
  backedUp: Type.Boolean(),
  createdAt: Type.String({ format: "date-time" }),
  lastUsedAt: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
});
const DeviceSchema = Type.Object({
  deviceId: Type.String(),
  platform: Type.Union([Type.String(), Type.Null()]),
  appVersion: Type.Union([Type.String(), Type.Null()]),
  trusted: Type.Boolean(),
  firstSeenAt: Type.String({ format: "date-time" }),
  lastSeenAt: Type.String({ format: "date-time" }),
});
const STEP_UP_NOTE =
  "Risky: without a valid X-Step-Up-Proof it answers 401 `step-up-required` with a challenge bound to exactly " +
  "this operation.";

/** The caller's own factors, passkeys, step-up answers, sessions, devices, password and e-mail. */
export function registerAccountSecurityRoutes(
  app: HttpServer,
  deps: IdentityRouteDeps,
  limits: Limits,
): void {
  const { identity, guards } = deps;
  const tags = ["security"];
  const security = [{ customerToken: [] }];
  const customer = guards.customer;
  const noContent = { 204: Type.Null() };

  app.get(
    "/v1/auth/mfa",
    {
      preValidation: customer,
      schema: {
        tags,
        security,
        summary: "Which second factors the caller has",
        response: {
          200: Type.Object({
            totp: Type.Boolean(),
            passkeys: Type.Integer(),
            recoveryCodesRemaining: Type.Integer(),
          }),
          ...problemResponses(401),
        },
      },
    },
    async (request) => identity.accountSecurity.mfaStatus(request.caller),
  );

  app.post(
    "/v1/auth/mfa/totp",
    {
      preValidation: customer,
      schema: {
        tags,
        security,
        summary: "Start enrolling an authenticator app (step-up when another factor exists)",
        headers: StepUpHeaders,
        response: {
          200: Type.Object({ secret: Type.String(), otpauthUri: Type.String() }),
          ...problemResponses(401, 409, 422),
        },
      },
    },
    async (request) => identity.accountSecurity.startTotp(request.caller, stepUpProof(request)),
  );

  app.post(
    "/v1/auth/mfa/totp/confirm",
    {
      preValidation: customer,
      preHandler: limits.perAccount(
        "totp-confirm",
        (request) => `caller:${request.caller.actor.type === "customer" ? request.caller.actor.id : ""}`,
      ),
      schema: {
        tags,
        security,
        summary: "Confirm the authenticator app with its first code; returns recovery codes once",
        body: Type.Object({ code: TotpCodeSchema }, { additionalProperties: false }),
        response: { 200: RecoveryCodesSchema, ...problemResponses(400, 401, 409, 422, 423, 429) },
      },
    },
    async (request) => identity.accountSecurity.confirmTotp(request.caller, request.body.code),
  );

  app.delete(
    "/v1/auth/mfa/totp",
    {
      preValidation: customer,
      schema: {
        tags,
        security,
        summary: "Remove the authenticator app",
        description: STEP_UP_NOTE,
        headers: StepUpHeaders,
        response: { ...noContent, ...problemResponses(401, 404, 422) },
      },
    },
    async (request, reply) => {
      await identity.accountSecurity.removeTotp(request.caller, stepUpProof(request));
      return reply.code(204).send(null);
    },
  );

  app.post(
    "/v1/auth/mfa/recovery-codes",
    {
      preValidation: customer,
      schema: {
        tags,
        security,
        summary: "Replace the recovery codes",
        description: STEP_UP_NOTE,
        headers: StepUpHeaders,
        response: { 200: RecoveryCodesSchema, ...problemResponses(401, 409, 422) },
      },
    },
    async (request) => identity.accountSecurity.regenerateRecoveryCodes(request.caller, stepUpProof(request)),
  );

  app.post(
    "/v1/auth/passkeys/registration/options",
    {
      preValidation: customer,
      schema: {
        tags,
        security,
        summary: "Start registering a passkey (step-up when another factor exists)",
        headers: StepUpHeaders,
        response: { 200: WebAuthnOptionsSchema, ...problemResponses(401, 403, 422) },
      },
    },
    async (request) => {
      const started = await identity.accountSecurity.passkeyRegistrationOptions(
        request.caller,
        stepUpProof(request),
      );
      return { ...started, options: started.options as unknown as Record<string, unknown> };
    },
  );

  app.post(
    "/v1/auth/passkeys",
    {
      preValidation: customer,
      schema: {
        tags,
        security,
        summary: "Finish registering a passkey with the response of navigator.credentials.create",
        body: Type.Object(
          {
            challengeId: ChallengeIdSchema,
            response: WebAuthnResponseSchema,
            name: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          },
          { additionalProperties: false },
        ),
        response: { 201: PasskeySchema, ...problemResponses(400, 401, 422) },
      },
    },
    async (request, reply) => {
      const { challengeId, response, name } = request.body;
      const passkey = await identity.accountSecurity.registerPasskey(request.caller, {
        challengeId,
        response: response as unknown as RegistrationResponseJSON,
        name,
      });
      return reply.code(201).send(passkey);
    },
  );

  app.get(
    "/v1/auth/passkeys",
    {
      preValidation: customer,
      schema: {
        tags,
        security,
        summary: "The caller's passkeys",
        response: { 200: Type.Object({ items: Type.Array(PasskeySchema) }), ...problemResponses(401) },
      },
    },
    async (request) => ({ items: await identity.accountSecurity.listPasskeys(request.caller) }),
  );

  app.delete(
    "/v1/auth/passkeys/:id",
    {
      preValidation: customer,
      schema: {
        tags,
        security,
        summary: "Remove one of the caller's passkeys",
        description: STEP_UP_NOTE,
        headers: StepUpHeaders,
        params: Type.Object({ id: Type.String({ pattern: "^pky_[0-9a-f]{32}$" }) }),
        response: { ...noContent, ...problemResponses(400, 401, 404, 422) },
      },
    },
    async (request, reply) => {
      await identity.accountSecurity.removePasskey(request.caller, request.params.id, stepUpProof(request));
      return reply.code(204).send(null);
    },
  );

  app.post(
    "/v1/auth/step-up/:challengeId",
    {
      preValidation: customer,
      preHandler: limits.perAccount(
        "step-up",
        (request) => `challenge:${(request.params as { challengeId: string }).challengeId}`,
      ),
      schema: {
        tags,
        security,
        summary: "Approve a step-up challenge with a TOTP code or a passkey; returns the single-use proof",
        description:
          "Retry the operation with the proof in X-Step-Up-Proof; it approves exactly that operation, once.",
        params: Type.Object({ challengeId: ChallengeIdSchema }),
        body: Type.Object(
          { totp: Type.Optional(TotpCodeSchema), passkey: Type.Optional(WebAuthnResponseSchema) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ proof: Type.String(), expiresAt: Type.String({ format: "date-time" }) }),
          ...problemResponses(400, 401, 422, 423, 429),
        },
      },
    },
    async (request) => {
      const approval = await identity.stepUp.approve(request.caller, request.params.challengeId, {
        totp: request.body.totp,
        passkey: request.body.passkey as AuthenticationResponseJSON | undefined,
      });
      return { proof: approval.proof, expiresAt: approval.expiresAt.toISOString() };
    },
  );

  app.post(
    "/v1/auth/password",
    {
      preValidation: customer,
      schema: {
        tags,
        security,
        summary: "Change the password; every other session ends",
        description: STEP_UP_NOTE,
        headers: StepUpHeaders,
        body: Type.Object(
          { currentPassword: PasswordSchema, newPassword: NewPasswordSchema },
          { additionalProperties: false },
        ),
        response: { ...noContent, ...problemResponses(400, 401, 403, 422) },
      },
    },
    async (request, reply) => {
      await identity.accountSecurity.changePassword(request.caller, request.body, stepUpProof(request));
      return reply.code(204).send(null);
    },
  );

  app.put(
    "/v1/auth/email",
    {
      preValidation: customer,
      schema: {
        tags,
        security,
        summary: "Change the e-mail address used to sign in",
        description: STEP_UP_NOTE,
        headers: StepUpHeaders,
        body: Type.Object({ email: EmailSchema }, { additionalProperties: false }),
        response: { ...noContent, ...problemResponses(400, 401, 403, 409, 422) },
      },
    },
    async (request, reply) => {
      await identity.accountSecurity.changeEmail(request.caller, request.body.email, stepUpProof(request));
      return reply.code(204).send(null);
    },
  );

  app.get(
    "/v1/auth/sessions",
    {
      preValidation: customer,
      schema: {
        tags,
        security,
        summary: "The caller's live sessions on every channel and device",
        response: { 200: Type.Object({ items: Type.Array(SessionSchema) }), ...problemResponses(401) },
      },
    },
    async (request) => ({ items: await identity.listSessions(request.caller) }),
  );

  app.delete(
    "/v1/auth/sessions/:id",
    {
      preValidation: customer,
      schema: {
        tags,
        security,
        summary: "End one of the caller's sessions",
        params: Type.Object({ id: SessionIdSchema }),
        response: { ...noContent, ...problemResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      await identity.revokeSession(request.caller, request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    "/v1/auth/devices",
    {
      preValidation: customer,
      schema: {
        tags,
        security,
        summary: "The caller's devices and whether each is trusted",
        response: { 200: Type.Object({ items: Type.Array(DeviceSchema) }), ...problemResponses(401) },
      },
    },
    async (request) => ({ items: await identity.listDevices(request.caller) }),
  );

  app.delete(
    "/v1/auth/devices/:deviceId",
    {
      preValidation: customer,
      schema: {
        tags,
        security,
        summary: "Forget a device: it is no longer trusted and its sessions end",
        params: Type.Object({ deviceId: Type.String({ pattern: "^[A-Za-z0-9._:-]{1,128}$" }) }),
        response: { ...noContent, ...problemResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      await identity.removeDevice(request.caller, request.params.deviceId);
      return reply.code(204).send(null);
    },
  );
}

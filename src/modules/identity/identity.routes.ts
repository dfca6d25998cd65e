import { createHash } from "node:crypto";
import rateLimit from "@fastify/rate-limit";
import type { AuthenticationResponseJSON } from "@simplewebauthn/server";
import type { FastifyReply, FastifyRequest } from "fastify";
import { Type } from "typebox";
import type { Cache } from "../../platform/cache/cache.ts";
import type { RequestContext } from "../../platform/context.ts";
import { AppError } from "../../platform/errors.ts";
import type { Guards } from "../../platform/http/auth.ts";
import { problemResponses } from "../../platform/http/schemas.ts";
import type { HttpServer } from "../../platform/http/server.ts";
import { registerAccountSecurityRoutes } from "./account-security.routes.ts";
import {
  ChallengeIdSchema,
  ClientHeaders,
  CredentialsSchema,
  CustomerIdSchema,
  deviceReport,
  EmailSchema,
  FactorAnswerSchema,
  NameSchema,
  NewPasswordSchema,
  RefreshSchema,
  RoleSchema,
  SessionIdSchema,
  SessionSchema,
  TokensSchema,
  toTokensDto,
  WebAuthnOptionsSchema,
  WebAuthnResponseSchema,
} from "./identity.schemas.ts";
import type { IdentityService } from "./identity.service.ts";
import { cacheRateLimitStore } from "./rate-limit.store.ts";

export interface IdentityRouteDeps {
  identity: IdentityService;
  guards: Guards;
  cache: Cache;
  rateLimitPerMinute: number;
  rateLimitPerAccountPerMinute: number;
}

/** Per-IP limits come from the route config; per-account limits are these extra hooks. */
export interface Limits {
  perIp: (groupId: string) => { rateLimit: { max: number; timeWindow: number; groupId: string } };
  perAccount: (
    groupId: string,
    key: (request: FastifyRequest) => string,
  ) => (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
}

/**
 * A second, per-account limit next to the per-IP one. @fastify/rate-limit lets only the first of
 * its hooks count a request (it marks the request), so this one is checked explicitly with
 * `createRateLimit`, against the same shared store.
 */
function accountLimit(
  app: HttpServer,
  max: number,
  groupId: string,
  key: (request: FastifyRequest) => string,
) {
  const check = app.createRateLimit({
    max,
    timeWindow: 60_000,
    keyGenerator: (request) => `account:${groupId}:${key(request)}`,
  });
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const result = await check(request);
    if (result.isAllowed || !result.isExceeded) return;
    reply.header("retry-after", String(result.ttlInSeconds));
    throw new AppError("rate-limited", "Too many attempts for this account; retry later.");
  };
}

/** Staff sign in from a branch unless they say otherwise; the customer default (web) does not apply. */
function staffOrigin(request: FastifyRequest): RequestContext {
  if (request.headers["x-channel"] !== undefined) return request.caller;
  return { ...request.caller, channel: "branch" };
}

function digest(value: string): string {
  return createHash("sha256").update(value).digest("hex").slice(0, 32);
}

const emailKey = (request: FastifyRequest) =>
  `email:${digest(
    String((request.body as { email?: string })?.email ?? "")
      .trim()
      .toLowerCase(),
  )}`;
const tokenKey = (request: FastifyRequest) =>
  `token:${digest(String((request.body as { refreshToken?: string })?.refreshToken ?? ""))}`;
const challengeKey = (request: FastifyRequest) => {
  const body = request.body as { challengeId?: string } | undefined;
  const params = request.params as { challengeId?: string } | undefined;
  return `challenge:${body?.challengeId ?? params?.challengeId ?? ""}`;
};

export async function registerIdentityRoutes(app: HttpServer, deps: IdentityRouteDeps): Promise<void> {
  // Only the routes below opt in; the store is the shared cache, so the limit holds across nodes.
  await app.register(rateLimit, { global: false, store: cacheRateLimitStore(deps.cache) });
  const limits: Limits = {
    perIp: (groupId) => ({ rateLimit: { max: deps.rateLimitPerMinute, timeWindow: 60_000, groupId } }),
    perAccount: (groupId, key) => accountLimit(app, deps.rateLimitPerAccountPerMinute, groupId, key),
  };
  registerCustomerAuthRoutes(app, deps, limits);
  registerStaffAuthRoutes(app, deps, limits);
  registerAccountSecurityRoutes(app, deps, limits);
}

function registerCustomerAuthRoutes(app: HttpServer, deps: IdentityRouteDeps, limits: Limits): void {
  const { identity, guards } = deps;
  const tags = ["auth"];

  app.post(
    "/v1/auth/register",
    {
      preValidation: guards.anonymous,
      preHandler: limits.perAccount("register-account", emailKey),
      config: limits.perIp("auth-register"),
      schema: {
        tags,
        summary:
          "Register as a customer with an e-mail address and a password (15+ characters, not a common one)",
        headers: ClientHeaders,
        body: Type.Object(
          { email: EmailSchema, password: NewPasswordSchema, givenName: NameSchema, familyName: NameSchema },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({ customerId: Type.String() }),
          ...problemResponses(400, 409, 422, 429),
        },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await identity.registerCustomer(request.caller, request.body)),
  );

  app.post(
    "/v1/auth/login",
    {
      preValidation: guards.anonymous,
      preHandler: limits.perAccount("login-account", emailKey),
      config: limits.perIp("auth-login"),
      schema: {
        tags,
        summary: "Sign in with a password; a new device or an unusual sign-in asks for the second factor",
        description:
          "200 with tokens, or 401 `mfa-required` with `challengeId`, `factors` and (with passkeys) `passkeyOptions`: " +
          "answer it at POST /v1/auth/login/mfa. 423 `factor-locked` after repeated failures.",
        headers: ClientHeaders,
        body: CredentialsSchema,
        response: { 200: TokensSchema, ...problemResponses(400, 401, 423, 429) },
      },
    },
    async (request) => toTokensDto(await identity.login(request.caller, request.body, deviceReport(request))),
  );

  app.post(
    "/v1/auth/login/mfa",
    {
      preValidation: guards.anonymous,
      preHandler: limits.perAccount("login-mfa", challengeKey),
      config: limits.perIp("auth-login-mfa"),
      schema: {
        tags,
        summary:
          "Finish a sign-in with a TOTP code, a recovery code or a passkey; the device becomes trusted",
        headers: ClientHeaders,
        body: FactorAnswerSchema,
        response: { 200: TokensSchema, ...problemResponses(400, 401, 422, 423, 429) },
      },
    },
    async (request) => {
      const { challengeId, ...answer } = request.body;
      return toTokensDto(
        await identity.completeLogin(request.caller, challengeId, {
          ...answer,
          passkey: answer.passkey as AuthenticationResponseJSON | undefined,
        }),
      );
    },
  );

  app.post(
    "/v1/auth/passkeys/login/options",
    {
      preValidation: guards.anonymous,
      config: limits.perIp("auth-passkey-options"),
      schema: {
        tags,
        summary: "Start a sign-in with a passkey alone (no e-mail, no password)",
        headers: ClientHeaders,
        response: { 200: WebAuthnOptionsSchema, ...problemResponses(400, 429) },
      },
    },
    async (request) => {
      const started = await identity.passkeyLoginOptions(request.caller);
      return { ...started, options: started.options as unknown as Record<string, unknown> };
    },
  );

  app.post(
    "/v1/auth/passkeys/login",
    {
      preValidation: guards.anonymous,
      preHandler: limits.perAccount("passkey-login", challengeKey),
      config: limits.perIp("auth-passkey-login"),
      schema: {
        tags,
        summary: "Sign in with the passkey response from navigator.credentials.get",
        headers: ClientHeaders,
        body: Type.Object(
          { challengeId: ChallengeIdSchema, response: WebAuthnResponseSchema },
          { additionalProperties: false },
        ),
        response: { 200: TokensSchema, ...problemResponses(400, 401, 422, 423, 429) },
      },
    },
    async (request) =>
      toTokensDto(
        await identity.passkeyLogin(
          request.caller,
          request.body.challengeId,
          request.body.response as unknown as AuthenticationResponseJSON,
          deviceReport(request),
        ),
      ),
  );

  app.post(
    "/v1/auth/refresh",
    {
      preValidation: guards.anonymous,
      preHandler: limits.perAccount("refresh-token", tokenKey),
      config: limits.perIp("auth-refresh"),
      schema: {
        tags,
        summary: "Exchange a refresh token for new tokens; the old refresh token is spent",
        description:
          "A token spent in the last few seconds may be presented once more (a lost response); any other reuse " +
          "revokes the session.",
        body: RefreshSchema,
        response: { 200: TokensSchema, ...problemResponses(400, 401, 429) },
      },
    },
    async (request) =>
      toTokensDto(await identity.refresh(request.caller, request.body.refreshToken, "customer")),
  );

  app.post(
    "/v1/auth/logout",
    {
      preValidation: guards.customer,
      schema: {
        tags,
        security: [{ customerToken: [] }],
        summary: "End the caller's session; its access and refresh tokens stop working",
        response: { 204: Type.Null(), ...problemResponses(401) },
      },
    },
    async (request, reply) => {
      await identity.logout(request.caller);
      return reply.code(204).send(null);
    },
  );
}

function registerStaffAuthRoutes(app: HttpServer, deps: IdentityRouteDeps, limits: Limits): void {
  const { identity, guards } = deps;
  const tags = ["staff"];
  const security = [{ staffToken: [] }];

  app.post(
    "/v1/staff/auth/login",
    {
      preValidation: guards.anonymous,
      preHandler: limits.perAccount("staff-login-account", emailKey),
      config: limits.perIp("staff-auth-login"),
      schema: {
        tags,
        summary: "Staff sign-in (branch by default, or contact_centre): password, then always a TOTP code",
        description:
          "Answers 401 `mfa-required` (or `mfa-enrolment-required` with a `totp` secret on first sign-in) with a " +
          "`challengeId` to answer at POST /v1/staff/auth/login/mfa.",
        headers: ClientHeaders,
        body: CredentialsSchema,
        response: { 200: TokensSchema, ...problemResponses(400, 401, 423, 429) },
      },
    },
    async (request) =>
      toTokensDto(await identity.staffLogin(staffOrigin(request), request.body, deviceReport(request))),
  );

  app.post(
    "/v1/staff/auth/login/mfa",
    {
      preValidation: guards.anonymous,
      preHandler: limits.perAccount("staff-login-mfa", challengeKey),
      config: limits.perIp("staff-auth-login-mfa"),
      schema: {
        tags,
        summary: "Finish a staff sign-in with the TOTP code (or a recovery code)",
        headers: ClientHeaders,
        body: FactorAnswerSchema,
        response: { 200: TokensSchema, ...problemResponses(400, 401, 422, 423, 429) },
      },
    },
    async (request) => {
      const { challengeId, totp, recoveryCode } = request.body;
      return toTokensDto(
        await identity.completeLogin(staffOrigin(request), challengeId, { totp, recoveryCode }),
      );
    },
  );

  app.post(
    "/v1/staff/auth/refresh",
    {
      preValidation: guards.anonymous,
      preHandler: limits.perAccount("staff-refresh-token", tokenKey),
      config: limits.perIp("staff-auth-refresh"),
      schema: {
        tags,
        summary: "Exchange a staff refresh token for new tokens; the old refresh token is spent",
        body: RefreshSchema,
        response: { 200: TokensSchema, ...problemResponses(400, 401, 429) },
      },
    },
    async (request) =>
      toTokensDto(await identity.refresh(staffOrigin(request), request.body.refreshToken, "staff")),
  );

  app.post(
    "/v1/staff/auth/logout",
    {
      preValidation: guards.staff(),
      schema: {
        tags,
        security,
        summary: "End the caller's staff session",
        response: { 204: Type.Null(), ...problemResponses(401) },
      },
    },
    async (request, reply) => {
      await identity.logout(request.caller);
      return reply.code(204).send(null);
    },
  );

  app.post(
    "/v1/staff/users",
    {
      preValidation: guards.staff("admin"),
      schema: {
        tags,
        security,
        summary: "Create a staff user (admins only); they enrol their authenticator app at first sign-in",
        body: Type.Object(
          { email: EmailSchema, password: NewPasswordSchema, role: RoleSchema },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({ id: Type.String(), email: Type.String(), role: Type.String() }),
          ...problemResponses(400, 401, 403, 409, 422),
        },
      },
    },
    async (request, reply) => {
      const user = await identity.createStaffUser(request.caller, request.body);
      return reply.code(201).send({ id: user.id, email: user.email, role: user.role });
    },
  );

  const CustomerParams = Type.Object({ customerId: CustomerIdSchema });
  const supportRoles = ["agent", "fraud_investigator", "admin"] as const;

  app.get(
    "/v1/staff/customers/:customerId/sessions",
    {
      preValidation: guards.staff(...supportRoles),
      schema: {
        tags,
        security,
        summary: "A customer's live sessions (agents, fraud investigators, admins)",
        params: CustomerParams,
        response: {
          200: Type.Object({ items: Type.Array(SessionSchema) }),
          ...problemResponses(400, 401, 403, 404),
        },
      },
    },
    async (request) => ({
      items: await identity.staffListSessions(request.caller, request.params.customerId),
    }),
  );

  app.delete(
    "/v1/staff/customers/:customerId/sessions/:sessionId",
    {
      preValidation: guards.staff(...supportRoles),
      schema: {
        tags,
        security,
        summary: "End one of a customer's sessions, recorded as done by the staff member for the customer",
        params: Type.Object({ customerId: CustomerIdSchema, sessionId: SessionIdSchema }),
        response: { 204: Type.Null(), ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await identity.staffRevokeSession(request.caller, request.params.customerId, request.params.sessionId);
      return reply.code(204).send(null);
    },
  );

  app.post(
    "/v1/staff/customers/:customerId/unlock",
    {
      preValidation: guards.staff("agent", "admin"),
      schema: {
        tags,
        security,
        summary:
          "Lift the lock-out of a customer's password and second factors (after identifying the customer)",
        params: CustomerParams,
        response: { 200: Type.Object({ unlocked: Type.Boolean() }), ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request) => identity.staffUnlock(request.caller, request.params.customerId),
  );
}

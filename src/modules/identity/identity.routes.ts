import rateLimit from "@fastify/rate-limit";
import type { FastifyRequest } from "fastify";
import { Type } from "typebox";
import type { Cache } from "../../platform/cache/cache.ts";
import { type RequestContext, STAFF_ROLES } from "../../platform/context.ts";
import type { Guards } from "../../platform/http/auth.ts";
import { problemResponses } from "../../platform/http/schemas.ts";
import type { HttpServer } from "../../platform/http/server.ts";
import { EMAIL_LENGTH_MAX } from "./email.ts";
import type { IdentityService } from "./identity.service.ts";
import { PASSWORD_LENGTH_MAX, PASSWORD_LENGTH_MIN } from "./password.ts";
import { cacheRateLimitStore } from "./rate-limit.store.ts";
import type { IssuedTokens } from "./session.service.ts";

export interface IdentityRouteDeps {
  identity: IdentityService;
  guards: Guards;
  cache: Cache;
  rateLimitPerMinute: number;
}

const EmailSchema = Type.String({ format: "email", maxLength: EMAIL_LENGTH_MAX });
/** A new password must meet the policy; at login any length up to the cap is merely checked. */
const NewPasswordSchema = Type.String({ minLength: PASSWORD_LENGTH_MIN, maxLength: PASSWORD_LENGTH_MAX });
const PasswordSchema = Type.String({ minLength: 1, maxLength: PASSWORD_LENGTH_MAX });
const NameSchema = Type.String({ minLength: 1, maxLength: 100 });
const RoleSchema = Type.Union(STAFF_ROLES.map((role) => Type.Literal(role)));

const CredentialsSchema = Type.Object(
  { email: EmailSchema, password: PasswordSchema },
  { additionalProperties: false },
);
const RefreshSchema = Type.Object(
  { refreshToken: Type.String({ minLength: 1, maxLength: 512 }) },
  { additionalProperties: false },
);

const TokensSchema = Type.Object({
  accessToken: Type.String(),
  refreshToken: Type.String(),
  expiresIn: Type.Integer({ description: "Lifetime of the access token in seconds" }),
  tokenType: Type.Literal("Bearer"),
});

const ChannelHeaders = Type.Object({
  "x-channel": Type.Optional(
    Type.String({ description: "mobile, web, branch, contact_centre or open_banking" }),
  ),
  "x-device-id": Type.Optional(
    Type.String({ description: "The client's stable device id, bound to the session" }),
  ),
});

function toTokensDto(tokens: IssuedTokens) {
  return {
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    expiresIn: tokens.expiresInS,
    tokenType: "Bearer" as const,
  };
}

/** Staff sign in from a branch unless they say otherwise; the customer default (web) does not apply. */
function staffOrigin(request: FastifyRequest): RequestContext {
  if (request.headers["x-channel"] !== undefined) return request.caller;
  return { ...request.caller, channel: "branch" };
}

export async function registerIdentityRoutes(app: HttpServer, deps: IdentityRouteDeps): Promise<void> {
  // Only the routes below opt in; the store is the shared cache, so the limit holds across nodes.
  await app.register(rateLimit, { global: false, store: cacheRateLimitStore(deps.cache) });
  const limited = (groupId: string) => ({
    rateLimit: { max: deps.rateLimitPerMinute, timeWindow: 60_000, groupId },
  });
  registerCustomerAuthRoutes(app, deps, limited);
  registerStaffAuthRoutes(app, deps, limited);
}

type LimitConfig = (groupId: string) => { rateLimit: { max: number; timeWindow: number; groupId: string } };

function registerCustomerAuthRoutes(app: HttpServer, deps: IdentityRouteDeps, limited: LimitConfig): void {
  const { identity, guards } = deps;
  const tags = ["auth"];

  app.post(
    "/v1/auth/register",
    {
      preValidation: guards.anonymous,
      config: limited("auth-register"),
      schema: {
        tags,
        summary: "Register as a customer with an e-mail address and a password",
        headers: ChannelHeaders,
        body: Type.Object(
          { email: EmailSchema, password: NewPasswordSchema, givenName: NameSchema, familyName: NameSchema },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ customerId: Type.String() }), ...problemResponses(400, 409, 429) },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await identity.registerCustomer(request.caller, request.body)),
  );

  app.post(
    "/v1/auth/login",
    {
      preValidation: guards.anonymous,
      config: limited("auth-login"),
      schema: {
        tags,
        summary: "Sign in; the session is bound to the X-Channel and X-Device-Id given here",
        headers: ChannelHeaders,
        body: CredentialsSchema,
        response: { 200: TokensSchema, ...problemResponses(400, 401, 429) },
      },
    },
    async (request) => toTokensDto(await identity.login(request.caller, request.body)),
  );

  app.post(
    "/v1/auth/refresh",
    {
      preValidation: guards.anonymous,
      config: limited("auth-refresh"),
      schema: {
        tags,
        summary: "Exchange a refresh token for new tokens; the old refresh token is spent",
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

function registerStaffAuthRoutes(app: HttpServer, deps: IdentityRouteDeps, limited: LimitConfig): void {
  const { identity, guards } = deps;
  const tags = ["staff"];
  const security = [{ staffToken: [] }];

  app.post(
    "/v1/staff/auth/login",
    {
      preValidation: guards.anonymous,
      config: limited("staff-auth-login"),
      schema: {
        tags,
        summary: "Staff sign-in, on channel branch (the default) or contact_centre",
        headers: ChannelHeaders,
        body: CredentialsSchema,
        response: { 200: TokensSchema, ...problemResponses(400, 401, 429) },
      },
    },
    async (request) => toTokensDto(await identity.staffLogin(staffOrigin(request), request.body)),
  );

  app.post(
    "/v1/staff/auth/refresh",
    {
      preValidation: guards.anonymous,
      config: limited("staff-auth-refresh"),
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
        summary: "Create a staff user (admins only)",
        body: Type.Object(
          { email: EmailSchema, password: NewPasswordSchema, role: RoleSchema },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({ id: Type.String(), email: Type.String(), role: Type.String() }),
          ...problemResponses(400, 401, 403, 409),
        },
      },
    },
    async (request, reply) => {
      const user = await identity.createStaffUser(request.caller, request.body);
      return reply.code(201).send({ id: user.id, email: user.email, role: user.role });
    },
  );
}

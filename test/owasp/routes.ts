import { generateKeyPairSync, randomBytes } from "node:crypto";
import type { InjectOptions, LightMyRequestResponse } from "fastify";
import { SignJWT } from "jose";
import { expect } from "vitest";
import type { App } from "../../src/app.ts";
import type { Clock } from "../../src/platform/clock.ts";
import { STAFF_ROLES, type StaffRole } from "../../src/platform/context.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";
import { decodeClaims, PASSWORD, uniqueEmail } from "../identity.helpers.ts";

/**
 * Shared ground of the OWASP API Security Top 10 suite: the routes come from the app's own
 * OpenAPI document, so a route added later is covered without anyone remembering to add it here.
 */

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
/** Who a route is for, as its `security` in the OpenAPI document says. */
/** `webhook`: a machine-to-machine route authenticated by a signature over its body, not a token. */
export type RouteAudience = "customer" | "staff" | "anonymous" | "webhook";

export interface PathParam {
  name: string;
  pattern: string | undefined;
}

export interface DocumentedRoute {
  /** "GET /v1/accounts/{id}": the key of every table in this suite. */
  key: string;
  method: HttpMethod;
  /** OpenAPI form, with `{param}` placeholders. */
  path: string;
  audience: RouteAudience;
  hasBody: boolean;
  /** The JSON schema of the body, when the route takes one. */
  bodySchema: JsonSchema | undefined;
  pathParams: PathParam[];
}

export interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  anyOf?: JsonSchema[];
  items?: JsonSchema;
  [keyword: string]: unknown;
}

interface OpenApiOperation {
  security?: Array<Record<string, string[]>>;
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
  parameters?: Array<{ in: string; name: string; schema?: { pattern?: string } }>;
}

interface OpenApiDocument {
  paths: Record<string, Record<string, OpenApiOperation>>;
}

const HTTP_METHODS: readonly HttpMethod[] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/** Routes that exist today, across every module: an enumeration that misses one is broken. */
export const KNOWN_ROUTES: readonly string[] = [
  "POST /v1/auth/login",
  "POST /v1/auth/logout",
  "DELETE /v1/auth/sessions/{id}",
  "DELETE /v1/auth/passkeys/{id}",
  "POST /v1/auth/step-up/{challengeId}",
  "GET /v1/customers/me",
  "PATCH /v1/customers/me",
  "GET /v1/accounts/{id}",
  "GET /v1/accounts/{id}/transactions",
  "POST /v1/transfers",
  "GET /v1/transfers/{id}",
  "POST /v1/payees",
  "DELETE /v1/payees/{id}",
  "DELETE /v1/scheduled-transfers/{id}",
  "POST /v1/staff/users",
  "GET /v1/staff/customers/{customerId}/sessions",
  "GET /v1/staff/accounts/{id}",
  "POST /v1/staff/accounts/{id}/deposits",
  "GET /v1/staff/cases/{id}",
  "POST /v1/staff/cases/{id}/release",
  "POST /v1/transfers/{id}/confirm",
  "POST /v1/onboarding/applications",
  "PATCH /v1/onboarding/applications/{id}",
  "POST /v1/onboarding/kyc/callbacks",
  "GET /v1/staff/onboarding/applications/{id}",
  "GET /v1/sync",
  "GET /v1/events/stream",
];

/**
 * Routes that answer with an endless stream (server-sent events) once the caller is let in. They
 * are called like every other route; when the answer is a stream, the suite reads its status and
 * headers and then hangs up, so the checks still see exactly what the server decided.
 */
export const STREAMING_ROUTES: ReadonlySet<string> = new Set(["GET /v1/events/stream"]);

function audienceOf(key: string, operation: OpenApiOperation): RouteAudience {
  const schemes = (operation.security ?? []).flatMap((requirement) => Object.keys(requirement));
  if (schemes.length === 0) return "anonymous";
  if (schemes.length === 1 && schemes[0] === "customerToken") return "customer";
  if (schemes.length === 1 && schemes[0] === "staffToken") return "staff";
  if (schemes.length === 1 && (schemes[0] === "railSignature" || schemes[0] === "kycSignature"))
    return "webhook";
  throw new Error(`${key}: security ${JSON.stringify(operation.security)} is not classified by this suite`);
}

/** Every documented method+path of the app, read from the OpenAPI document it serves. */
export async function documentedRoutes(app: App): Promise<DocumentedRoute[]> {
  await app.http.ready();
  const document = app.http.swagger() as unknown as OpenApiDocument;
  const routes: DocumentedRoute[] = [];
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [name, operation] of Object.entries(item)) {
      const method = name.toUpperCase() as HttpMethod;
      if (!HTTP_METHODS.includes(method)) continue;
      const key = `${method} ${path}`;
      const bodySchema = operation.requestBody?.content?.["application/json"]?.schema;
      routes.push({
        key,
        method,
        path,
        audience: audienceOf(key, operation),
        hasBody: operation.requestBody !== undefined,
        bodySchema,
        pathParams: (operation.parameters ?? [])
          .filter((parameter) => parameter.in === "path")
          .map((parameter) => ({ name: parameter.name, pattern: parameter.schema?.pattern })),
      });
    }
  }
  return routes;
}

/** Guards against an enumeration that silently finds nothing (or half of the API). */
export function expectSoundEnumeration(routes: DocumentedRoute[]): void {
  const keys = routes.map((route) => route.key);
  expect(keys).toEqual(expect.arrayContaining([...KNOWN_ROUTES]));
  expect(new Set(keys).size).toBe(keys.length);
  for (const audience of ["customer", "staff", "anonymous"] as const) {
    expect(routes.filter((route) => route.audience === audience).length, audience).toBeGreaterThan(0);
  }
  // Every `{param}` of a path is a documented path parameter: nothing is filled by accident.
  for (const route of routes) {
    const placeholders = [...route.path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]);
    expect(route.pathParams.map((param) => param.name).sort(), route.key).toEqual(placeholders.sort());
  }
}

export function protectedRoutes(routes: DocumentedRoute[]): DocumentedRoute[] {
  return routes.filter((route) => route.audience === "customer" || route.audience === "staff");
}

export interface StaffAccess {
  roles: readonly StaffRole[];
  /** The route ends the caller's own session (logout): tests give it a session of its own. */
  endsSession?: boolean;
}

/**
 * Which staff roles each staff route lets in, read from the guards in src/modules/*\/*.routes.ts.
 * A staff route missing here fails the suite: every new route must be classified.
 */
export const ALLOWED_ROLES: Record<string, StaffAccess> = {
  "POST /v1/staff/auth/logout": { roles: STAFF_ROLES, endsSession: true },
  "POST /v1/staff/users": { roles: ["admin"] },
  "GET /v1/staff/customers/{customerId}/sessions": { roles: ["agent", "fraud_investigator", "admin"] },
  "DELETE /v1/staff/customers/{customerId}/sessions/{sessionId}": {
    roles: ["agent", "fraud_investigator", "admin"],
  },
  "POST /v1/staff/customers/{customerId}/unlock": { roles: ["agent", "admin"] },
  "POST /v1/staff/customers/{customerId}/offers": { roles: ["agent", "admin"] },
  "GET /v1/staff/accounts/{id}": { roles: STAFF_ROLES },
  "POST /v1/staff/accounts/{id}/deposits": { roles: ["teller"] },
  "POST /v1/staff/accounts/{id}/withdrawals": { roles: ["teller"] },
  "GET /v1/staff/cases": { roles: ["fraud_investigator", "admin"] },
  "GET /v1/staff/cases/{id}": { roles: ["fraud_investigator", "admin"] },
  "POST /v1/staff/cases/{id}/release": { roles: ["fraud_investigator", "admin"] },
  "POST /v1/staff/cases/{id}/reject": { roles: ["fraud_investigator", "admin"] },
  "POST /v1/staff/cases/{id}/confirm-fraud": { roles: ["fraud_investigator", "admin"] },
  "POST /v1/staff/cases/{id}/notes": { roles: ["fraud_investigator", "admin"] },
  "GET /v1/staff/fraud/rule-sets": { roles: ["fraud_investigator", "admin"] },
  "GET /v1/staff/fraud/rule-sets/active": { roles: ["fraud_investigator", "admin"] },
  "POST /v1/staff/fraud/rule-sets": { roles: ["fraud_investigator", "admin"] },
  "POST /v1/staff/fraud/rule-sets/{version}/activate": { roles: ["fraud_investigator", "admin"] },
  "POST /v1/staff/fraud/rule-sets/dry-run": { roles: ["fraud_investigator", "admin"] },
  // Sanctions and PEP screening hits are the compliance analysts' (and admins') to decide.
  "GET /v1/staff/screening/hits": { roles: ["compliance_analyst", "admin"] },
  "POST /v1/staff/screening/hits/{id}/false-positive": { roles: ["compliance_analyst", "admin"] },
  "POST /v1/staff/screening/hits/{id}/confirm": { roles: ["compliance_analyst", "admin"] },
  // AML monitoring: the compliance queue and rule sets are the compliance analysts' (and admins').
  "GET /v1/staff/compliance/rule-sets": { roles: ["compliance_analyst", "admin"] },
  "GET /v1/staff/compliance/rule-sets/active": { roles: ["compliance_analyst", "admin"] },
  "POST /v1/staff/compliance/rule-sets": { roles: ["compliance_analyst", "admin"] },
  "POST /v1/staff/compliance/rule-sets/{version}/activate": { roles: ["compliance_analyst", "admin"] },
  "GET /v1/staff/compliance/cases": { roles: ["compliance_analyst", "admin"] },
  "GET /v1/staff/compliance/cases/{id}": { roles: ["compliance_analyst", "admin"] },
  "GET /v1/staff/compliance/reports/{id}": { roles: ["compliance_analyst", "admin"] },
  "POST /v1/staff/compliance/cases/{id}/close": { roles: ["compliance_analyst", "admin"] },
  "POST /v1/staff/compliance/cases/{id}/escalate": { roles: ["compliance_analyst", "admin"] },
  "POST /v1/staff/compliance/cases/{id}/freeze": { roles: ["compliance_analyst", "admin"] },
  "POST /v1/staff/compliance/cases/{id}/reports": { roles: ["compliance_analyst", "admin"] },
  "POST /v1/staff/compliance/cases/{id}/notes": { roles: ["compliance_analyst", "admin"] },
  // Onboarding review: referred applications are the compliance analysts' (and admins').
  "GET /v1/staff/onboarding/applications": { roles: ["compliance_analyst", "admin"] },
  "GET /v1/staff/onboarding/applications/{id}": { roles: ["compliance_analyst", "admin"] },
  "POST /v1/staff/onboarding/applications/{id}/approve": { roles: ["compliance_analyst", "admin"] },
  "POST /v1/staff/onboarding/applications/{id}/reject": { roles: ["compliance_analyst", "admin"] },
  // Reconciliation of the legacy mirror is a control for compliance analysts (and admins).
  "GET /v1/staff/legacy/reconciliation/latest": { roles: ["compliance_analyst", "admin"] },
};

/** 32 hex digits that no UUIDv7 has (its version nibble is 7): a well-formed id never issued. */
const NEVER_ISSUED_HEX = "0f".repeat(16);

export function neverIssuedId(prefix: string): string {
  return `${prefix}_${NEVER_ISSUED_HEX}`;
}

const PREFIXED_ID_PATTERN = /^\^([a-z]{3})_\[0-9a-f\]\{32\}\$$/;
/** Candidates for parameters that are not prefixed ids (device ids, rule-set versions and the like). */
const PLAIN_CANDIDATES = ["device-0f0f0f0f", "0f0f0f0f", "999999999"];

/**
 * A value the parameter's schema accepts, so that a 400 from the params schema can never hide a
 * missing authentication or authorisation check. Fails loudly for a parameter it cannot satisfy.
 */
export function exampleParam(param: PathParam): string {
  if (param.pattern === undefined) return PLAIN_CANDIDATES[0]!;
  const prefixed = PREFIXED_ID_PATTERN.exec(param.pattern);
  if (prefixed) return neverIssuedId(prefixed[1]!);
  const pattern = new RegExp(param.pattern);
  const candidate = PLAIN_CANDIDATES.find((value) => pattern.test(value));
  if (candidate === undefined) throw new Error(`no example value for {${param.name}} /${param.pattern}/`);
  return candidate;
}

/** The route's URL with `values` for the named parameters and valid, never-issued ids for the rest. */
export function fillPath(route: DocumentedRoute, values: Record<string, string> = {}): string {
  let url = route.path;
  for (const param of route.pathParams) {
    url = url.replace(`{${param.name}}`, encodeURIComponent(values[param.name] ?? exampleParam(param)));
  }
  return url;
}

export interface RouteCall {
  headers?: Record<string, string> | undefined;
  params?: Record<string, string> | undefined;
  /** JSON (an object) or raw text; defaults to `{}` on routes that take a body. */
  payload?: string | object | undefined;
}

/**
 * One request to `route`. Every request carries a fresh Idempotency-Key (routes that need one
 * would otherwise answer 400, routes that do not ignore it).
 */
export function callRoute(app: App, route: DocumentedRoute, call: RouteCall = {}) {
  const payload = call.payload ?? (route.hasBody ? {} : undefined);
  const request: InjectOptions = {
    method: route.method,
    url: fillPath(route, call.params),
    headers: { "idempotency-key": `owasp-${randomBytes(8).toString("hex")}`, ...call.headers },
    ...(payload === undefined ? {} : { payload }),
  };
  if (STREAMING_ROUTES.has(route.key)) return callStreamingRoute(app, request);
  return app.http.inject(request);
}

/**
 * A streaming route: a refusal (problem+json) is read to its end as usual; an accepted stream is
 * answered by its status and headers, its body left empty, and the connection is closed.
 */
async function callStreamingRoute(app: App, request: InjectOptions): Promise<LightMyRequestResponse> {
  const abort = new AbortController();
  const response = await app.http.inject({ ...request, payloadAsStream: true, signal: abort.signal });
  const contentType = String(response.headers["content-type"] ?? "");
  const stream = response.stream();
  if (contentType.startsWith("text/event-stream")) {
    abort.abort();
    stream.destroy();
    return Object.assign(Object.create(response), { body: "", payload: "", json: () => undefined });
  }
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  const body = Buffer.concat(chunks).toString("utf8");
  return Object.assign(Object.create(response), {
    body,
    payload: body,
    rawPayload: Buffer.from(body),
    json: () => JSON.parse(body),
  });
}

/**
 * Runs `check` on every item and reports every item that failed it, not only the first, so one
 * run shows the whole extent of a gap.
 */
export async function checkAll<T>(
  items: readonly T[],
  label: (item: T) => string,
  check: (item: T) => Promise<void>,
): Promise<void> {
  expect(items.length).toBeGreaterThan(0);
  const failures: string[] = [];
  for (const item of items) {
    try {
      await check(item);
    } catch (error) {
      failures.push(`${label(item)}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  expect(failures).toEqual([]);
}

export function forEveryRoute(
  routes: DocumentedRoute[],
  check: (route: DocumentedRoute) => Promise<void>,
): Promise<void> {
  return checkAll(routes, (route) => route.key, check);
}

/** A problem body without what differs per request, to compare two answers. */
export function comparable(response: { statusCode: number; json: <T>() => T }) {
  const { type, title, status, detail } = response.json<Record<string, unknown>>();
  return { statusCode: response.statusCode, type, title, status, detail };
}

// Forged access tokens.

function tokenParts(token: string): [string, string, string] {
  const parts = token.split(".");
  if (parts.length !== 3) throw new Error("not a compact JWS");
  return parts as [string, string, string];
}

function base64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

/** The token with some claims changed and its original header and signature kept. */
export function withChangedClaims(token: string, changes: Record<string, unknown>): string {
  const [header, , signature] = tokenParts(token);
  return [header, base64urlJson({ ...decodeClaims(token), ...changes }), signature].join(".");
}

/** The token's claims under an unsigned header: `alg: none` and an empty signature. */
export function unsignedToken(token: string): string {
  return [base64urlJson({ alg: "none", typ: "at+jwt" }), base64urlJson(decodeClaims(token)), ""].join(".");
}

/** The same header (key id included) and claims, signed by an Ed25519 key that is not ours. */
export async function signedByForeignKey(token: string): Promise<string> {
  const { privateKey } = generateKeyPairSync("ed25519");
  const header = JSON.parse(Buffer.from(tokenParts(token)[0], "base64url").toString("utf8"));
  return new SignJWT(decodeClaims(token)).setProtectedHeader(header).sign(privateKey);
}

// Apps and request bodies.

/** These suites sign in far more often than a person would; the rate-limit tests use their own app. */
export const GENEROUS_LIMITS = {
  OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "100000",
  OMNICORE_RATE_LIMIT_AUTH_PER_ACCOUNT_PER_MINUTE: "100000",
};

export function createOwaspApp(clock: Clock, env: Record<string, string> = {}): Promise<TestApp> {
  return createTestApp({ clock, env: { ...GENEROUS_LIMITS, ...env } });
}

/** What a valid body may refer to: objects of the caller's own, where the route needs one. */
export interface BodyContext {
  accountId: string;
  payeeIban: string;
}

/** Shaped like @simplewebauthn/browser's output: accepted by the schema, refused by the library. */
const WEBAUTHN_RESPONSE = {
  id: "b3dhc3A",
  rawId: "b3dhc3A",
  type: "public-key",
  response: { clientDataJSON: "e30", authenticatorData: "AAAA", signature: "AAAA" },
};

/**
 * A body each route's schema accepts, so that adding one unknown field is the only thing wrong
 * with a request. A route that takes a body and is missing here fails the mass-assignment suite.
 */
export const VALID_BODIES: Record<string, (context: BodyContext) => Record<string, unknown>> = {
  "POST /v1/auth/register": () => ({
    email: uniqueEmail("owasp"),
    password: PASSWORD,
    givenName: "Grace",
    familyName: "Hopper",
  }),
  "POST /v1/auth/login": () => ({ email: uniqueEmail("nobody"), password: PASSWORD }),
  "POST /v1/auth/login/mfa": () => ({ challengeId: neverIssuedId("chl"), totp: "123456" }),
  "POST /v1/auth/passkeys/login": () => ({ challengeId: neverIssuedId("chl"), response: WEBAUTHN_RESPONSE }),
  "POST /v1/auth/refresh": () => ({ refreshToken: randomBytes(32).toString("base64url") }),
  "POST /v1/staff/auth/login": () => ({ email: uniqueEmail("nobody"), password: PASSWORD }),
  "POST /v1/staff/auth/login/mfa": () => ({ challengeId: neverIssuedId("chl"), totp: "123456" }),
  "POST /v1/staff/auth/refresh": () => ({ refreshToken: randomBytes(32).toString("base64url") }),
  "POST /v1/staff/users": () => ({ email: uniqueEmail("teller"), password: PASSWORD, role: "teller" }),
  "POST /v1/auth/mfa/totp/confirm": () => ({ code: "123456" }),
  "POST /v1/auth/passkeys": () => ({
    challengeId: neverIssuedId("chl"),
    response: WEBAUTHN_RESPONSE,
    name: "Laptop",
  }),
  "POST /v1/auth/step-up/{challengeId}": () => ({ totp: "123456" }),
  // Never the real password: a schema that let an extra field through must not change anything.
  "POST /v1/auth/password": () => ({
    currentPassword: "not the current password",
    newPassword: "another long passphrase 9",
  }),
  "PUT /v1/auth/email": () => ({ email: uniqueEmail("renamed") }),
  "PATCH /v1/customers/me": () => ({ preferredLanguage: "de-DE" }),
  "POST /v1/accounts": () => ({ type: "savings", currency: "EUR" }),
  "POST /v1/transfers": (context) => ({
    fromAccountId: context.accountId,
    toIban: context.payeeIban,
    amount: { amount: "1.00", currency: "EUR" },
    reference: "owasp",
  }),
  "POST /v1/scheduled-transfers": (context) => ({
    fromAccountId: context.accountId,
    toIban: context.payeeIban,
    amount: { amount: "1.00", currency: "EUR" },
    frequency: "monthly",
    firstRunOn: "2099-01-01",
  }),
  "POST /v1/payees/name-check": (context) => ({ name: "Ada Lovelace", iban: context.payeeIban }),
  "POST /v1/payees": (context) => ({ name: "Ada Lovelace", iban: context.payeeIban }),
  "POST /v1/staff/accounts/{id}/deposits": () => ({ amount: { amount: "1.00", currency: "EUR" } }),
  "POST /v1/staff/accounts/{id}/withdrawals": () => ({ amount: { amount: "1.00", currency: "EUR" } }),
  "POST /v1/staff/cases/{id}/reject": () => ({ reasonCode: "suspected_fraud", note: "owasp" }),
  "POST /v1/staff/cases/{id}/confirm-fraud": () => ({ note: "owasp" }),
  "POST /v1/staff/cases/{id}/notes": () => ({ text: "owasp" }),
  "POST /v1/legacy-accounts/{id}/payments": (context) => ({
    toIban: context.payeeIban,
    amount: { amount: "1.00", currency: "EUR" },
    reference: "owasp",
  }),
  "PUT /v1/notifications/preferences": () => ({
    preferences: [{ category: "marketing", channel: "email", enabled: false }],
  }),
  "POST /v1/staff/customers/{customerId}/offers": () => ({ offerCode: "savings_boost" }),
  "POST /v1/notifications/push-tokens": () => ({
    token: `owasp-${randomBytes(8).toString("hex")}`,
    platform: "ios",
  }),
  "POST /v1/staff/screening/hits/{id}/false-positive": () => ({ reason: "owasp" }),
  "POST /v1/staff/screening/hits/{id}/confirm": () => ({ reason: "owasp" }),
  // A new, inactive version: the suite must not change how the app decides payments.
  "POST /v1/staff/fraud/rule-sets": () => ({
    rules: [{ code: "new_payee", feature: "new_payee", operator: "is_true", weight: 10 }],
    thresholds: { challenge: 40, hold: 60, block: 95 },
  }),
  "POST /v1/staff/fraud/rule-sets/dry-run": () => ({
    rules: [{ code: "new_payee", feature: "new_payee", operator: "is_true", weight: 10 }],
    thresholds: { challenge: 40, hold: 60, block: 95 },
    limit: 10,
  }),
  // A new, inactive AML version: the suite must not change how the app monitors money.
  "POST /v1/staff/compliance/rule-sets": () => ({
    currency: "EUR",
    rules: [
      { code: "dormant", kind: "dormant_reactivated", riskScore: 10, dormantDays: 90, amountMinMinor: 0 },
    ],
  }),
  "POST /v1/staff/compliance/cases/{id}/close": () => ({ reason: "owasp" }),
  "POST /v1/staff/compliance/cases/{id}/escalate": () => ({ note: "owasp" }),
  "POST /v1/staff/compliance/cases/{id}/freeze": () => ({ note: "owasp" }),
  "POST /v1/staff/compliance/cases/{id}/reports": () => ({ narrative: "owasp" }),
  "POST /v1/staff/compliance/cases/{id}/notes": () => ({ text: "owasp" }),
  "PATCH /v1/onboarding/applications/{id}": () => ({
    personal: { givenName: "Grace", familyName: "Hopper", dateOfBirth: "1986-12-09", nationality: "DE" },
  }),
  "POST /v1/onboarding/applications/{id}/document-verification": () => ({
    type: "passport",
    number: "C01X00T47",
    issuingCountry: "DE",
    expiresOn: "2031-01-31",
  }),
  "POST /v1/staff/onboarding/applications/{id}/approve": () => ({ reason: "owasp review" }),
  "POST /v1/staff/onboarding/applications/{id}/reject": () => ({ reason: "owasp review" }),
};

export function validBody(route: DocumentedRoute, context: BodyContext): Record<string, unknown> {
  const build = VALID_BODIES[route.key];
  if (!build) throw new Error(`${route.key} takes a body but has no entry in VALID_BODIES`);
  return build(context);
}

/** The first role the table lets through `route`: a caller that gets past its guard. */
export function allowedRole(route: DocumentedRoute): StaffRole {
  const role = ALLOWED_ROLES[route.key]?.roles[0];
  if (!role) throw new Error(`${route.key} is a staff route missing from ALLOWED_ROLES`);
  return role;
}

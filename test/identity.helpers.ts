import { randomBytes } from "node:crypto";
import { expect } from "vitest";
import type { App } from "../src/app.ts";
import { TOTP_PERIOD_S, totpCode, totpStep } from "../src/modules/identity/totp.ts";
import { findOutboxEvents } from "../src/platform/events/outbox.ts";

/** Shared steps of the identity, customer and security tests; every call goes through HTTP. */

/** Long enough to stand alone (NIST: 15) and in no breached-password list. */
export const PASSWORD = "glacier umbrella quietly orbits 7";

export interface Tokens {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  tokenType: string;
}

export function uniqueEmail(label = "customer"): string {
  return `${label}.${randomBytes(4).toString("hex")}@example.com`;
}

export function bearer(token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` };
}

export async function register(app: App, email = uniqueEmail(), password = PASSWORD): Promise<string> {
  const response = await app.http.inject({
    method: "POST",
    url: "/v1/auth/register",
    payload: { email, password, givenName: "Ada", familyName: "Lovelace" },
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json<{ customerId: string }>().customerId;
}

export async function login(
  app: App,
  email: string,
  password = PASSWORD,
  headers: Record<string, string> = {},
): Promise<Tokens> {
  const response = await app.http.inject({
    method: "POST",
    url: "/v1/auth/login",
    headers,
    payload: { email, password },
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<Tokens>();
}

/** A fresh customer with a session; the e-mail is returned for tests that log in again. */
export async function signedInCustomer(app: App, headers: Record<string, string> = {}) {
  const email = uniqueEmail();
  const customerId = await register(app, email);
  return { email, customerId, tokens: await login(app, email, PASSWORD, headers) };
}

/** What a staff user's phone knows: the TOTP secret, and the steps whose codes were used. */
interface StaffAuthenticator {
  secret: string;
  lastStep: number;
  recoveryCodes: string[];
}
const staffAuthenticators = new Map<string, StaffAuthenticator>();

/**
 * A code the server has not seen yet: each TOTP code is accepted once, and tests log the same
 * staff user in several times within one 30-second step, so the helper walks forward through the
 * steps the server accepts (one either side of now) and then falls back to a recovery code.
 */
async function nextStaffCode(app: App, authenticator: StaffAuthenticator): Promise<Record<string, string>> {
  const current = totpStep(app.clock.now());
  const step = Math.max(authenticator.lastStep + 1, current - 1);
  if (step <= current + 1) {
    authenticator.lastStep = step;
    return { totp: await totpCode(authenticator.secret, new Date(step * TOTP_PERIOD_S * 1000)) };
  }
  const recoveryCode = authenticator.recoveryCodes.pop();
  if (!recoveryCode) throw new Error("the test used up this staff user's codes; advance the clock");
  return { recoveryCode };
}

/** Staff sign-in: password, then the TOTP code (enrolling the authenticator on first sign-in). */
export async function staffLogin(
  app: App,
  email: string,
  password: string,
  headers: Record<string, string> = {},
): Promise<Tokens> {
  const first = await app.http.inject({
    method: "POST",
    url: "/v1/staff/auth/login",
    headers,
    payload: { email, password },
  });
  expect(first.statusCode, first.body).toBe(401);
  const problem = first.json<{ type: string; challengeId: string; totp?: { secret: string } }>();
  const key = `${app.config.database.url ?? "embedded"}:${email}`;
  if (problem.totp)
    staffAuthenticators.set(key, { secret: problem.totp.secret, lastStep: 0, recoveryCodes: [] });
  const authenticator = staffAuthenticators.get(key);
  if (!authenticator) throw new Error(`no authenticator known for ${email}: ${first.body}`);
  const answer = await app.http.inject({
    method: "POST",
    url: "/v1/staff/auth/login/mfa",
    headers,
    payload: { challengeId: problem.challengeId, ...(await nextStaffCode(app, authenticator)) },
  });
  expect(answer.statusCode, answer.body).toBe(200);
  const tokens = answer.json<Tokens & { recoveryCodes?: string[] }>();
  if (tokens.recoveryCodes) authenticator.recoveryCodes = tokens.recoveryCodes;
  return tokens;
}

/** Creates the initial admin when there is none, or logs in with the known one. */
export async function adminTokens(
  app: App,
  email = "root@bank.example",
  password = PASSWORD,
): Promise<Tokens> {
  await app.services.identity.ensureInitialAdmin({ email, password });
  return staffLogin(app, email, password);
}

export async function createStaff(app: App, admin: Tokens, role: string, email = uniqueEmail(role)) {
  const response = await app.http.inject({
    method: "POST",
    url: "/v1/staff/users",
    headers: bearer(admin.accessToken),
    payload: { email, password: PASSWORD, role },
  });
  expect(response.statusCode, response.body).toBe(201);
  return { ...response.json<{ id: string; email: string; role: string }>(), password: PASSWORD };
}

export function decodeClaims(token: string): Record<string, unknown> {
  const payload = token.split(".")[1];
  if (payload === undefined) throw new Error("not a JWT");
  return JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
}

/** The problem+json shape every error must have, with the slug at the end of `type`. */
export function expectProblem(
  response: { statusCode: number; headers: Record<string, unknown>; json: <T>() => T; body: string },
  status: number,
  slug: string,
): void {
  expect(response.statusCode, response.body).toBe(status);
  expect(String(response.headers["content-type"])).toMatch(/^application\/problem\+json/);
  const body = response.json<{ type: string; status: number; requestId: string }>();
  expect(body.type).toBe(`https://omnicore.dev/problems/${slug}`);
  expect(body.status).toBe(status);
  expect(body.requestId).toBeTruthy();
}

export async function outboxEvents(app: App, type: string, aggregateId: string) {
  const stored = await findOutboxEvents(app.database.db, { type, aggregateId });
  return stored.map(
    (row) => row.event as unknown as { type: string; actorId: string | null; data: Record<string, unknown> },
  );
}

export async function auditRecords(app: App, action: string) {
  return app.database.db
    .selectFrom("platform_audit_log")
    .select(["actor_type", "actor_id", "subject_id", "channel", "details"])
    .where("action", "=", action)
    .orderBy("seq")
    .execute();
}

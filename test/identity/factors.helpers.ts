import { expect } from "vitest";
import type { App } from "../../src/app.ts";
import { TOTP_PERIOD_S, totpCode, totpStep } from "../../src/modules/identity/totp.ts";
import type { ManualClock } from "../../src/platform/clock.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";
import { bearer, expectProblem, PASSWORD, type Tokens } from "../identity.helpers.ts";

/**
 * Shared steps of the second-factor, step-up and lock-out suites (all through HTTP): an
 * authenticator app that hands out each code once, enrolment, and answering challenges.
 */

export const TOTP_STEP_MS = TOTP_PERIOD_S * 1000;

/** Type of an injected response, for helpers that take one. */
export type Reply = Awaited<ReturnType<App["http"]["inject"]>>;

/** These suites sign in far more often than a person would; security.test.ts covers the limits. */
export function createIdentityApp(clock: ManualClock, env: Record<string, string> = {}): Promise<TestApp> {
  return createTestApp({
    clock,
    env: {
      OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "100000",
      OMNICORE_RATE_LIMIT_AUTH_PER_ACCOUNT_PER_MINUTE: "100000",
      ...env,
    },
  });
}

/** The headers of the mobile app on one phone, with what it reports about itself (platform, version). */
export function phone(deviceId: string, report: Record<string, string> = {}): Record<string, string> {
  return { "x-channel": "mobile", "x-device-id": deviceId, ...report };
}

/**
 * What the customer's authenticator app knows. The server accepts each time step once, so
 * `freshCode` walks forward through the steps it accepts (one either side of now) and moves the
 * injected clock on only when all of them are used, as a person would wait for the next code.
 */
export class Authenticator {
  readonly secret: string;
  readonly #clock: ManualClock;
  #lastStep: number;

  constructor(secret: string, clock: ManualClock, lastStep = Number.NEGATIVE_INFINITY) {
    this.secret = secret;
    this.#clock = clock;
    this.#lastStep = lastStep;
  }

  /** The code the app shows in time step `step`. */
  codeAt(step: number): Promise<string> {
    return totpCode(this.secret, new Date(step * TOTP_STEP_MS));
  }

  /** A code of a step the server has not seen from this app. */
  async freshCode(): Promise<string> {
    const current = totpStep(this.#clock.now());
    const step = Math.max(this.#lastStep + 1, current - 1);
    if (step > current + 1) this.#clock.advance((step - current - 1) * TOTP_STEP_MS);
    this.#lastStep = step;
    return this.codeAt(step);
  }

  /** Six digits that are no code of the steps around now: certainly refused. */
  async wrongCode(): Promise<string> {
    const current = totpStep(this.#clock.now());
    const valid = new Set(await Promise.all([-1, 0, 1].map((offset) => this.codeAt(current + offset))));
    const wrong = ["000000", "111111", "222222", "333333"].find((code) => !valid.has(code));
    if (wrong === undefined) throw new Error("unreachable: three codes cannot cover four candidates");
    return wrong;
  }
}

export interface Enrolment {
  authenticator: Authenticator;
  recoveryCodes: string[];
}

/** Enrols an authenticator app (the first factor needs no step-up) with the code of the current step. */
export async function enrolTotp(app: App, accessToken: string, clock: ManualClock): Promise<Enrolment> {
  const started = await app.http.inject({
    method: "POST",
    url: "/v1/auth/mfa/totp",
    headers: bearer(accessToken),
  });
  expect(started.statusCode, started.body).toBe(200);
  const { secret } = started.json<{ secret: string }>();
  const confirmed = await app.http.inject({
    method: "POST",
    url: "/v1/auth/mfa/totp/confirm",
    headers: bearer(accessToken),
    payload: { code: await totpCode(secret, clock.now()) },
  });
  expect(confirmed.statusCode, confirmed.body).toBe(200);
  return {
    authenticator: new Authenticator(secret, clock, totpStep(clock.now())),
    recoveryCodes: confirmed.json<{ recoveryCodes: string[] }>().recoveryCodes,
  };
}

export function attemptLogin(app: App, email: string, headers: Record<string, string>, password = PASSWORD) {
  return app.http.inject({ method: "POST", url: "/v1/auth/login", headers, payload: { email, password } });
}

/** The challenge of a 401 mfa-required answer. */
export function mfaChallengeOf(response: Reply): string {
  expectProblem(response, 401, "mfa-required");
  const { challengeId } = response.json<{ challengeId: string }>();
  expect(challengeId).toMatch(/^chl_[0-9a-f]{32}$/);
  return challengeId;
}

export function answerLogin(
  app: App,
  challengeId: string,
  answer: { totp?: string; recoveryCode?: string },
  headers: Record<string, string>,
) {
  return app.http.inject({
    method: "POST",
    url: "/v1/auth/login/mfa",
    headers,
    payload: { challengeId, ...answer },
  });
}

/** Password, then a fresh TOTP code, from the device in `headers`. */
export async function loginWithTotp(
  app: App,
  email: string,
  authenticator: Authenticator,
  headers: Record<string, string>,
): Promise<Tokens> {
  const challengeId = mfaChallengeOf(await attemptLogin(app, email, headers));
  const answer = await answerLogin(app, challengeId, { totp: await authenticator.freshCode() }, headers);
  expect(answer.statusCode, answer.body).toBe(200);
  return answer.json<Tokens>();
}

/**
 * Password, then the code of the clock's current step, for suites that keep only the secret:
 * each code is accepted once, so the caller moves the clock past a step it has already used.
 */
export async function loginWithCurrentCode(
  app: App,
  email: string,
  secret: string,
  clock: ManualClock,
  headers: Record<string, string>,
): Promise<Tokens> {
  const first = await attemptLogin(app, email, headers);
  expectProblem(first, 401, "mfa-required");
  const { challengeId } = first.json<{ challengeId: string }>();
  const answer = await answerLogin(app, challengeId, { totp: await totpCode(secret, clock.now()) }, headers);
  expect(answer.statusCode, answer.body).toBe(200);
  return answer.json<Tokens>();
}

/** The challenge of a 401 step-up-required answer (null when the customer has no factor). */
export function stepUpChallengeOf(response: Reply): string {
  expectProblem(response, 401, "step-up-required");
  const { challengeId } = response.json<{ challengeId: string | null }>();
  expect(challengeId).toMatch(/^chl_[0-9a-f]{32}$/);
  return challengeId as string;
}

export function answerStepUp(app: App, accessToken: string, challengeId: string, totp: string) {
  return app.http.inject({
    method: "POST",
    url: `/v1/auth/step-up/${challengeId}`,
    headers: bearer(accessToken),
    payload: { totp },
  });
}

/** Approves the challenge of a step-up-required answer with a fresh code; returns the proof. */
export async function approveStepUp(
  app: App,
  accessToken: string,
  response: Reply,
  authenticator: Authenticator,
): Promise<string> {
  const challengeId = stepUpChallengeOf(response);
  const approved = await answerStepUp(app, accessToken, challengeId, await authenticator.freshCode());
  expect(approved.statusCode, approved.body).toBe(200);
  return approved.json<{ proof: string }>().proof;
}

/** Every field of a problem answer but the per-request ones: what a client could compare. */
export function problemFacts(response: Reply): Record<string, unknown> {
  const { requestId: _requestId, ...facts } = response.json<Record<string, unknown>>();
  return { statusCode: response.statusCode, ...facts };
}

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { totpCode, totpStep } from "../../src/modules/identity/totp.ts";
import { ManualClock } from "../../src/platform/clock.ts";
import type { TestApp } from "../helpers/test-app.ts";
import {
  bearer,
  expectProblem,
  login,
  outboxEvents,
  PASSWORD,
  signedInCustomer,
  type Tokens,
} from "../identity.helpers.ts";
import {
  answerLogin,
  answerStepUp,
  approveStepUp,
  attemptLogin,
  createIdentityApp,
  enrolTotp,
  mfaChallengeOf,
  phone,
  stepUpChallengeOf,
  TOTP_STEP_MS,
} from "./factors.helpers.ts";

/**
 * Second factors through HTTP: enrolling an authenticator app, TOTP time steps and replays,
 * sign-in from a new device, device trust, recovery codes, login challenges and removing the app.
 */

// On a step boundary and far from the real time: codes are computed for exactly this clock.
const clock = new ManualClock(new Date("2031-07-14T10:00:00Z"));
const SECOND_MS = 1_000;

let app: TestApp;

beforeAll(async () => {
  // Removing a factor is a risky change: this suite checks that it asks for step-up.
  app = await createIdentityApp(clock, { OMNICORE_STEP_UP: "required" });
});

afterAll(async () => {
  await app?.destroy();
});

function mfaStatus(accessToken: string) {
  return app.http.inject({ method: "GET", url: "/v1/auth/mfa", headers: bearer(accessToken) });
}

async function expectMfaStatus(accessToken: string, expected: Record<string, unknown>): Promise<void> {
  const response = await mfaStatus(accessToken);
  expect(response.statusCode, response.body).toBe(200);
  expect(response.json()).toEqual(expected);
}

function confirmTotp(accessToken: string, code: string) {
  return app.http.inject({
    method: "POST",
    url: "/v1/auth/mfa/totp/confirm",
    headers: bearer(accessToken),
    payload: { code },
  });
}

function mfaCall(method: "POST" | "DELETE", url: string, accessToken: string, proof?: string) {
  return app.http.inject({
    method,
    url,
    headers: { ...bearer(accessToken), ...(proof === undefined ? {} : { "x-step-up-proof": proof }) },
  });
}

/** A customer signed in on the web with an authenticator app enrolled. */
async function enrolledCustomer() {
  const customer = await signedInCustomer(app);
  const enrolment = await enrolTotp(app, customer.tokens.accessToken, clock);
  return { ...customer, ...enrolment };
}

describe("enrolling an authenticator app", () => {
  it("confirms the app with its current code and shows ten recovery codes once", async () => {
    const { customerId, tokens } = await signedInCustomer(app);
    const token = tokens.accessToken;
    await expectMfaStatus(token, { totp: false, passkeys: 0, recoveryCodesRemaining: 0 });

    const started = await mfaCall("POST", "/v1/auth/mfa/totp", token);
    expect(started.statusCode, started.body).toBe(200);
    const { secret, otpauthUri } = started.json<{ secret: string; otpauthUri: string }>();
    expect(secret).toMatch(/^[A-Z2-7]+=*$/);
    expect(otpauthUri).toMatch(/^otpauth:\/\/totp\//);
    expect(new URL(otpauthUri).searchParams.get("secret")).toBe(secret);
    // Pending until the first code proves the app has the secret.
    await expectMfaStatus(token, { totp: false, passkeys: 0, recoveryCodesRemaining: 0 });

    const code = await totpCode(secret, clock.now());
    const wrong = code === "123456" ? "654321" : "123456";
    const rejected = await confirmTotp(token, wrong);
    expectProblem(rejected, 422, "factor-rejected");
    expect(rejected.json()).toMatchObject({ attemptsRemaining: 4 });
    await expectMfaStatus(token, { totp: false, passkeys: 0, recoveryCodesRemaining: 0 });

    const confirmed = await confirmTotp(token, code);
    expect(confirmed.statusCode, confirmed.body).toBe(200);
    const { recoveryCodes } = confirmed.json<{ recoveryCodes: string[] }>();
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);
    await expectMfaStatus(token, { totp: true, passkeys: 0, recoveryCodesRemaining: 10 });

    // Once: confirming again shows no codes (there is no enrolment left to confirm).
    const again = await confirmTotp(token, code);
    expectProblem(again, 409, "conflict");
    expect(again.json()).not.toHaveProperty("recoveryCodes");
    const [enrolled] = await outboxEvents(app, "security.mfa_enrolled", customerId);
    expect(enrolled?.data).toMatchObject({ subjectId: customerId, details: { factor: "totp" } });
  });

  it("accepts each code once, and one time step of drift either way but not two", async () => {
    const { email, authenticator } = await enrolledCustomer();
    const enrolmentStep = totpStep(clock.now());

    // The code that confirmed the enrolment, again within its own step: a replay.
    const early = mfaChallengeOf(await attemptLogin(app, email, phone("drift-0")));
    const replayed = await answerLogin(
      app,
      early,
      { totp: await authenticator.codeAt(enrolmentStep) },
      phone("drift-0"),
    );
    expectProblem(replayed, 422, "factor-rejected");

    // Well past the enrolment's step, so that only the drift decides.
    clock.advance(20 * TOTP_STEP_MS);
    const now = totpStep(clock.now());
    const first = mfaChallengeOf(await attemptLogin(app, email, phone("drift-1")));
    for (const tooFar of [now - 2, now + 2]) {
      const refused = await answerLogin(
        app,
        first,
        { totp: await authenticator.codeAt(tooFar) },
        phone("drift-1"),
      );
      expectProblem(refused, 422, "factor-rejected");
    }
    const behind = await answerLogin(
      app,
      first,
      { totp: await authenticator.codeAt(now - 1) },
      phone("drift-1"),
    );
    expect(behind.statusCode, behind.body).toBe(200);

    const second = mfaChallengeOf(await attemptLogin(app, email, phone("drift-2")));
    const sameAgain = await answerLogin(
      app,
      second,
      { totp: await authenticator.codeAt(now - 1) },
      phone("drift-2"),
    );
    expectProblem(sameAgain, 422, "factor-rejected");
    const ahead = await answerLogin(
      app,
      second,
      { totp: await authenticator.codeAt(now + 1) },
      phone("drift-2"),
    );
    expect(ahead.statusCode, ahead.body).toBe(200);

    // The current step lies before the last used one now: its code is spent too.
    const third = mfaChallengeOf(await attemptLogin(app, email, phone("drift-3")));
    for (const spent of [now, now + 1]) {
      const refused = await answerLogin(
        app,
        third,
        { totp: await authenticator.codeAt(spent) },
        phone("drift-3"),
      );
      expectProblem(refused, 422, "factor-rejected");
    }
  });
});

describe("signing in with a second factor", () => {
  it("asks a new device for the code; that device is then trusted, another one is asked again", async () => {
    const { email, tokens } = await signedInCustomer(app);
    // Seen before the app was enrolled, after a password alone: known, but not trusted.
    await login(app, email, PASSWORD, phone("ada-tablet"));
    const { authenticator } = await enrolTotp(app, tokens.accessToken, clock);
    const firstTry = await attemptLogin(app, email, phone("ada-phone"));
    const challengeId = mfaChallengeOf(firstTry);
    const expiresAt = new Date(clock.now().getTime() + app.config.auth.challengeTtlS * SECOND_MS);
    expect(firstTry.json()).toMatchObject({ factors: ["totp"], expiresAt: expiresAt.toISOString() });
    expect(firstTry.json()).not.toHaveProperty("accessToken");

    const answer = await answerLogin(
      app,
      challengeId,
      { totp: await authenticator.freshCode() },
      phone("ada-phone"),
    );
    expect(answer.statusCode, answer.body).toBe(200);
    const strong = answer.json<Tokens>();
    const sessions = await app.http.inject({
      method: "GET",
      url: "/v1/auth/sessions",
      headers: bearer(strong.accessToken),
    });
    const current = sessions.json<{ items: { current: boolean; strength: string }[] }>().items;
    expect(current.find((session) => session.current)).toMatchObject({ strength: "mfa" });

    // The password alone on the trusted device.
    const trusted = await login(app, email, PASSWORD, phone("ada-phone"));
    expect((await mfaStatus(trusted.accessToken)).statusCode).toBe(200);
    const devices = await app.http.inject({
      method: "GET",
      url: "/v1/auth/devices",
      headers: bearer(trusted.accessToken),
    });
    const trust = devices.json<{ items: { deviceId: string; trusted: boolean }[] }>().items;
    expect(trust.map(({ deviceId, trusted }) => ({ deviceId, trusted }))).toEqual(
      expect.arrayContaining([
        { deviceId: "ada-phone", trusted: true },
        { deviceId: "ada-tablet", trusted: false },
      ]),
    );
    expect(trust).toHaveLength(2);

    mfaChallengeOf(await attemptLogin(app, email, phone("ada-tablet")));
    mfaChallengeOf(await attemptLogin(app, email, phone("ada-laptop")));
    mfaChallengeOf(await attemptLogin(app, email, {}));
  });

  it("accepts each recovery code once and never again, in whatever case it is typed", async () => {
    const { email, tokens, recoveryCodes } = await enrolledCustomer();
    const [firstCode, secondCode] = recoveryCodes as [string, string];

    const first = mfaChallengeOf(await attemptLogin(app, email, phone("rc-1")));
    const used = await answerLogin(app, first, { recoveryCode: firstCode }, phone("rc-1"));
    expect(used.statusCode, used.body).toBe(200);
    await expectMfaStatus(tokens.accessToken, { totp: true, passkeys: 0, recoveryCodesRemaining: 9 });

    const second = mfaChallengeOf(await attemptLogin(app, email, phone("rc-2")));
    const remaining: number[] = [];
    for (const again of [firstCode, firstCode.toUpperCase().replace("-", "")]) {
      const refused = await answerLogin(app, second, { recoveryCode: again }, phone("rc-2"));
      expectProblem(refused, 422, "factor-rejected");
      remaining.push(refused.json<{ attemptsRemaining: number }>().attemptsRemaining);
    }
    // A spent code counts as a failure towards the lock-out of the second factor.
    expect(remaining).toEqual([4, 3]);
    const typedLoosely = await answerLogin(
      app,
      second,
      { recoveryCode: secondCode.toUpperCase().replace("-", " ") },
      phone("rc-2"),
    );
    expect(typedLoosely.statusCode, typedLoosely.body).toBe(200);
    await expectMfaStatus(tokens.accessToken, { totp: true, passkeys: 0, recoveryCodesRemaining: 8 });
  });

  it("binds a login challenge to the channel and device it was issued to", async () => {
    const { email, authenticator } = await enrolledCustomer();
    const challengeId = mfaChallengeOf(await attemptLogin(app, email, phone("bound-phone")));
    const code = await authenticator.freshCode();

    const elsewhere = [
      phone("other-phone"),
      { "x-channel": "web", "x-device-id": "bound-phone" },
      { "x-channel": "mobile" },
      {},
    ];
    for (const headers of elsewhere) {
      expectProblem(await answerLogin(app, challengeId, { totp: code }, headers), 422, "challenge-invalid");
    }
    // The refused answers neither used the code nor the challenge.
    const right = await answerLogin(app, challengeId, { totp: code }, phone("bound-phone"));
    expect(right.statusCode, right.body).toBe(200);
    const twice = await answerLogin(
      app,
      challengeId,
      { totp: await authenticator.freshCode() },
      phone("bound-phone"),
    );
    expectProblem(twice, 422, "challenge-invalid");
  });

  it("lets a login challenge expire after OMNICORE_CHALLENGE_TTL_S", async () => {
    const { email, authenticator } = await enrolledCustomer();
    const ttlMs = app.config.auth.challengeTtlS * SECOND_MS;
    const inTime = mfaChallengeOf(await attemptLogin(app, email, phone("ttl-1")));
    const late = mfaChallengeOf(await attemptLogin(app, email, phone("ttl-2")));

    clock.advance(ttlMs - SECOND_MS);
    const answered = await answerLogin(
      app,
      inTime,
      { totp: await authenticator.freshCode() },
      phone("ttl-1"),
    );
    expect(answered.statusCode, answered.body).toBe(200);

    clock.advance(2 * SECOND_MS);
    const expired = await answerLogin(app, late, { totp: await authenticator.freshCode() }, phone("ttl-2"));
    expectProblem(expired, 422, "challenge-invalid");
  });
});

describe("changing second factors", () => {
  it("needs step-up to remove the app, bound to that change; afterwards the password alone is enough", async () => {
    const { customerId, email, tokens, authenticator } = await enrolledCustomer();
    const token = tokens.accessToken;

    const removal = await mfaCall("DELETE", "/v1/auth/mfa/totp", token);
    stepUpChallengeOf(removal);
    expect(removal.json()).toMatchObject({
      factors: ["totp"],
      operation: { type: "mfa_change", action: "totp_remove" },
    });
    // Enrolling another app and new recovery codes are changes of factors too.
    const reEnrol = await mfaCall("POST", "/v1/auth/mfa/totp", token);
    stepUpChallengeOf(reEnrol);
    expect(reEnrol.json()).toMatchObject({ operation: { type: "mfa_change", action: "totp_enrol" } });
    const newCodes = await mfaCall("POST", "/v1/auth/mfa/recovery-codes", token);
    stepUpChallengeOf(newCodes);
    expect(newCodes.json()).toMatchObject({ operation: { type: "mfa_change", action: "recovery_codes" } });
    await expectMfaStatus(token, { totp: true, passkeys: 0, recoveryCodesRemaining: 10 });

    const wrongCode = await answerStepUp(
      app,
      token,
      stepUpChallengeOf(removal),
      await authenticator.wrongCode(),
    );
    expectProblem(wrongCode, 422, "factor-rejected");
    const proof = await approveStepUp(app, token, removal, authenticator);
    // The proof approves the removal, not new recovery codes.
    const misused = await mfaCall("POST", "/v1/auth/mfa/recovery-codes", token, proof);
    expectProblem(misused, 422, "challenge-invalid");
    await expectMfaStatus(token, { totp: true, passkeys: 0, recoveryCodesRemaining: 10 });

    const removed = await mfaCall("DELETE", "/v1/auth/mfa/totp", token, proof);
    expect(removed.statusCode, removed.body).toBe(204);
    await expectMfaStatus(token, { totp: false, passkeys: 0, recoveryCodesRemaining: 0 });
    expect(await outboxEvents(app, "security.mfa_removed", customerId)).toHaveLength(1);
    const reused = await mfaCall("DELETE", "/v1/auth/mfa/totp", token, proof);
    expectProblem(reused, 422, "challenge-invalid");

    // No factor left: a new device signs in with the password alone.
    await login(app, email, PASSWORD, phone("after-removal"));
  });
});

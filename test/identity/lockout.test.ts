import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/platform/clock.ts";
import type { TestApp } from "../helpers/test-app.ts";
import {
  adminTokens,
  bearer,
  createStaff,
  expectProblem,
  login,
  outboxEvents,
  PASSWORD,
  register,
  signedInCustomer,
  staffLogin,
  uniqueEmail,
} from "../identity.helpers.ts";
import {
  answerLogin,
  attemptLogin,
  createIdentityApp,
  enrolTotp,
  mfaChallengeOf,
  phone,
  problemFacts,
  type Reply,
} from "./factors.helpers.ts";

/**
 * Lock-out after consecutive failures (PSD2 RTS art. 4(3)(b)) of the password and of the second
 * factor, without revealing which e-mail addresses exist, lifted by time or by staff; and the
 * password policy (NIST SP 800-63B rev. 4) at registration and at a password change.
 */

// Far from the real time, so that anything reading the system clock instead would be caught.
const clock = new ManualClock(new Date("2031-11-17T07:30:00Z"));
const SECOND_MS = 1_000;
const WRONG_PASSWORD = "not the password at all, sorry";

let app: TestApp;

beforeAll(async () => {
  // Step-up stays off (the test default): the password change below is about the policy alone.
  app = await createIdentityApp(clock);
});

afterAll(async () => {
  await app?.destroy();
});

function lockedUntil(): string {
  return new Date(clock.now().getTime() + app.config.auth.lockout.durationS * SECOND_MS).toISOString();
}

/** Five wrong passwords and then `finalPassword`, as one client would see the answers. */
async function lockOut(email: string, finalPassword = PASSWORD): Promise<Reply[]> {
  const replies: Reply[] = [];
  for (let attempt = 1; attempt <= 5; attempt++)
    replies.push(await attemptLogin(app, email, {}, WRONG_PASSWORD));
  replies.push(await attemptLogin(app, email, {}, finalPassword));
  return replies;
}

/** An agent signed in now (earlier staff tokens may have expired while the clock moved). */
async function agentSession() {
  const agent = await createStaff(app, await adminTokens(app), "agent");
  const tokens = await staffLogin(app, agent.email, agent.password, { "x-channel": "contact_centre" });
  return { id: agent.id, token: tokens.accessToken };
}

function unlock(staffToken: string, customerId: string) {
  return app.http.inject({
    method: "POST",
    url: `/v1/staff/customers/${customerId}/unlock`,
    headers: bearer(staffToken),
  });
}

describe("password lock-out", () => {
  it("warns at the 4th wrong password, locks at the 5th, and refuses even the right password while locked", async () => {
    const email = uniqueEmail();
    await register(app, email);
    const until = lockedUntil();
    const replies = await lockOut(email);

    expect(replies.map((reply) => reply.statusCode)).toEqual([401, 401, 401, 401, 423, 423]);
    for (const reply of replies.slice(0, 4)) expectProblem(reply, 401, "unauthorized");
    expect(
      replies.slice(0, 4).map((reply) => reply.json<{ attemptsRemaining: number }>().attemptsRemaining),
    ).toEqual([4, 3, 2, 1]);
    expect(replies[3]?.json<{ detail: string }>().detail).toMatch(/one attempt is left/i);
    for (const reply of replies.slice(4)) {
      expectProblem(reply, 423, "factor-locked");
      expect(reply.json()).toMatchObject({ lockedUntil: until });
      expect(reply.json()).not.toHaveProperty("accessToken");
    }
  });

  it("answers an unknown e-mail address with exactly the same statuses and details", async () => {
    const email = uniqueEmail();
    await register(app, email);
    const known = await lockOut(email);
    const unknown = await lockOut(uniqueEmail("nobody"));
    expect(unknown.map(problemFacts)).toEqual(known.map(problemFacts));
  });

  it("records security.lockout_warning and security.factor_locked for the customer", async () => {
    const email = uniqueEmail();
    const customerId = await register(app, email);
    await lockOut(email);

    const warnings = await outboxEvents(app, "security.lockout_warning", customerId);
    expect(warnings.map((event) => event.data)).toEqual([
      expect.objectContaining({
        kind: "lockout_warning",
        subjectType: "customer",
        subjectId: customerId,
        details: { factor: "password", attemptsRemaining: 1 },
      }),
    ]);
    const locks = await outboxEvents(app, "security.factor_locked", customerId);
    expect(locks.map((event) => event.data)).toEqual([
      expect.objectContaining({
        subjectId: customerId,
        details: { factor: "password", attemptsRemaining: 0 },
      }),
    ]);
  });

  it("lifts the lock after OMNICORE_LOCKOUT_DURATION_S and counts afresh", async () => {
    const email = uniqueEmail();
    await register(app, email);
    const lockedAtMs = clock.now().getTime();
    await lockOut(email);

    clock.advance(app.config.auth.lockout.durationS * SECOND_MS - SECOND_MS);
    expectProblem(await attemptLogin(app, email, {}), 423, "factor-locked");
    clock.advance(SECOND_MS);
    expect(clock.now().getTime() - lockedAtMs).toBe(app.config.auth.lockout.durationS * SECOND_MS);
    await login(app, email);
    const wrong = await attemptLogin(app, email, {}, WRONG_PASSWORD);
    expect(wrong.json()).toMatchObject({ attemptsRemaining: 4 });
  });

  it("is lifted at once when an agent unlocks the customer, recorded on behalf of the customer", async () => {
    const email = uniqueEmail();
    const customerId = await register(app, email);
    await lockOut(email);
    const agent = await agentSession();

    const unlocked = await unlock(agent.token, customerId);
    expect(unlocked.statusCode, unlocked.body).toBe(200);
    expect(unlocked.json()).toEqual({ unlocked: true });
    await login(app, email);
    // Nothing is locked or counted any more.
    expect((await unlock(agent.token, customerId)).json()).toEqual({ unlocked: false });

    const [event] = await outboxEvents(app, "security.factor_unlocked", customerId);
    expect(event).toMatchObject({
      actorType: "staff",
      actorId: agent.id,
      onBehalfOf: customerId,
      data: { kind: "factor_unlocked", subjectId: customerId },
    });
    const audit = await app.database.db
      .selectFrom("platform_audit_log")
      .select(["actor_type", "actor_id", "on_behalf_of"])
      .where("action", "=", "security.factor_unlocked")
      .where("subject_id", "=", customerId)
      .execute();
    expect(audit).toEqual([{ actor_type: "staff", actor_id: agent.id, on_behalf_of: customerId }]);
  });

  it("starts counting again after a successful sign-in", async () => {
    const email = uniqueEmail();
    await register(app, email);
    const remaining = async () => {
      const counts: number[] = [];
      for (let attempt = 1; attempt <= 4; attempt++) {
        const reply = await attemptLogin(app, email, {}, WRONG_PASSWORD);
        expectProblem(reply, 401, "unauthorized");
        counts.push(reply.json<{ attemptsRemaining: number }>().attemptsRemaining);
      }
      return counts;
    };
    expect(await remaining()).toEqual([4, 3, 2, 1]);
    await login(app, email);
    expect(await remaining()).toEqual([4, 3, 2, 1]);
  });
});

describe("second-factor lock-out at /v1/auth/login/mfa", () => {
  it("locks the authenticator app after 5 wrong codes and refuses the right code while locked", async () => {
    const { customerId, email, tokens } = await signedInCustomer(app);
    const { authenticator } = await enrolTotp(app, tokens.accessToken, clock);
    const device = phone("locked-phone");
    const challengeId = mfaChallengeOf(await attemptLogin(app, email, device));
    const wrong = await authenticator.wrongCode();

    const counts: number[] = [];
    for (let attempt = 1; attempt <= 4; attempt++) {
      const reply = await answerLogin(app, challengeId, { totp: wrong }, device);
      expectProblem(reply, 422, "factor-rejected");
      counts.push(reply.json<{ attemptsRemaining: number }>().attemptsRemaining);
    }
    expect(counts).toEqual([4, 3, 2, 1]);
    expectProblem(await answerLogin(app, challengeId, { totp: wrong }, device), 423, "factor-locked");
    const right = await answerLogin(app, challengeId, { totp: await authenticator.freshCode() }, device);
    expectProblem(right, 423, "factor-locked");

    const details = async (type: string) =>
      (await outboxEvents(app, type, customerId)).map((event) => event.data.details);
    expect(await details("security.lockout_warning")).toEqual([{ factor: "totp", attemptsRemaining: 1 }]);
    expect(await details("security.factor_locked")).toEqual([{ factor: "totp", attemptsRemaining: 0 }]);
  });

  it("starts counting wrong codes again after a right one", async () => {
    const { email, tokens } = await signedInCustomer(app);
    const { authenticator } = await enrolTotp(app, tokens.accessToken, clock);
    const wrong = await authenticator.wrongCode();

    for (const device of [phone("reset-1"), phone("reset-2")]) {
      const challengeId = mfaChallengeOf(await attemptLogin(app, email, device));
      const counts: number[] = [];
      for (let attempt = 1; attempt <= 4; attempt++) {
        const reply = await answerLogin(app, challengeId, { totp: wrong }, device);
        counts.push(reply.json<{ attemptsRemaining: number }>().attemptsRemaining);
      }
      expect(counts).toEqual([4, 3, 2, 1]);
      const right = await answerLogin(app, challengeId, { totp: await authenticator.freshCode() }, device);
      expect(right.statusCode, right.body).toBe(200);
    }
  });
});

describe("password policy", () => {
  function registration(email: string, password: string) {
    return app.http.inject({
      method: "POST",
      url: "/v1/auth/register",
      payload: { email, password, givenName: "Ada", familyName: "Lovelace" },
    });
  }

  it("needs 15 characters at registration, when the password stands alone", async () => {
    const fourteen = "tulip harbor 9";
    expect([...fourteen]).toHaveLength(14);
    expectProblem(await registration(uniqueEmail(), fourteen), 422, "password-rejected");
    const fifteen = `${fourteen}4`;
    expect((await registration(uniqueEmail(), fifteen)).statusCode).toBe(201);
  });

  it("refuses common and breached passwords, whatever their case", async () => {
    // From the breached-password list the policy uses, all 15 characters or longer.
    for (const common of ["passwordpassword", "1qaz2wsx3edc4rfv", "QWERTY123456789"]) {
      expectProblem(await registration(uniqueEmail(), common), 422, "password-rejected");
    }
  });

  it("refuses a password containing the local part of the e-mail address", async () => {
    const email = uniqueEmail("marguerite");
    const localPart = email.slice(0, email.indexOf("@"));
    const response = await registration(email, `my ${localPart.toUpperCase()} secret`);
    expectProblem(response, 422, "password-rejected");
    expect(response.json<{ detail: string }>().detail).toMatch(/e-mail/);
    expect((await registration(email, "violet canyon murmurs 58")).statusCode).toBe(201);
  });

  it("accepts an 8-character password at a password change once a second factor is enrolled", async () => {
    const { email, tokens } = await signedInCustomer(app);
    const change = (newPassword: string, currentPassword = PASSWORD) =>
      app.http.inject({
        method: "POST",
        url: "/v1/auth/password",
        headers: bearer(tokens.accessToken),
        payload: { currentPassword, newPassword },
      });
    const short = "brisk 7q";
    expect([...short]).toHaveLength(8);
    expectProblem(await change(short), 422, "password-rejected");

    await enrolTotp(app, tokens.accessToken, clock);
    const changed = await change(short);
    expect(changed.statusCode, changed.body).toBe(204);
    // The new password is the one that gets to the second factor now.
    mfaChallengeOf(await attemptLogin(app, email, {}, short));
    expectProblem(await attemptLogin(app, email, {}), 401, "unauthorized");
  });
});

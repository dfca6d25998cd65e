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
  signedInCustomer,
  staffLogin,
  uniqueEmail,
} from "../identity.helpers.ts";
import {
  type AccountDto,
  type Amount,
  deposit,
  eur,
  getAccount,
  idempotencyKey,
  openAccount,
  type TransferDto,
} from "../payments/payments.helpers.ts";
import {
  type Authenticator,
  answerStepUp,
  approveStepUp,
  attemptLogin,
  createIdentityApp,
  enrolTotp,
  loginWithTotp,
  mfaChallengeOf,
  phone,
  type Reply,
  stepUpChallengeOf,
} from "./factors.helpers.ts";

/**
 * Step-up with dynamic linking (PSD2 RTS art. 5) through HTTP: which calls ask for it, what a
 * proof approves (exactly one operation, once, in one session, for a short time), the low-value
 * exemption for known payees (RTS art. 16) and the own-account exemption (RTS art. 15).
 */

// On a step boundary and far from the real time: codes are computed for exactly this clock.
const clock = new ManualClock(new Date("2031-10-06T08:00:00Z"));
const SECOND_MS = 1_000;
/**
 * Shorter than the 300-second default so that waiting for a challenge to expire stays within the
 * web session's 300-second idle timeout: the expired proof is refused, not the session.
 */
const CHALLENGE_TTL_S = 120;
/** Staff access tokens live 600 s; the teller signs in again well before. */
const TELLER_SESSION_REUSE_MS = 300 * SECOND_MS;

let app: TestApp;
let teller: { email: string; password: string };
let tellerSession: { token: string; signedInAtMs: number } | undefined;
/** Two accounts of another customer: the payees X and Y. */
let payeeX: AccountDto;
let payeeY: AccountDto;

beforeAll(async () => {
  app = await createIdentityApp(clock, {
    OMNICORE_STEP_UP: "required",
    OMNICORE_CHALLENGE_TTL_S: String(CHALLENGE_TTL_S),
  });
  teller = await createStaff(app, await adminTokens(app), "teller");
  const payee = await signedInCustomer(app);
  payeeX = await openAccount(app, payee.tokens.accessToken);
  payeeY = await openAccount(app, payee.tokens.accessToken);
});

afterAll(async () => {
  await app?.destroy();
});

async function tellerToken(): Promise<string> {
  const nowMs = clock.now().getTime();
  if (!tellerSession || nowMs - tellerSession.signedInAtMs > TELLER_SESSION_REUSE_MS) {
    const tokens = await staffLogin(app, teller.email, teller.password);
    tellerSession = { token: tokens.accessToken, signedInAtMs: nowMs };
  }
  return tellerSession.token;
}

interface Payer {
  customerId: string;
  email: string;
  token: string;
  account: AccountDto;
}

/** A customer signed in on the web with an account holding 1000.00 EUR. */
async function payer(): Promise<Payer> {
  const { customerId, email, tokens } = await signedInCustomer(app);
  const account = await openAccount(app, tokens.accessToken);
  await deposit(app, await tellerToken(), account.id, eur("1000.00"));
  return { customerId, email, token: tokens.accessToken, account };
}

/** As `payer`, with an authenticator app (the first factor needs no step-up). */
async function enrolledPayer(): Promise<Payer & { authenticator: Authenticator }> {
  const customer = await payer();
  const { authenticator } = await enrolTotp(app, customer.token, clock);
  return { ...customer, authenticator };
}

function send(
  token: string,
  payload: { fromAccountId: string; toIban: string; amount: Amount },
  options: { proof?: string; key?: string } = {},
) {
  return app.http.inject({
    method: "POST",
    url: "/v1/transfers",
    headers: {
      ...bearer(token),
      "idempotency-key": options.key ?? idempotencyKey("step-up"),
      ...(options.proof === undefined ? {} : { "x-step-up-proof": options.proof }),
    },
    payload,
  });
}

function expectCreated(response: Reply): TransferDto {
  expect(response.statusCode, response.body).toBe(201);
  return response.json<TransferDto>();
}

async function balanceOf(customer: Payer, account = customer.account): Promise<string> {
  return (await getAccount(app, customer.token, account.id)).balances.booked.amount;
}

/** Makes `payee` known to the customer with one approved transfer of `amount`. */
async function approvedTransfer(
  customer: Payer & { authenticator: Authenticator },
  payee: AccountDto,
  amount: Amount,
): Promise<void> {
  const payment = { fromAccountId: customer.account.id, toIban: payee.iban, amount };
  const proof = await approveStepUp(
    app,
    customer.token,
    await send(customer.token, payment),
    customer.authenticator,
  );
  expectCreated(await send(customer.token, payment, { proof }));
}

describe("step-up for transfers", () => {
  it("asks for it on a new payee with a challenge that names the operation, and lets the approved retry through", async () => {
    const alice = await enrolledPayer();
    const payment = { fromAccountId: alice.account.id, toIban: payeeX.iban, amount: eur("100.00") };

    const asked = await send(alice.token, payment);
    const challengeId = stepUpChallengeOf(asked);
    expect(asked.json()).toMatchObject({
      factors: ["totp"],
      expiresAt: new Date(clock.now().getTime() + CHALLENGE_TTL_S * SECOND_MS).toISOString(),
      operation: {
        type: "transfer",
        fromAccountId: alice.account.id,
        payee: payeeX.iban,
        amount: "100.00",
        currency: "EUR",
      },
    });
    const [required] = await outboxEvents(app, "security.step_up_required", alice.customerId);
    expect(required?.data).toMatchObject({ details: { challengeId, operation: "transfer" } });

    const wrong = await answerStepUp(app, alice.token, challengeId, await alice.authenticator.wrongCode());
    expectProblem(wrong, 422, "factor-rejected");
    expect(wrong.json()).toMatchObject({ attemptsRemaining: 4 });

    const approved = await answerStepUp(app, alice.token, challengeId, await alice.authenticator.freshCode());
    expect(approved.statusCode, approved.body).toBe(200);
    const { proof } = approved.json<{ proof: string; expiresAt: string }>();
    const again = await answerStepUp(app, alice.token, challengeId, await alice.authenticator.freshCode());
    expectProblem(again, 422, "challenge-invalid");

    const transfer = expectCreated(await send(alice.token, payment, { proof }));
    expect(transfer).toMatchObject({ toIban: payeeX.iban, amount: eur("100.00") });
    expect(await balanceOf(alice)).toBe("900.00");
  });

  it("locks the authenticator app after 5 wrong codes, as at sign-in, and then refuses the right code", async () => {
    const alice = await enrolledPayer();
    const payment = { fromAccountId: alice.account.id, toIban: payeeX.iban, amount: eur("40.00") };
    const challengeId = stepUpChallengeOf(await send(alice.token, payment));
    const wrong = await alice.authenticator.wrongCode();

    const replies: Reply[] = [];
    for (let attempt = 1; attempt <= 5; attempt++)
      replies.push(await answerStepUp(app, alice.token, challengeId, wrong));
    expect(
      replies.slice(0, 4).map((reply) => reply.json<{ attemptsRemaining: number }>().attemptsRemaining),
    ).toEqual([4, 3, 2, 1]);
    // The 5th failure locks the factor, so it answers 423 like /v1/auth/login and /v1/auth/login/mfa do.
    expect(replies.map((reply) => reply.statusCode)).toEqual([422, 422, 422, 422, 423]);
    expectProblem(replies[4] as Reply, 423, "factor-locked");
    const right = await answerStepUp(app, alice.token, challengeId, await alice.authenticator.freshCode());
    expectProblem(right, 423, "factor-locked");
    expect(await balanceOf(alice)).toBe("1000.00");
  });

  it("refuses the proof approved for 100 EUR to X for 101 EUR, for payee Y, from another account, twice and after expiry", async () => {
    const alice = await enrolledPayer();
    const savings = await openAccount(app, alice.token, "savings");
    const approvedPayment = { fromAccountId: alice.account.id, toIban: payeeX.iban, amount: eur("100.00") };
    const proof = await approveStepUp(
      app,
      alice.token,
      await send(alice.token, approvedPayment),
      alice.authenticator,
    );

    const altered = [
      { ...approvedPayment, amount: eur("101.00") },
      { ...approvedPayment, toIban: payeeY.iban },
      { ...approvedPayment, fromAccountId: savings.id },
    ];
    for (const payment of altered) {
      expectProblem(await send(alice.token, payment, { proof }), 422, "challenge-invalid");
    }
    expect(await balanceOf(alice)).toBe("1000.00");

    // The refusals did not spend the proof: it still approves exactly its own operation, once.
    expectCreated(await send(alice.token, approvedPayment, { proof }));
    expectProblem(await send(alice.token, approvedPayment, { proof }), 422, "challenge-invalid");
    expect(await balanceOf(alice)).toBe("900.00");

    const toY = { ...approvedPayment, toIban: payeeY.iban, amount: eur("50.00") };
    const lateProof = await approveStepUp(
      app,
      alice.token,
      await send(alice.token, toY),
      alice.authenticator,
    );
    const unanswered = stepUpChallengeOf(await send(alice.token, { ...toY, amount: eur("60.00") }));
    clock.advance((CHALLENGE_TTL_S + 1) * SECOND_MS);
    expectProblem(await send(alice.token, toY, { proof: lateProof }), 422, "challenge-invalid");
    const tooLate = await answerStepUp(app, alice.token, unanswered, await alice.authenticator.freshCode());
    expectProblem(tooLate, 422, "challenge-invalid");
    expect(await balanceOf(alice)).toBe("900.00");
  });

  it("refuses a proof in another customer's request and in another session of the same customer", async () => {
    const alice = await enrolledPayer();
    const bob = await enrolledPayer();
    const payment = { fromAccountId: alice.account.id, toIban: payeeX.iban, amount: eur("20.00") };
    const proof = await approveStepUp(
      app,
      alice.token,
      await send(alice.token, payment),
      alice.authenticator,
    );

    const bobsPayment = { ...payment, fromAccountId: bob.account.id };
    expectProblem(await send(bob.token, bobsPayment, { proof }), 422, "challenge-invalid");
    const alicesPhone = await loginWithTotp(app, alice.email, alice.authenticator, phone("alice-phone"));
    expectProblem(await send(alicesPhone.accessToken, payment, { proof }), 422, "challenge-invalid");
    expect([await balanceOf(alice), await balanceOf(bob)]).toEqual(["1000.00", "1000.00"]);

    expectCreated(await send(alice.token, payment, { proof }));
  });

  it("lets €5 payments to a payee approved before pass without step-up, until the 6th", async () => {
    const alice = await enrolledPayer();
    const small = { fromAccountId: alice.account.id, toIban: payeeX.iban, amount: eur("5.00") };
    // Not known yet: even 5 EUR needs step-up.
    stepUpChallengeOf(await send(alice.token, small));
    await approvedTransfer(alice, payeeX, eur("5.00"));
    stepUpChallengeOf(await send(alice.token, { ...small, toIban: payeeY.iban }));

    for (let payment = 1; payment <= 5; payment++) expectCreated(await send(alice.token, small));
    const sixth = await send(alice.token, small);
    stepUpChallengeOf(sixth);
    expect(sixth.json()).toMatchObject({ operation: { amount: "5.00", payee: payeeX.iban } });
    expect(await balanceOf(alice)).toBe("970.00");

    // The strong authentication of the 6th starts the counts again.
    const proof = await approveStepUp(app, alice.token, sixth, alice.authenticator);
    expectCreated(await send(alice.token, small, { proof }));
    expectCreated(await send(alice.token, small));
    expect(await balanceOf(alice)).toBe("960.00");
  });

  it("lets small payments to a known payee pass until their sum would exceed €100", async () => {
    const alice = await enrolledPayer();
    await approvedTransfer(alice, payeeX, eur("10.00"));
    const to = (amount: string) => ({
      fromAccountId: alice.account.id,
      toIban: payeeX.iban,
      amount: eur(amount),
    });

    // Four payments summing to exactly 100.00: below the count of 5, at the cumulative limit.
    for (const amount of ["30.00", "30.00", "30.00", "10.00"])
      expectCreated(await send(alice.token, to(amount)));
    stepUpChallengeOf(await send(alice.token, to("1.00")));
    expect(await balanceOf(alice)).toBe("890.00");
  });

  it("asks for step-up above €30 even to a known payee", async () => {
    const alice = await enrolledPayer();
    await approvedTransfer(alice, payeeX, eur("1.00"));
    const to = (amount: string) => ({
      fromAccountId: alice.account.id,
      toIban: payeeX.iban,
      amount: eur(amount),
    });

    const above = await send(alice.token, to("30.01"));
    stepUpChallengeOf(above);
    expect(above.json()).toMatchObject({ operation: { amount: "30.01" } });
    expectCreated(await send(alice.token, to("30.00")));
  });

  it("never asks for transfers between the customer's own accounts", async () => {
    const alice = await enrolledPayer();
    const savings = await openAccount(app, alice.token, "savings");
    expectCreated(
      await send(alice.token, {
        fromAccountId: alice.account.id,
        toIban: savings.iban,
        amount: eur("500.00"),
      }),
    );
    expectCreated(
      await send(alice.token, {
        fromAccountId: savings.id,
        toIban: alice.account.iban,
        amount: eur("400.00"),
      }),
    );
    expect([await balanceOf(alice), await balanceOf(alice, savings)]).toEqual(["900.00", "100.00"]);
    expect(await outboxEvents(app, "security.step_up_required", alice.customerId)).toEqual([]);
  });

  it("replays an approved transfer under the same Idempotency-Key without asking again", async () => {
    const alice = await enrolledPayer();
    const payment = { fromAccountId: alice.account.id, toIban: payeeX.iban, amount: eur("75.00") };
    const key = idempotencyKey("approved");
    const proof = await approveStepUp(
      app,
      alice.token,
      await send(alice.token, payment, { key }),
      alice.authenticator,
    );
    const first = expectCreated(await send(alice.token, payment, { key, proof }));

    const replay = expectCreated(await send(alice.token, payment, { key }));
    expect(replay).toEqual(first);
    expect(await outboxEvents(app, "security.step_up_required", alice.customerId)).toHaveLength(1);
    // The key is no way around step-up for another payment.
    const other = await send(alice.token, { ...payment, amount: eur("750.00") }, { key });
    expectProblem(other, 422, "idempotency-key-reused");
    expect(await balanceOf(alice)).toBe("925.00");
  });

  it("tells a customer without a second factor to enrol one", async () => {
    const carol = await payer();
    const payment = { fromAccountId: carol.account.id, toIban: payeeX.iban, amount: eur("5.00") };
    const asked = await send(carol.token, payment);
    expectProblem(asked, 401, "step-up-required");
    expect(asked.json()).toMatchObject({ challengeId: null, factors: [], operation: { type: "transfer" } });
    expect(await balanceOf(carol)).toBe("1000.00");
  });
});

describe("step-up for profile and credential changes", () => {
  function patchMe(token: string, payload: Record<string, unknown>, proof?: string) {
    return app.http.inject({
      method: "PATCH",
      url: "/v1/customers/me",
      headers: { ...bearer(token), ...(proof === undefined ? {} : { "x-step-up-proof": proof }) },
      payload,
    });
  }

  function putEmail(token: string, email: string, proof?: string) {
    return app.http.inject({
      method: "PUT",
      url: "/v1/auth/email",
      headers: { ...bearer(token), ...(proof === undefined ? {} : { "x-step-up-proof": proof }) },
      payload: { email },
    });
  }

  function changePassword(token: string, newPassword: string, proof?: string) {
    return app.http.inject({
      method: "POST",
      url: "/v1/auth/password",
      headers: { ...bearer(token), ...(proof === undefined ? {} : { "x-step-up-proof": proof }) },
      payload: { currentPassword: PASSWORD, newPassword },
    });
  }

  function me(token: string) {
    return app.http.inject({ method: "GET", url: "/v1/customers/me", headers: bearer(token) });
  }

  it("asks for it on a new phone number, bound to that number, but not for the language alone", async () => {
    const alice = await enrolledPayer();
    const language = await patchMe(alice.token, { preferredLanguage: "de-DE" });
    expect(language.statusCode, language.body).toBe(200);

    const asked = await patchMe(alice.token, { phone: "+4915112345678" });
    stepUpChallengeOf(asked);
    expect(asked.json()).toMatchObject({ operation: { type: "change_phone", phone: "+4915112345678" } });
    const proof = await approveStepUp(app, alice.token, asked, alice.authenticator);
    expectProblem(await patchMe(alice.token, { phone: "+4915199999999" }, proof), 422, "challenge-invalid");

    const changed = await patchMe(alice.token, { phone: "+4915112345678" }, proof);
    expect(changed.statusCode, changed.body).toBe(200);
    expect(changed.json()).toMatchObject({ phone: "+4915112345678", preferredLanguage: "de-DE" });
    // Sending the number it already has changes nothing, so there is nothing to approve.
    expect((await patchMe(alice.token, { phone: "+4915112345678" })).statusCode).toBe(200);
  });

  it("asks for it on a new e-mail address, bound to that address", async () => {
    const alice = await enrolledPayer();
    const wanted = uniqueEmail("moved");
    const asked = await putEmail(alice.token, wanted);
    stepUpChallengeOf(asked);
    expect(asked.json()).toMatchObject({ operation: { type: "change_email", email: wanted } });
    const proof = await approveStepUp(app, alice.token, asked, alice.authenticator);
    expectProblem(await putEmail(alice.token, uniqueEmail("other"), proof), 422, "challenge-invalid");

    const changed = await putEmail(alice.token, wanted, proof);
    expect(changed.statusCode, changed.body).toBe(204);
    expect((await me(alice.token)).json()).toMatchObject({ email: wanted });
    // The new address signs in (and asks for the second factor on this new device); the old one does not.
    mfaChallengeOf(await attemptLogin(app, wanted, {}));
    expectProblem(await attemptLogin(app, alice.email, {}), 401, "unauthorized");
  });

  it("asks a customer without a second factor to enrol one before changing the e-mail address", async () => {
    const carol = await payer();
    const asked = await putEmail(carol.token, uniqueEmail("moved"));
    expectProblem(asked, 401, "step-up-required");
    expect(asked.json()).toMatchObject({ challengeId: null, factors: [] });
  });

  it("asks for it on a password change, which ends every other session at once but not the current one", async () => {
    const { email, tokens: web } = await signedInCustomer(app);
    const other = await login(app, email, PASSWORD, phone("old-phone"));
    const { authenticator } = await enrolTotp(app, web.accessToken, clock);
    const newPassword = "harbour lantern drifts slowly 42";

    const asked = await changePassword(web.accessToken, newPassword);
    stepUpChallengeOf(asked);
    expect(asked.json()).toMatchObject({ operation: { type: "change_password" } });
    expect((await me(other.accessToken)).statusCode).toBe(200);

    const proof = await approveStepUp(app, web.accessToken, asked, authenticator);
    const changed = await changePassword(web.accessToken, newPassword, proof);
    expect(changed.statusCode, changed.body).toBe(204);

    expectProblem(await me(other.accessToken), 401, "unauthorized");
    const refreshed = await app.http.inject({
      method: "POST",
      url: "/v1/auth/refresh",
      payload: { refreshToken: other.refreshToken },
    });
    expectProblem(refreshed, 401, "unauthorized");
    expect((await me(web.accessToken)).statusCode).toBe(200);

    expectProblem(await attemptLogin(app, email, {}), 401, "unauthorized");
    mfaChallengeOf(await attemptLogin(app, email, {}, newPassword));
  });
});

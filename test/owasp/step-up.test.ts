import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TOTP_PERIOD_S, totpCode } from "../../src/modules/identity/totp.ts";
import { ManualClock } from "../../src/platform/clock.ts";
import type { TestApp } from "../helpers/test-app.ts";
import { bearer, expectProblem } from "../identity.helpers.ts";
import {
  type AccountDto,
  type Customer,
  deposit,
  eur,
  idempotencyKey,
  newCustomer,
  newStaff,
  openAccount,
  snapshot,
} from "../payments/payments.helpers.ts";
import { comparable, createOwaspApp, neverIssuedId } from "./routes.ts";

/**
 * OWASP API1 on strong customer authentication: a step-up challenge and its proof belong to one
 * customer's session, and stepping up never opens someone else's account.
 */

// On a step boundary, far from the real time: codes are computed for exactly this clock.
const clock = new ManualClock(new Date("2031-09-01T09:00:00Z"));
const NEXT_TOTP_STEP_MS = TOTP_PERIOD_S * 1000;

interface Enrolled extends Customer {
  account: AccountDto;
  /** The authenticator app's secret, as the customer's phone knows it. */
  secret: string;
}

let app: TestApp;
let alice: Enrolled;
let bob: Enrolled;
let carol: Customer & { account: AccountDto };

beforeAll(async () => {
  app = await createOwaspApp(clock, { OMNICORE_STEP_UP: "required" });
  const teller = await newStaff(app, "teller");
  alice = await enrolled();
  bob = await enrolled();
  const third = await newCustomer(app);
  carol = { ...third, account: await openAccount(app, third.token) };
  await deposit(app, teller.token, alice.account.id, eur("100.00"));
});

afterAll(async () => {
  await app?.destroy();
});

/** A customer with an account and an authenticator app (the first factor needs no step-up). */
async function enrolled(): Promise<Enrolled> {
  const customer = await newCustomer(app);
  const account = await openAccount(app, customer.token);
  const started = await app.http.inject({
    method: "POST",
    url: "/v1/auth/mfa/totp",
    headers: bearer(customer.token),
  });
  expect(started.statusCode, started.body).toBe(200);
  const { secret } = started.json<{ secret: string }>();
  const confirmed = await app.http.inject({
    method: "POST",
    url: "/v1/auth/mfa/totp/confirm",
    headers: bearer(customer.token),
    payload: { code: await totpCode(secret, clock.now()) },
  });
  expect(confirmed.statusCode, confirmed.body).toBe(200);
  return { ...customer, account, secret };
}

function transferWith(token: string, payload: Record<string, unknown>, proof?: string) {
  return app.http.inject({
    method: "POST",
    url: "/v1/transfers",
    headers: {
      ...bearer(token),
      "idempotency-key": idempotencyKey("step-up"),
      ...(proof === undefined ? {} : { "x-step-up-proof": proof }),
    },
    payload,
  });
}

function approve(token: string, challengeId: string, totp: string) {
  return app.http.inject({
    method: "POST",
    url: `/v1/auth/step-up/${challengeId}`,
    headers: bearer(token),
    payload: { totp },
  });
}

async function challengeOf(response: Awaited<ReturnType<typeof transferWith>>): Promise<string> {
  expectProblem(response, 401, "step-up-required");
  const { challengeId } = response.json<{ challengeId: string | null }>();
  expect(challengeId).toMatch(/^chl_[0-9a-f]{32}$/);
  return challengeId!;
}

function balances() {
  return snapshot(app, [
    { token: alice.token, accountId: alice.account.id },
    { token: bob.token, accountId: bob.account.id },
    { token: carol.token, accountId: carol.account.id },
  ]);
}

describe("API1 on step-up challenges and proofs", () => {
  it("B cannot answer A's challenge, even with A's current code, and A's challenge survives B's tries", async () => {
    const payment = { fromAccountId: alice.account.id, toIban: carol.account.iban, amount: eur("5.00") };
    const challengeId = await challengeOf(await transferWith(alice.token, payment));
    // A new step: the codes used to enrol are spent.
    clock.advance(NEXT_TOTP_STEP_MS);
    const aliceCode = await totpCode(alice.secret, clock.now());

    const theirs = await approve(bob.token, challengeId, aliceCode);
    expectProblem(theirs, 422, "challenge-invalid");
    const missing = await approve(bob.token, neverIssuedId("chl"), aliceCode);
    expect(comparable(theirs)).toEqual(comparable(missing));
    const withOwnCode = await approve(bob.token, challengeId, await totpCode(bob.secret, clock.now()));
    expectProblem(withOwnCode, 422, "challenge-invalid");

    const approved = await approve(alice.token, challengeId, aliceCode);
    expect(approved.statusCode, approved.body).toBe(200);
    const { proof } = approved.json<{ proof: string }>();

    // B presenting A's proof for the very operation it approves: refused (A's account is not
    // B's, which is checked first), and the proof is not spent.
    const stolen = await transferWith(bob.token, payment, proof);
    expectProblem(stolen, 404, "not-found");
    const forged = await transferWith(bob.token, payment, `${neverIssuedId("chl")}.forged`);
    expect(comparable(stolen)).toEqual(comparable(forged));
    const done = await transferWith(alice.token, payment, proof);
    expect(done.statusCode, done.body).toBe(201);
  });

  it("B transferring out of A's account gets 404 as for a missing account, before any step-up", async () => {
    const before = await balances();
    const payment = { fromAccountId: alice.account.id, toIban: carol.account.iban, amount: eur("5.00") };
    const theirs = await transferWith(bob.token, payment);
    expectProblem(theirs, 404, "not-found");
    // The same answer for an account that does not exist, and no challenge to approve.
    const missing = await transferWith(bob.token, { ...payment, fromAccountId: neverIssuedId("acc") });
    expect(comparable(theirs)).toEqual(comparable(missing));

    // Into B's own account a transfer needs no step-up: it goes straight to the ownership check.
    const toOwn = await transferWith(bob.token, { ...payment, toIban: bob.account.iban });
    expectProblem(toOwn, 404, "not-found");
    expect(await balances()).toEqual(before);
  });
});

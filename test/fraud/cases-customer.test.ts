import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CaseContext } from "../../src/modules/fraud/cases/index.ts";
import { ManualClock } from "../../src/platform/clock.ts";
import type { TestApp } from "../helpers/test-app.ts";
import { type Authenticator, enrolTotp } from "../identity/factors.helpers.ts";
import { auditRecords, bearer, expectProblem, outboxEvents } from "../identity.helpers.ts";
import {
  deposit,
  eur,
  idempotencyKey,
  newCustomer,
  newStaff,
  openAccount,
  type StaffMember,
} from "../payments/payments.helpers.ts";
import {
  balancesOf,
  createCasesApp,
  holdNewPayees,
  queue,
  staffRequest,
  transferOf,
} from "./cases.helpers.ts";

/**
 * The customer's "it was me": they confirm their own held payment with step-up bound to that
 * payment. A low-risk case is released at once; above OMNICORE_FRAUD_SELF_RELEASE_MAX_SCORE the
 * confirmation is noted and the case waits for an investigator.
 */

// On a time step boundary, far from the real time: TOTP codes are computed for this clock.
const clock = new ManualClock(new Date("2031-05-05T09:00:00Z"));
const SELF_RELEASE_MAX_SCORE = 60;

let app: TestApp;
let investigator: StaffMember;
let teller: StaffMember;

beforeAll(async () => {
  app = await createCasesApp({
    clock,
    env: {
      OMNICORE_STEP_UP: "required",
      OMNICORE_FRAUD_SELF_RELEASE_MAX_SCORE: String(SELF_RELEASE_MAX_SCORE),
    },
  });
  investigator = await newStaff(app, "fraud_investigator");
  teller = await newStaff(app, "teller");
});

afterAll(async () => {
  await app?.destroy();
});

interface Payer {
  customerId: string;
  token: string;
  accountId: string;
  authenticator: Authenticator;
}

interface Held {
  payer: Payer;
  payee: { token: string; accountId: string };
  transferId: string;
  caseId: string;
}

type Reply = Awaited<ReturnType<TestApp["http"]["inject"]>>;

async function payer(): Promise<Payer> {
  const customer = await newCustomer(app);
  const { authenticator } = await enrolTotp(app, customer.token, clock);
  const account = await openAccount(app, customer.token);
  await deposit(app, teller.token, account.id, eur("100.00"));
  return { customerId: customer.customerId, token: customer.token, accountId: account.id, authenticator };
}

/** Answers the step-up challenge of `response` with a fresh code; returns the proof. */
async function approve(who: Payer, response: Reply): Promise<string> {
  expectProblem(response, 401, "step-up-required");
  const { challengeId } = response.json<{ challengeId: string }>();
  const approved = await app.http.inject({
    method: "POST",
    url: `/v1/auth/step-up/${challengeId}`,
    headers: bearer(who.token),
    payload: { totp: await who.authenticator.freshCode() },
  });
  expect(approved.statusCode, approved.body).toBe(200);
  return approved.json<{ proof: string }>().proof;
}

/** Pays 25.00 to a new payee, approving the payment itself with step-up; the engine holds it. */
async function heldWithScore(score: number, existing?: Payer): Promise<Held> {
  await holdNewPayees(app, score);
  const who = existing ?? (await payer());
  const payee = await newCustomer(app);
  const payeeAccount = await openAccount(app, payee.token);
  const key = idempotencyKey("held");
  const send = (proof?: string) =>
    app.http.inject({
      method: "POST",
      url: "/v1/transfers",
      headers: {
        ...bearer(who.token),
        "idempotency-key": key,
        ...(proof ? { "x-step-up-proof": proof } : {}),
      },
      payload: { fromAccountId: who.accountId, toIban: payeeAccount.iban, amount: eur("25.00") },
    });
  const response = await send(await approve(who, await send()));
  expect(response.statusCode, response.body).toBe(202);
  const transferId = response.json<{ id: string }>().id;
  const { items } = await queue(app, investigator.token, "?limit=200");
  const opened = items.find((item) => item.transferId === transferId);
  if (!opened) throw new Error(`no case for ${transferId}`);
  expect(opened.riskScore).toBe(score);
  return {
    payer: who,
    payee: { token: payee.token, accountId: payeeAccount.id },
    transferId,
    caseId: opened.id,
  };
}

function confirm(who: { token: string }, transferId: string, proof?: string) {
  return app.http.inject({
    method: "POST",
    url: `/v1/transfers/${transferId}/confirm`,
    headers: { ...bearer(who.token), ...(proof ? { "x-step-up-proof": proof } : {}) },
  });
}

async function caseContext(caseId: string): Promise<CaseContext> {
  const response = await staffRequest(app, investigator.token, "GET", `/v1/staff/cases/${caseId}`);
  expect(response.statusCode, response.body).toBe(200);
  return response.json<CaseContext>();
}

describe("confirming a held payment", () => {
  it("needs step-up bound to exactly this payment, then releases a case at or under the limit", async () => {
    const held = await heldWithScore(40);
    const challenge = await confirm(held.payer, held.transferId);
    expectProblem(challenge, 401, "step-up-required");
    expect(challenge.json<{ operation: unknown }>().operation).toEqual({
      type: "release_held_transfer",
      transferId: held.transferId,
    });
    const proof = await approve(held.payer, challenge);

    // The proof approves this payment only: another held payment of the same customer refuses it.
    const other = await heldWithScore(40, held.payer);
    expectProblem(await confirm(held.payer, other.transferId, proof), 422, "challenge-invalid");

    const released = await confirm(held.payer, held.transferId, proof);
    expect(released.statusCode, released.body).toBe(200);
    expect(released.json()).toMatchObject({
      outcome: "released",
      transferId: held.transferId,
      status: "settled",
    });
    expect((await transferOf(app, held.payer.token, held.transferId)).status).toBe("settled");
    expect(await balancesOf(app, held.payee.token, held.payee.accountId)).toEqual({
      booked: "25.00",
      available: "25.00",
    });
    const context = await caseContext(held.caseId);
    expect(context.case).toMatchObject({ status: "released_by_customer", decidedBy: held.payer.customerId });
    expect(context.case.customerConfirmedAt).not.toBeNull();
    expect(await outboxEvents(app, "fraud.case_released_by_customer", held.caseId)).toHaveLength(1);
    expect(
      (await auditRecords(app, "fraud.case_released_by_customer")).map((row) => row.subject_id),
    ).toContain(held.caseId);

    // Asking again changes nothing and answers the same, without another step-up.
    const again = await confirm(held.payer, held.transferId);
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json()).toMatchObject({ outcome: "released", status: "settled" });
  });

  it("above the limit notes the confirmation for the investigator and keeps the payment held (202)", async () => {
    const held = await heldWithScore(SELF_RELEASE_MAX_SCORE + 20);
    const proof = await approve(held.payer, await confirm(held.payer, held.transferId));
    const noted = await confirm(held.payer, held.transferId, proof);
    expect(noted.statusCode, noted.body).toBe(202);
    expect(noted.json()).toEqual({
      outcome: "under_review",
      transferId: held.transferId,
      status: "pending_review",
    });
    expect((await transferOf(app, held.payer.token, held.transferId)).status).toBe("pending_review");
    expect(await balancesOf(app, held.payer.token, held.payer.accountId)).toEqual({
      booked: "100.00",
      available: "75.00",
    });
    const context = await caseContext(held.caseId);
    expect(context.case.status).toBe("open");
    expect(context.case.customerConfirmedAt).not.toBeNull();
    expect(context.notes).toEqual([
      expect.objectContaining({ authorType: "customer", authorId: held.payer.customerId }),
    ]);
    expect(await outboxEvents(app, "fraud.case_customer_confirmed", held.caseId)).toHaveLength(1);

    // A second confirmation adds nothing; the investigator still decides.
    const again = await confirm(held.payer, held.transferId);
    expect(again.statusCode).toBe(202);
    expect((await caseContext(held.caseId)).notes).toHaveLength(1);
    const release = await staffRequest(
      app,
      investigator.token,
      "POST",
      `/v1/staff/cases/${held.caseId}/release`,
    );
    expect(release.statusCode, release.body).toBe(200);
  });

  it("answers another customer's payment exactly like one that does not exist (404), and leaves it held", async () => {
    const held = await heldWithScore(40);
    const intruder = await payer();
    const theirs = await confirm(intruder, held.transferId);
    expectProblem(theirs, 404, "not-found");
    const missing = await confirm(intruder, `trf_${"0f".repeat(16)}`);
    expect(missing.json<{ detail: string }>().detail).toBe(theirs.json<{ detail: string }>().detail);
    expect((await caseContext(held.caseId)).case.status).toBe("open");
  });

  it("answers 404 for an own payment that is not held, and 409 once the bank decided", async () => {
    const held = await heldWithScore(40);
    const rejected = await staffRequest(
      app,
      investigator.token,
      "POST",
      `/v1/staff/cases/${held.caseId}/reject`,
      {
        reasonCode: "suspected_fraud",
      },
    );
    expect(rejected.statusCode, rejected.body).toBe(200);
    expectProblem(await confirm(held.payer, held.transferId), 409, "conflict");
    expectProblem(await confirm(held.payer, `trf_${"0f".repeat(16)}`), 404, "not-found");
  });
});

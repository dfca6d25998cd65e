import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CaseActionResult, CaseContext } from "../../src/modules/fraud/cases/index.ts";
import { ManualClock } from "../../src/platform/clock.ts";
import type { TestApp } from "../helpers/test-app.ts";
import { auditRecords, bearer, expectProblem, outboxEvents } from "../identity.helpers.ts";
import {
  eur,
  newCustomer,
  newStaff,
  openAccount,
  type StaffMember,
  transferRequest,
} from "../payments/payments.helpers.ts";
import {
  balancesOf,
  createCasesApp,
  type HeldPayment,
  heldPayment,
  holdNewPayees,
  staffRequest,
  transferOf,
} from "./cases.helpers.ts";

/**
 * What an investigator's decision does, each in one transaction with the payment's change, the
 * audit record and the event: release (the money moves), reject (the hold goes, the customer sees
 * the reason) and confirm fraud (the payment is rejected, the customer is signed out everywhere,
 * their accounts are frozen and they are notified).
 */

const clock = new ManualClock(new Date("2031-04-04T09:00:00Z"));

let app: TestApp;
let investigator: StaffMember;
let teller: StaffMember;
let admin: StaffMember;

beforeAll(async () => {
  app = await createCasesApp({ clock });
  investigator = await newStaff(app, "fraud_investigator");
  teller = await newStaff(app, "teller");
  admin = await newStaff(app, "admin");
  await holdNewPayees(app, 70);
});

afterAll(async () => {
  await app?.destroy();
});

function held(): Promise<HeldPayment> {
  return heldPayment(app, teller.token, investigator.token);
}

async function act(caseId: string, action: string, payload?: Record<string, unknown>) {
  return staffRequest(app, investigator.token, "POST", `/v1/staff/cases/${caseId}/${action}`, payload);
}

async function metricsText(): Promise<string> {
  const response = await app.http.inject({ method: "GET", url: "/metrics" });
  expect(response.statusCode).toBe(200);
  return response.body;
}

function metricValue(text: string, line: string): number {
  const match = text.split("\n").find((candidate) => candidate.startsWith(`${line} `));
  return match ? Number(match.slice(line.length + 1)) : 0;
}

describe("a held payment", () => {
  it("keeps its amount held and opens a case with the decision's score and reasons", async () => {
    const payment = await held();
    expect(await balancesOf(app, payment.payer.token, payment.payer.accountId)).toEqual({
      booked: "100.00",
      available: "75.00",
    });
    const response = await staffRequest(app, investigator.token, "GET", `/v1/staff/cases/${payment.caseId}`);
    const context = response.json<CaseContext>();
    expect(context.case).toMatchObject({
      transferId: payment.transferId,
      riskScore: 70,
      reasons: ["new_payee"],
    });
    expect(context.decision).toMatchObject({
      id: context.case.decisionId,
      outcome: "hold",
      reasons: ["new_payee"],
    });
    expect(context.payment).toMatchObject({ id: payment.transferId, status: "pending_review" });
    expect(context.profile).toMatchObject({ customerId: payment.payer.customerId });
  });
});

describe("release", () => {
  it("lets the payment proceed: settled, money moved, audited with before and after, published", async () => {
    const payment = await held();
    const before = await metricsText();
    clock.advance(90_000);
    const response = await act(payment.caseId, "release");
    expect(response.statusCode, response.body).toBe(200);
    const result = response.json<CaseActionResult>();
    expect(result.case).toMatchObject({ status: "released", decidedBy: investigator.id });
    expect(result.paymentStatus).toBe("settled");
    expect((await transferOf(app, payment.payer.token, payment.transferId)).status).toBe("settled");
    expect(await balancesOf(app, payment.payer.token, payment.payer.accountId)).toEqual({
      booked: "75.00",
      available: "75.00",
    });
    expect(await balancesOf(app, payment.payee.token, payment.payee.accountId)).toEqual({
      booked: "25.00",
      available: "25.00",
    });
    const [event] = await outboxEvents(app, "fraud.case_released", payment.caseId);
    expect(event?.data).toMatchObject({ statusBefore: "open", statusAfter: "released" });
    const audited = (await auditRecords(app, "fraud.case_released")).find(
      (row) => row.subject_id === payment.caseId,
    );
    expect(audited).toMatchObject({ actor_id: investigator.id });
    expect(audited?.details).toMatchObject({ statusBefore: "open", statusAfter: "released" });
    const after = await metricsText();
    const resolved = 'omnicore_fraud_cases_resolved_total{action="release"}';
    expect(metricValue(after, resolved) - metricValue(before, resolved)).toBe(1);
    const waited = 'omnicore_fraud_hold_to_decision_seconds_sum{action="release"}';
    expect(metricValue(after, waited) - metricValue(before, waited)).toBe(90);
  });
});

describe("reject", () => {
  it("releases the hold and rejects the payment with the reason the customer sees", async () => {
    const payment = await held();
    const response = await act(payment.caseId, "reject", {
      reasonCode: "suspected_scam",
      note: "Payee is a known mule.",
    });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json<CaseActionResult>().case).toMatchObject({
      status: "rejected",
      resolutionReason: "suspected_scam",
    });
    const seen = await transferOf(app, payment.payer.token, payment.transferId);
    expect(seen).toMatchObject({ status: "rejected", statusReason: "suspected_scam" });
    expect(await balancesOf(app, payment.payer.token, payment.payer.accountId)).toEqual({
      booked: "100.00",
      available: "100.00",
    });
    expect(await balancesOf(app, payment.payee.token, payment.payee.accountId)).toEqual({
      booked: "0.00",
      available: "0.00",
    });
    const context = await staffRequest(app, investigator.token, "GET", `/v1/staff/cases/${payment.caseId}`);
    expect(context.json<CaseContext>().notes.map((note) => note.text)).toEqual(["Payee is a known mule."]);
    expect(await outboxEvents(app, "fraud.case_rejected", payment.caseId)).toHaveLength(1);
    expect((await auditRecords(app, "fraud.case_rejected")).map((row) => row.subject_id)).toContain(
      payment.caseId,
    );
  });

  it("takes only the reason codes the customer can be shown", async () => {
    const payment = await held();
    expectProblem(await act(payment.caseId, "reject", { reasonCode: "because" }), 400, "validation");
    expectProblem(await act(payment.caseId, "reject", { reasonCode: "fraud_confirmed" }), 400, "validation");
  });
});

describe("confirm fraud", () => {
  it("rejects the payment, signs the customer out everywhere, freezes every account and notifies them", async () => {
    const payment = await held();
    const me = () =>
      app.http.inject({ method: "GET", url: "/v1/customers/me", headers: bearer(payment.payer.token) });
    expect((await me()).statusCode).toBe(200);
    const response = await act(payment.caseId, "confirm-fraud", {
      note: "Customer says they made no payment.",
    });
    expect(response.statusCode, response.body).toBe(200);
    const result = response.json<CaseActionResult>();
    expect(result.case).toMatchObject({ status: "fraud_confirmed", resolutionReason: "fraud_confirmed" });
    expect(result.sessionsRevoked).toBeGreaterThanOrEqual(1);
    expect(result.accountsFrozen).toEqual([payment.payer.accountId]);

    // The customer's access token stops working at once.
    expectProblem(await me(), 401, "unauthorized");
    const staffView = await staffRequest(
      app,
      admin.token,
      "GET",
      `/v1/staff/accounts/${payment.payer.accountId}`,
    );
    expect(staffView.json<{ status: string }>().status).toBe("frozen");
    const customerTransfer = await app.services.payments.getTransfer(
      payment.payer.customerId,
      payment.transferId,
    );
    expect(customerTransfer).toMatchObject({ status: "rejected", statusReason: "fraud_confirmed" });
    // A frozen account takes no posting: the teller's deposit is refused, the money stays put.
    const refused = await app.http.inject({
      method: "POST",
      url: `/v1/staff/accounts/${payment.payer.accountId}/deposits`,
      headers: { ...bearer(teller.token), "idempotency-key": `frozen-${payment.caseId}` },
      payload: { amount: eur("1.00") },
    });
    expectProblem(refused, 422, "account-not-active");

    const [notification] = await outboxEvents(app, "notification.requested", payment.payer.customerId);
    expect(notification?.data).toEqual({
      customerId: payment.payer.customerId,
      category: "security",
      template: "fraud_confirmed",
    });
    expect(await outboxEvents(app, "fraud.case_fraud_confirmed", payment.caseId)).toHaveLength(1);
    expect(await outboxEvents(app, "account.frozen", payment.payer.accountId)).toHaveLength(1);
    const audited = (await auditRecords(app, "fraud.case_fraud_confirmed")).find(
      (row) => row.subject_id === payment.caseId,
    );
    expect(audited?.details).toMatchObject({ statusBefore: "open", statusAfter: "fraud_confirmed" });
    expect((await auditRecords(app, "account.frozen")).map((row) => row.subject_id)).toContain(
      payment.payer.accountId,
    );
  });
});

describe("a decided case", () => {
  it("answers 409 conflict to every further action, and nothing changes", async () => {
    const payment = await held();
    expect((await act(payment.caseId, "release")).statusCode).toBe(200);
    const balances = await balancesOf(app, payment.payer.token, payment.payer.accountId);
    expectProblem(await act(payment.caseId, "release"), 409, "conflict");
    expectProblem(await act(payment.caseId, "reject", { reasonCode: "suspected_fraud" }), 409, "conflict");
    expectProblem(await act(payment.caseId, "confirm-fraud", {}), 409, "conflict");
    expectProblem(await act(payment.caseId, "notes", { text: "late" }), 409, "conflict");
    expect(await balancesOf(app, payment.payer.token, payment.payer.accountId)).toEqual(balances);
    expect((await transferOf(app, payment.payer.token, payment.transferId)).status).toBe("settled");
  });

  it("lets exactly one of two investigators deciding at once win; the other gets 409", async () => {
    const payment = await held();
    const [release, reject] = await Promise.all([
      act(payment.caseId, "release"),
      act(payment.caseId, "reject", { reasonCode: "suspected_fraud" }),
    ]);
    expect([release.statusCode, reject.statusCode].sort()).toEqual([200, 409]);
    const status = (await transferOf(app, payment.payer.token, payment.transferId)).status;
    expect(status).toBe(release.statusCode === 200 ? "settled" : "rejected");
    const decided = [
      ...(await outboxEvents(app, "fraud.case_released", payment.caseId)),
      ...(await outboxEvents(app, "fraud.case_rejected", payment.caseId)),
    ];
    expect(decided).toHaveLength(1);
  });

  it("shows up in the queue of its status, and in the customer's later cases as an earlier one", async () => {
    const payment = await held();
    expect((await act(payment.caseId, "reject", { reasonCode: "unusual_activity" })).statusCode).toBe(200);
    const rejected = await staffRequest(
      app,
      investigator.token,
      "GET",
      "/v1/staff/cases?status=rejected&limit=200",
    );
    expect(rejected.json<{ items: Array<{ id: string }> }>().items.map((item) => item.id)).toContain(
      payment.caseId,
    );
    // The same customer pays another new payee: the new case lists the rejected one.
    const payee = await newCustomer(app);
    const payeeAccount = await openAccount(app, payee.token);
    const again = await transferRequest(app, payment.payer.token, {
      fromAccountId: payment.payer.accountId,
      toIban: payeeAccount.iban,
      amount: eur("5.00"),
    });
    expect(again.statusCode, again.body).toBe(202);
    const open = await staffRequest(app, investigator.token, "GET", "/v1/staff/cases?limit=200");
    const later = open
      .json<{ items: Array<{ id: string; transferId: string }> }>()
      .items.find((item) => item.transferId === again.json<{ id: string }>().id);
    const context = await staffRequest(app, investigator.token, "GET", `/v1/staff/cases/${later?.id}`);
    expect(context.json<CaseContext>().earlierCases).toEqual([
      expect.objectContaining({
        id: payment.caseId,
        status: "rejected",
        resolutionReason: "unusual_activity",
      }),
    ]);
  });
});

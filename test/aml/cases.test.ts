import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/platform/clock.ts";
import type { TestApp } from "../helpers/test-app.ts";
import { auditRecords, bearer, expectProblem, outboxEvents } from "../identity.helpers.ts";
import { cashRequest, eur, getAccount } from "../payments/payments.helpers.ts";
import {
  caseOf,
  caseWithAlert,
  contextOf,
  createAmlApp,
  depositAll,
  externalTransferEvent,
  holder,
  IRANIAN_IBAN,
  publish,
  queue,
  type SignedInStaff,
  staff,
  staffRequest,
} from "./aml.helpers.ts";

/**
 * The compliance queue and its actions, over HTTP: who may see it, in which order it comes, the
 * one-call context, and what each action does (audited and published in its transaction).
 */

const clock = new ManualClock(new Date("2031-07-07T09:00:00Z"));
let app: TestApp;
let teller: SignedInStaff;
let analyst: SignedInStaff;
let admin: SignedInStaff;
let investigator: SignedInStaff;

beforeAll(async () => {
  app = await createAmlApp(clock);
  teller = await staff(app, "teller");
  analyst = await staff(app, "compliance_analyst");
  admin = await staff(app, "admin");
  investigator = await staff(app, "fraud_investigator");
});

afterAll(async () => {
  await app?.destroy();
});

const QUEUE = "/v1/staff/compliance/cases";

describe("who may work the compliance queue", () => {
  it("answers 401 to a customer, 403 to a fraud investigator or teller, 200 to compliance analysts and admins", async () => {
    const customer = await holder(app);
    const { caseId } = await caseWithAlert(app, analyst.token);
    const paths = [`${QUEUE}`, `${QUEUE}/${caseId}`, "/v1/staff/compliance/rule-sets"];
    for (const path of paths) {
      expectProblem(await staffRequest(app, customer.token, "GET", path), 401, "unauthorized");
      expectProblem(await staffRequest(app, investigator.token, "GET", path), 403, "forbidden");
      expectProblem(await staffRequest(app, teller.token, "GET", path), 403, "forbidden");
      expect((await staffRequest(app, analyst.token, "GET", path)).statusCode).toBe(200);
      expect((await staffRequest(app, admin.token, "GET", path)).statusCode).toBe(200);
    }
    const close = await staffRequest(app, investigator.token, "POST", `${QUEUE}/${caseId}/close`, {
      reason: "x",
    });
    expectProblem(close, 403, "forbidden");
    // The queues are separate both ways: an analyst does not work fraud cases.
    expectProblem(await staffRequest(app, analyst.token, "GET", "/v1/staff/cases"), 403, "forbidden");
  });

  it("answers 404 for a case or report that does not exist", async () => {
    const missing = `cmc_${"0f".repeat(16)}`;
    expectProblem(await staffRequest(app, analyst.token, "GET", `${QUEUE}/${missing}`), 404, "not-found");
    const report = `/v1/staff/compliance/reports/sar_${"0f".repeat(16)}`;
    expectProblem(await staffRequest(app, analyst.token, "GET", report), 404, "not-found");
  });
});

describe("the queue", () => {
  it("lists open cases by risk (highest first), then by age (oldest first), a page at a time", async () => {
    const older = await holder(app);
    const riskier = await holder(app);
    const younger = await holder(app);
    await publish(app, [externalTransferEvent(app, older, { toIban: IRANIAN_IBAN, amount: eur("50.00") })]);
    clock.advance(60_000);
    // Three round payments to Iran: one jurisdiction alert (triggered three times) and a round-amounts alert.
    for (let payment = 0; payment < 3; payment++) {
      await publish(app, [
        externalTransferEvent(app, riskier, { toIban: IRANIAN_IBAN, amount: eur("1000.00") }),
      ]);
    }
    clock.advance(60_000);
    await publish(app, [externalTransferEvent(app, younger, { toIban: IRANIAN_IBAN, amount: eur("50.00") })]);
    const ours = new Set([older.customerId, riskier.customerId, younger.customerId]);
    const { items } = await queue(app, analyst.token);
    const listed = items.filter((item) => ours.has(item.customerId));
    expect(listed.map((item) => [item.customerId, item.riskScore])).toEqual([
      [riskier.customerId, 70],
      [older.customerId, 50],
      [younger.customerId, 50],
    ]);
    const all = items.map((item) => [item.riskScore, item.openedAt]);
    expect(all).toEqual(
      [...all].sort((a, b) => Number(b[0]) - Number(a[0]) || String(a[1]).localeCompare(String(b[1]))),
    );
    const pages: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `?limit=1${cursor ? `&cursor=${cursor}` : ""}`;
      const page = await queue(app, analyst.token, query);
      pages.push(...page.items.map((item) => item.id));
      cursor = page.nextCursor;
    } while (cursor !== null && pages.length < 100);
    expect(pages).toEqual(items.map((item) => item.id));
  });
});

describe("a case's context", () => {
  it("gives the alerts, the transactions that raised them and the customer's cross-channel picture in one call, and audits the read", async () => {
    const subject = await holder(app);
    await depositAll(app, teller.token, subject.account.id, ["9500.00", "9600.00", "9700.00"]);
    const found = await caseOf(app, analyst.token, subject.customerId);
    const context = await contextOf(app, analyst.token, found!.id);
    expect(context.case).toMatchObject({ customerId: subject.customerId, status: "open", riskScore: 40 });
    expect(context.alerts[0]).toMatchObject({ ruleCode: "structuring", ruleSetVersion: 1 });
    expect(context.transactions.map((movement) => movement.kind)).toEqual(["deposit", "deposit", "deposit"]);
    expect(context.customer).toMatchObject({ id: subject.customerId });
    expect(context.accounts.map((account) => account.iban)).toEqual([subject.account.iban]);
    expect(context.sessions.length).toBeGreaterThan(0);
    expect(context.channels.length).toBeGreaterThan(0);
    expect(context.securityEvents.length).toBeGreaterThan(0);
    expect(context.earlierCases).toEqual([]);
    const viewed = await auditRecords(app, "staff.compliance_case_viewed");
    expect(viewed.some((row) => row.subject_id === subject.customerId)).toBe(true);
  });
});

describe("actions", () => {
  it("close as false positive: the case closes with the reason as a note; a later alert opens a new case", async () => {
    const { holder: subject, caseId } = await caseWithAlert(app, analyst.token);
    const response = await staffRequest(app, analyst.token, "POST", `${QUEUE}/${caseId}/close`, {
      reason: "Payment to a relative, documented by the customer.",
    });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json().case).toMatchObject({
      status: "closed_false_positive",
      resolution: "false_positive",
    });
    const again = await staffRequest(app, analyst.token, "POST", `${QUEUE}/${caseId}/close`, {
      reason: "again",
    });
    expectProblem(again, 409, "compliance-case-closed");
    const context = await contextOf(app, analyst.token, caseId);
    expect(context.notes.map((note) => note.text)).toEqual([
      "Payment to a relative, documented by the customer.",
    ]);
    expect((await outboxEvents(app, "aml.case_closed", caseId))[0]?.data).toMatchObject({
      statusBefore: "open",
      statusAfter: "closed_false_positive",
    });
    expect((await auditRecords(app, "aml.case_closed")).some((row) => row.subject_id === caseId)).toBe(true);
    await publish(app, [externalTransferEvent(app, subject, { toIban: IRANIAN_IBAN, amount: eur("75.00") })]);
    const next = await caseOf(app, analyst.token, subject.customerId);
    expect(next?.id).not.toBe(caseId);
    expect((await contextOf(app, analyst.token, next!.id)).earlierCases.map((item) => item.id)).toEqual([
      caseId,
    ]);
  });

  it("escalate: the case moves to the escalated queue and takes notes there; it cannot be escalated twice", async () => {
    const { caseId } = await caseWithAlert(app, analyst.token);
    const response = await staffRequest(app, analyst.token, "POST", `${QUEUE}/${caseId}/escalate`, {
      note: "Pattern matches a known mule network.",
    });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json().case).toMatchObject({ status: "escalated" });
    expect((await queue(app, analyst.token)).items.map((item) => item.id)).not.toContain(caseId);
    expect((await queue(app, analyst.token, "?status=escalated")).items.map((item) => item.id)).toContain(
      caseId,
    );
    expectProblem(
      await staffRequest(app, analyst.token, "POST", `${QUEUE}/${caseId}/escalate`, {}),
      409,
      "compliance-case-closed",
    );
    const note = await staffRequest(app, admin.token, "POST", `${QUEUE}/${caseId}/notes`, {
      text: "Seen by MLRO.",
    });
    expect(note.statusCode, note.body).toBe(201);
    expect((await outboxEvents(app, "aml.case_escalated", caseId)).length).toBe(1);
    expect((await outboxEvents(app, "aml.case_note_added", caseId))[0]?.data).not.toHaveProperty("text");
  });

  it("freeze: every account of the customer is frozen in the case's transaction; the case stays open", async () => {
    const { holder: subject, caseId } = await caseWithAlert(app, analyst.token);
    const response = await staffRequest(app, analyst.token, "POST", `${QUEUE}/${caseId}/freeze`, {});
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json<{
      case: { status: string; accountsFrozenAt: string | null };
      accountsFrozen: string[];
    }>();
    expect(body.accountsFrozen).toEqual([subject.account.id]);
    expect(body.case.status).toBe("open");
    expect(body.case.accountsFrozenAt).not.toBeNull();
    expect((await getAccount(app, subject.token, subject.account.id)).status).toBe("frozen");
    const refused = await cashRequest(app, teller.token, "deposits", subject.account.id, {
      amount: eur("10.00"),
    });
    expectProblem(refused, 422, "account-not-active");
    expect((await outboxEvents(app, "account.frozen", subject.account.id))[0]?.data).toMatchObject({
      reason: "aml_investigation",
    });
    expect((await outboxEvents(app, "aml.case_accounts_frozen", caseId))[0]?.data).toMatchObject({
      accountsFrozen: [subject.account.id],
    });
  });

  it("file a report: a structured SAR export is stored and retrievable, and the case closes as reported", async () => {
    const subject = await holder(app);
    await depositAll(app, teller.token, subject.account.id, ["9500.00", "9600.00", "9700.00"]);
    const found = await caseOf(app, analyst.token, subject.customerId);
    const narrative = "Three cash deposits just under the threshold on consecutive hours; no known source.";
    const filed = await staffRequest(app, analyst.token, "POST", `${QUEUE}/${found!.id}/reports`, {
      narrative,
    });
    expect(filed.statusCode, filed.body).toBe(201);
    const report = filed.json<{
      id: string;
      document: Record<string, unknown> & { filedBy: { role: string }; transactions: unknown[] };
    }>();
    expect(report.id).toMatch(/^sar_[0-9a-f]{32}$/);
    expect(report.document).toMatchObject({
      format: "omnicore.suspicious-activity-report.v1",
      reportId: report.id,
      caseId: found!.id,
      narrative,
      subject: { customerId: subject.customerId },
      accounts: [{ id: subject.account.id, iban: subject.account.iban }],
      alerts: [{ ruleCode: "structuring", ruleSetVersion: 1 }],
      activity: { totals: [{ currency: "EUR", in: eur("28800.00"), out: eur("0.00") }] },
    });
    expect(report.document.transactions).toHaveLength(3);
    expect(report.document.filedBy.role).toBe("compliance_analyst");
    expect(report.document.filedAt).toBe(clock.now().toISOString());
    const fetched = await staffRequest(app, admin.token, "GET", `/v1/staff/compliance/reports/${report.id}`);
    expect(fetched.statusCode, fetched.body).toBe(200);
    expect(fetched.json().document).toEqual(report.document);
    const context = await contextOf(app, analyst.token, found!.id);
    expect(context.case).toMatchObject({ status: "reported", resolution: "reported", reportId: report.id });
    expectProblem(
      await staffRequest(app, analyst.token, "POST", `${QUEUE}/${found!.id}/reports`, { narrative }),
      409,
      "compliance-case-closed",
    );
    expect((await outboxEvents(app, "aml.report_filed", found!.id))[0]?.data).toMatchObject({
      reportId: report.id,
    });
    expect((await auditRecords(app, "aml.report_filed")).some((row) => row.subject_id === found!.id)).toBe(
      true,
    );
  });

  it("refuses unknown fields and empty narratives", async () => {
    const { caseId } = await caseWithAlert(app, analyst.token);
    const extra = await staffRequest(app, analyst.token, "POST", `${QUEUE}/${caseId}/close`, {
      reason: "ok",
      status: "reported",
    });
    expectProblem(extra, 400, "validation");
    const empty = await staffRequest(app, analyst.token, "POST", `${QUEUE}/${caseId}/reports`, {
      narrative: "",
    });
    expectProblem(empty, 400, "validation");
  });
});

describe("rule sets", () => {
  it("v1 is seeded and active; an analyst creates and activates v2, and money events are evaluated with it at once", async () => {
    const listed = await staffRequest(app, analyst.token, "GET", "/v1/staff/compliance/rule-sets");
    expect(listed.json().items.at(-1)).toMatchObject({ version: 1, active: true, createdBy: "system:seed" });
    const active = (
      await staffRequest(app, analyst.token, "GET", "/v1/staff/compliance/rule-sets/active")
    ).json();
    const rules = active.rules.map((rule: Record<string, unknown>) =>
      rule.kind === "structuring" ? { ...rule, countMin: 2 } : rule,
    );
    const created = await staffRequest(app, analyst.token, "POST", "/v1/staff/compliance/rule-sets", {
      currency: "EUR",
      rules,
    });
    expect(created.statusCode, created.body).toBe(201);
    const version = created.json().version;
    expect(created.json().active).toBe(false);
    const activated = await staffRequest(
      app,
      analyst.token,
      "POST",
      `/v1/staff/compliance/rule-sets/${version}/activate`,
    );
    expect(activated.json()).toMatchObject({ version, active: true });
    const subject = await holder(app);
    await depositAll(app, teller.token, subject.account.id, ["9500.00", "9600.00"]);
    const found = await caseOf(app, analyst.token, subject.customerId);
    expect((await contextOf(app, analyst.token, found!.id)).alerts[0]).toMatchObject({
      ruleCode: "structuring",
      ruleSetVersion: version,
    });
    expect((await outboxEvents(app, "aml.rule_set_activated", `aml-rule-set-${version}`)).length).toBe(1);
    // Back to v1 for whatever runs after.
    await staffRequest(app, analyst.token, "POST", "/v1/staff/compliance/rule-sets/1/activate");
  });

  it("refuses an invalid rule set with the problems named, and a version that does not exist", async () => {
    const rule = {
      code: "same",
      kind: "dormant_reactivated",
      riskScore: 10,
      dormantDays: 90,
      amountMinMinor: 0,
    };
    const duplicate = await staffRequest(app, analyst.token, "POST", "/v1/staff/compliance/rule-sets", {
      currency: "EUR",
      rules: [rule, rule],
    });
    expectProblem(duplicate, 400, "validation");
    expect(duplicate.json().detail).toContain('"same" is used twice');
    const unknownKind = await app.http.inject({
      method: "POST",
      url: "/v1/staff/compliance/rule-sets",
      headers: bearer(analyst.token),
      payload: { currency: "EUR", rules: [{ ...rule, kind: "astrology" }] },
    });
    expectProblem(unknownKind, 400, "validation");
    const missing = await staffRequest(
      app,
      analyst.token,
      "POST",
      "/v1/staff/compliance/rule-sets/999/activate",
    );
    expectProblem(missing, 404, "not-found");
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DryRunReport, RuleSetDto } from "../../src/modules/fraud/index.ts";
import { ManualClock } from "../../src/platform/clock.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";
import { auditRecords, bearer, expectProblem, outboxEvents } from "../identity.helpers.ts";
import { newCustomer, newStaff } from "../payments/payments.helpers.ts";
import { fakeId, riskInput } from "./fraud.helpers.ts";

/** The staff API over versioned rule sets: create, activate, list, validate, dry-run; roles. */

const clock = new ManualClock(new Date("2031-09-09T12:00:30Z"));
let app: TestApp;
let investigator: string;
let admin: string;

const THRESHOLDS = { challenge: 30, hold: 60, block: 90 };
const HOLD_NEW_PAYEES = {
  rules: [{ code: "new_payee", feature: "new_payee", operator: "is_true", weight: 60 }],
  thresholds: THRESHOLDS,
};

beforeAll(async () => {
  app = await createTestApp({
    clock,
    env: { OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "10000", OMNICORE_FRAUD_DRY_RUN_DECISIONS_MAX: "500" },
  });
  investigator = (await newStaff(app, "fraud_investigator")).token;
  admin = (await newStaff(app, "admin")).token;
});

afterAll(async () => {
  await app?.destroy();
});

function call(method: "GET" | "POST", url: string, token: string, payload?: object) {
  return app.http.inject({ method, url, headers: bearer(token), ...(payload ? { payload } : {}) });
}

async function active(): Promise<RuleSetDto> {
  const response = await call("GET", "/v1/staff/fraud/rule-sets/active", investigator);
  expect(response.statusCode, response.body).toBe(200);
  return response.json<RuleSetDto>();
}

describe("rule sets", () => {
  it("starts with the seeded version 1, active", async () => {
    const list = await call("GET", "/v1/staff/fraud/rule-sets", investigator);
    expect(list.statusCode, list.body).toBe(200);
    const items = list.json<{ items: RuleSetDto[] }>().items;
    expect(items.map((item) => [item.version, item.active])).toEqual([[1, true]]);
    expect((await active()).rules.map((rule) => rule.code)).toContain("new_device");
  });

  it("creates a new inactive version, audited and published, then activates it", async () => {
    const created = await call("POST", "/v1/staff/fraud/rule-sets", investigator, HOLD_NEW_PAYEES);
    expect(created.statusCode, created.body).toBe(201);
    const version = created.json<RuleSetDto>();
    expect(version).toMatchObject({
      version: 2,
      active: false,
      thresholds: THRESHOLDS,
      rules: HOLD_NEW_PAYEES.rules,
    });
    expect((await active()).version).toBe(1);
    const [createdEvent] = await outboxEvents(app, "fraud.rule_set_created", "fraud-rule-set-2");
    expect(createdEvent?.data).toMatchObject({ version: 2, rulesCount: 1, createdBy: version.createdBy });

    const activated = await call("POST", "/v1/staff/fraud/rule-sets/2/activate", admin);
    expect(activated.statusCode, activated.body).toBe(200);
    expect(activated.json<RuleSetDto>().active).toBe(true);
    expect((await active()).version).toBe(2);
    const [activatedEvent] = await outboxEvents(app, "fraud.rule_set_activated", "fraud-rule-set-2");
    expect(activatedEvent?.data).toEqual({ version: 2, previousVersion: 1 });
    const audited = await auditRecords(app, "fraud.rule_set_activated");
    expect(audited.map((record) => record.subject_id)).toContain("fraud-rule-set-2");
    expect(await auditRecords(app, "fraud.rule_set_created")).toHaveLength(1);

    // The node that activated it decides with it at once.
    const decision = await app.services.fraud.assessPayment(
      riskInput(fakeId("cus"), { toIban: "NL91ABNA0417164300", amountMinor: 100n }),
    );
    expect(decision).toMatchObject({ ruleSetVersion: 2, outcome: "hold", score: 60, reasons: ["new_payee"] });
  });

  it("creates and activates in one step, and re-activating the active version changes nothing", async () => {
    const created = await call("POST", "/v1/staff/fraud/rule-sets", admin, {
      ...HOLD_NEW_PAYEES,
      activate: true,
    });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json<RuleSetDto>()).toMatchObject({ version: 3, active: true });
    const again = await call("POST", "/v1/staff/fraud/rule-sets/3/activate", admin);
    expect(again.statusCode, again.body).toBe(200);
    expect(await outboxEvents(app, "fraud.rule_set_activated", "fraud-rule-set-3")).toHaveLength(1);
    const list = (await call("GET", "/v1/staff/fraud/rule-sets", investigator)).json<{
      items: RuleSetDto[];
    }>();
    expect(list.items.map((item) => [item.version, item.active])).toEqual([
      [3, true],
      [2, false],
      [1, false],
    ]);
  });

  it("answers 404 for a version that does not exist and 400 for one that is not a number", async () => {
    expectProblem(await call("POST", "/v1/staff/fraud/rule-sets/999/activate", admin), 404, "not-found");
    expectProblem(await call("POST", "/v1/staff/fraud/rule-sets/v1/activate", admin), 400, "validation");
  });
});

describe("validation", () => {
  const withRule = (rule: Record<string, unknown>) => ({
    rules: [{ code: "r", feature: "new_device", operator: "is_true", weight: 10, ...rule }],
    thresholds: THRESHOLDS,
  });

  it.each([
    ["an unknown feature", withRule({ feature: "shoe_size" }), /rules\/0\/feature/],
    ["an unknown operator", withRule({ operator: "contains" }), /rules\/0\/operator/],
    [
      "an unknown field in a rule",
      withRule({ script: "return 1" }),
      /rules\/0\/script is not an accepted field/,
    ],
    ["a weight above 100", withRule({ weight: 150 }), /rules\/0\/weight/],
    [
      "is_true on a number feature",
      withRule({ feature: "amount_z_score" }),
      /is_true needs a boolean feature/,
    ],
    ["gt on a boolean feature", withRule({ operator: "gt", value: 1 }), /gt needs a number feature/],
    [
      "a comparison without a number",
      withRule({ feature: "amount_z_score", operator: "gt" }),
      /needs a number value/,
    ],
    [
      "unordered thresholds",
      { ...withRule({}), thresholds: { challenge: 80, hold: 60, block: 90 } },
      /ordered/,
    ],
    ["no rules", { rules: [], thresholds: THRESHOLDS }, /rules/],
  ])("refuses %s with 400 naming the problem, and creates nothing", async (_label, payload, detail) => {
    const response = await call("POST", "/v1/staff/fraud/rule-sets", investigator, payload);
    expectProblem(response, 400, "validation");
    expect(response.json<{ detail: string }>().detail).toMatch(detail);
    const dryRun = await call("POST", "/v1/staff/fraud/rule-sets/dry-run", investigator, payload);
    expectProblem(dryRun, 400, "validation");
  });

  it("created nothing while refusing", async () => {
    const list = (await call("GET", "/v1/staff/fraud/rule-sets", investigator)).json<{
      items: RuleSetDto[];
    }>();
    expect(list.items.map((item) => item.version)).toEqual([3, 2, 1]);
  });
});

describe("roles", () => {
  it("refuses customers (401) and staff without a fraud role (403) on every rule-set route", async () => {
    const customer = (await newCustomer(app)).token;
    const teller = (await newStaff(app, "teller")).token;
    const agent = (await newStaff(app, "agent")).token;
    const routes: Array<["GET" | "POST", string, object | undefined]> = [
      ["GET", "/v1/staff/fraud/rule-sets", undefined],
      ["GET", "/v1/staff/fraud/rule-sets/active", undefined],
      ["POST", "/v1/staff/fraud/rule-sets", HOLD_NEW_PAYEES],
      ["POST", "/v1/staff/fraud/rule-sets/1/activate", undefined],
      ["POST", "/v1/staff/fraud/rule-sets/dry-run", HOLD_NEW_PAYEES],
    ];
    for (const [method, url, payload] of routes) {
      expectProblem(await call(method, url, customer, payload), 401, "unauthorized");
      expectProblem(await call(method, url, teller, payload), 403, "forbidden");
      expectProblem(await call(method, url, agent, payload), 403, "forbidden");
      const anonymous = await app.http.inject({ method, url, ...(payload ? { payload } : {}) });
      expectProblem(anonymous, 401, "unauthorized");
    }
    expect((await active()).version).toBe(3);
  });
});

describe("dry run", () => {
  it("replays a candidate over stored decisions and reports exactly what would change", async () => {
    // A clean slate of decisions: the earlier ones lie before `since`.
    clock.advance(60_000);
    const since = clock.now().toISOString();
    const quiet = await call("POST", "/v1/staff/fraud/rule-sets", admin, {
      rules: [{ code: "big", feature: "amount_ratio_to_mean", operator: "gte", value: 1000, weight: 100 }],
      thresholds: THRESHOLDS,
      activate: true,
    });
    expect(quiet.statusCode, quiet.body).toBe(201);
    const decided = [];
    for (let i = 0; i < 3; i++) {
      decided.push(
        await app.services.fraud.assessPayment(
          riskInput(fakeId("cus"), { toIban: "NL91ABNA0417164300", amountMinor: 500n }),
        ),
      );
      clock.advance(1_000);
    }
    expect(decided.map((decision) => decision.outcome)).toEqual(["allow", "allow", "allow"]);

    const response = await call("POST", "/v1/staff/fraud/rule-sets/dry-run", investigator, {
      ...HOLD_NEW_PAYEES,
      since,
      limit: 2,
    });
    expect(response.statusCode, response.body).toBe(200);
    const report = response.json<DryRunReport>();
    expect(report).toEqual({
      replayed: 2,
      before: { allow: 2, challenge: 0, hold: 0, block: 0 },
      after: { allow: 0, challenge: 0, hold: 2, block: 0 },
      changed: 2,
      changes: [decided[2], decided[1]].map((decision) => ({
        decisionId: decision?.id,
        before: { outcome: "allow", score: 0, ruleSetVersion: 4 },
        after: { outcome: "hold", score: 60, reasons: ["new_payee"] },
      })),
    });

    const unchanged = await call("POST", "/v1/staff/fraud/rule-sets/dry-run", investigator, {
      rules: [{ code: "new_payee", feature: "new_payee", operator: "is_true", weight: 10 }],
      thresholds: THRESHOLDS,
      since,
    });
    expect(unchanged.json<DryRunReport>()).toMatchObject({ replayed: 3, changed: 0, changes: [] });
    // A dry run stores and activates nothing.
    expect((await active()).version).toBe(4);
  });

  it("refuses a replay larger than the configured bound", async () => {
    const response = await call("POST", "/v1/staff/fraud/rule-sets/dry-run", investigator, {
      ...HOLD_NEW_PAYEES,
      limit: 501,
    });
    expectProblem(response, 400, "validation");
    expect(response.json<{ detail: string }>().detail).toMatch(/at most 500/);
  });
});

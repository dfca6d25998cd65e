import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CaseContext, CaseDto } from "../../src/modules/fraud/cases/index.ts";
import { ManualClock } from "../../src/platform/clock.ts";
import type { TestApp } from "../helpers/test-app.ts";
import {
  auditRecords,
  bearer,
  expectProblem,
  login,
  outboxEvents,
  signedInCustomer,
} from "../identity.helpers.ts";
import {
  type Customer,
  deposit,
  eur,
  newCustomer,
  newStaff,
  openAccount,
  type StaffMember,
  transfer,
} from "../payments/payments.helpers.ts";
import {
  createCasesApp,
  EDGE_PEER,
  openCase,
  queue,
  staffRequest,
  unknownTransferId,
} from "./cases.helpers.ts";

/**
 * The investigators' side of fraud cases: the queue, the whole context of one case, notes, and
 * who may see them. Cases are opened as payments opens them; the actions on really held payments
 * are in cases-actions.test.ts.
 */

const clock = new ManualClock(new Date("2031-03-03T09:00:00Z"));
const SECOND_MS = 1_000;

let app: TestApp;
let investigator: StaffMember;
let admin: StaffMember;
let teller: StaffMember;
let agent: StaffMember;
let customer: Customer;

beforeAll(async () => {
  app = await createCasesApp({ clock });
  investigator = await newStaff(app, "fraud_investigator");
  admin = await newStaff(app, "admin");
  teller = await newStaff(app, "teller");
  agent = await newStaff(app, "agent", "contact_centre");
  customer = await newCustomer(app);
});

afterAll(async () => {
  await app?.destroy();
});

function expectQueueOrder(items: CaseDto[]): void {
  for (let index = 1; index < items.length; index++) {
    const before = items[index - 1]!;
    const after = items[index]!;
    const ordered =
      before.riskScore > after.riskScore ||
      (before.riskScore === after.riskScore && before.openedAt <= after.openedAt);
    expect(ordered, `${before.id} (${before.riskScore}) before ${after.id} (${after.riskScore})`).toBe(true);
  }
}

describe("opening a case", () => {
  it("records the case, audits it and publishes fraud.case_opened in the payment's transaction", async () => {
    const transferId = unknownTransferId();
    const caseId = await openCase(app, {
      customerId: customer.customerId,
      transferId,
      score: 72,
      reasons: ["new_device", "amount_far_above_usual"],
    });
    const [event] = await outboxEvents(app, "fraud.case_opened", caseId);
    expect(event?.data).toMatchObject({
      caseId,
      customerId: customer.customerId,
      transferId,
      riskScore: 72,
      reasons: ["new_device", "amount_far_above_usual"],
    });
    const audited = await auditRecords(app, "fraud.case_opened");
    expect(audited.map((row) => row.subject_id)).toContain(caseId);
  });

  it("keeps one case per payment: opening it again answers the same case", async () => {
    const transferId = unknownTransferId();
    const first = await openCase(app, { customerId: customer.customerId, transferId, score: 50 });
    const again = await openCase(app, { customerId: customer.customerId, transferId, score: 50 });
    expect(again).toBe(first);
    expect(await outboxEvents(app, "fraud.case_opened", first)).toHaveLength(1);
  });
});

describe("the queue", () => {
  it("orders open cases by risk, highest first, then by age, oldest first", async () => {
    const opened: Array<{ id: string; score: number }> = [];
    for (const score of [40, 90, 65, 90, 40, 65]) {
      clock.advance(SECOND_MS);
      opened.push({ id: await openCase(app, { customerId: customer.customerId, score }), score });
    }
    const { items } = await queue(app, investigator.token, "?limit=200");
    expectQueueOrder(items);
    const ours = items.filter((item) => opened.some((case_) => case_.id === item.id)).map((item) => item.id);
    const byId = (index: number) => opened[index]!.id;
    expect(ours).toEqual([byId(1), byId(3), byId(2), byId(5), byId(0), byId(4)]);
    expect(items.every((item) => item.status === "open")).toBe(true);
  });

  it("pages with a cursor through every case exactly once, in the same order", async () => {
    const whole = await queue(app, investigator.token, "?limit=200");
    const paged: CaseDto[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 50; page++) {
      const query: string = `?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
      const body = await queue(app, investigator.token, query);
      expect(body.items.length).toBeLessThanOrEqual(3);
      paged.push(...body.items);
      cursor = body.nextCursor;
      if (cursor === null) break;
    }
    expect(cursor).toBeNull();
    expect(paged.map((item) => item.id)).toEqual(whole.items.map((item) => item.id));
  });

  it("bounds the page and refuses a cursor it did not issue", async () => {
    expectProblem(
      await staffRequest(app, investigator.token, "GET", "/v1/staff/cases?limit=201"),
      400,
      "validation",
    );
    const forged = Buffer.from("v1:999:0:nope").toString("base64url");
    expectProblem(
      await staffRequest(app, investigator.token, "GET", `/v1/staff/cases?cursor=${forged}`),
      400,
      "validation",
    );
  });

  it("lists the cases of another status on request, and no open case among them", async () => {
    const caseId = await openCase(app, { customerId: customer.customerId, score: 30 });
    const rejected = await queue(app, investigator.token, "?status=rejected&limit=200");
    expect(rejected.items.every((item) => item.status === "rejected")).toBe(true);
    expect(rejected.items.map((item) => item.id)).not.toContain(caseId);
    expectProblem(
      await staffRequest(app, investigator.token, "GET", "/v1/staff/cases?status=closed"),
      400,
      "validation",
    );
  });
});

describe("the context of one case", () => {
  let subject: Customer;
  let caseId: string;
  let transferId: string;
  let payeeIban: string;

  beforeAll(async () => {
    const { customerId, email } = await signedInCustomer(app, {
      "x-channel": "mobile",
      "x-device-id": "ada-phone-1",
      "x-client-geo-country": "DE",
    });
    // Sign-ins from the edge, so that the country they came from is known.
    const mobile = await app.http.inject({
      method: "POST",
      url: "/v1/auth/login",
      remoteAddress: EDGE_PEER,
      headers: { "x-channel": "mobile", "x-device-id": "ada-phone-1", "x-client-geo-country": "DE" },
      payload: { email, password: "glacier umbrella quietly orbits 7" },
    });
    expect(mobile.statusCode, mobile.body).toBe(200);
    const web = await login(app, email, undefined, { "x-channel": "web" });
    subject = { customerId, email, token: web.accessToken };
    const account = await openAccount(app, subject.token);
    await deposit(app, teller.token, account.id, eur("500.00"));
    const payee = await newCustomer(app);
    payeeIban = (await openAccount(app, payee.token)).iban;
    const saved = await app.http.inject({
      method: "POST",
      url: "/v1/payees",
      headers: bearer(subject.token),
      payload: { name: "Ada Lovelace", iban: payeeIban },
    });
    expect(saved.statusCode, saved.body).toBe(201);
    const payment = await transfer(app, subject.token, {
      fromAccountId: account.id,
      toIban: payeeIban,
      amount: eur("25.00"),
    });
    transferId = payment.id;
    await openCase(app, { customerId, score: 35, reasons: ["velocity"] });
    clock.advance(SECOND_MS);
    caseId = await openCase(app, { customerId, transferId, score: 81, reasons: ["new_payee", "night_time"] });
  });

  async function context(token = investigator.token): Promise<CaseContext> {
    const response = await staffRequest(app, token, "GET", `/v1/staff/cases/${caseId}`);
    expect(response.statusCode, response.body).toBe(200);
    return response.json<CaseContext>();
  }

  it("answers the case, the customer and the payment in one call", async () => {
    const body = await context();
    expect(body.case).toMatchObject({
      id: caseId,
      customerId: subject.customerId,
      transferId,
      riskScore: 81,
      reasons: ["new_payee", "night_time"],
      status: "open",
    });
    expect(body.customer).toMatchObject({ id: subject.customerId, email: subject.email, givenName: "Ada" });
    expect(body.payment).toMatchObject({ id: transferId, toIban: payeeIban, amount: eur("25.00") });
  });

  it("shows sessions, devices and countries by channel", async () => {
    const body = await context();
    const mobile = body.channels.find((channel) => channel.channel === "mobile");
    const web = body.channels.find((channel) => channel.channel === "web");
    expect(mobile).toMatchObject({ deviceIds: ["ada-phone-1"], countries: ["DE"] });
    expect(mobile?.sessionCount).toBeGreaterThanOrEqual(2);
    expect(web?.sessionCount).toBe(1);
    expect(body.sessions.some((session) => session.channel === "mobile" && session.country === "DE")).toBe(
      true,
    );
    expect(body.devices.map((device) => device.deviceId)).toContain("ada-phone-1");
  });

  it("shows recent payments, payees, security events and earlier cases", async () => {
    const body = await context();
    expect(body.recentPayments.map((payment) => payment.id)).toContain(transferId);
    expect(body.payees.map((payee) => payee.iban)).toEqual([payeeIban]);
    const actions = body.securityEvents.map((event) => event.action);
    expect(actions).toContain("security.login_succeeded");
    expect(body.securityEvents.find((event) => event.country === "DE")).toBeDefined();
    expect(body.earlierCases.map((earlier) => earlier.riskScore)).toEqual([35]);
    expect(body.earlierCases.map((earlier) => earlier.id)).not.toContain(caseId);
    // The cases here carry made-up decision ids, which the engine does not know (a real decision
    // is in cases-actions.test.ts); the engine's profile of the customer is there all the same.
    expect(body.decision).toBeNull();
    expect(body.profile).toMatchObject({ customerId: subject.customerId });
  });

  it("records every read of the context as staff access to the customer's data", async () => {
    const before = (await auditRecords(app, "staff.fraud_case_viewed")).length;
    await context(admin.token);
    const rows = await auditRecords(app, "staff.fraud_case_viewed");
    expect(rows).toHaveLength(before + 1);
    expect(rows.at(-1)).toMatchObject({ actor_id: admin.id, subject_id: subject.customerId });
    expect(rows.at(-1)?.details).toMatchObject({ caseId });
  });

  it("answers 404 for a case that does not exist", async () => {
    const response = await staffRequest(
      app,
      investigator.token,
      "GET",
      `/v1/staff/cases/cas_${"0f".repeat(16)}`,
    );
    expectProblem(response, 404, "not-found");
  });
});

describe("notes", () => {
  it("adds a note to an open case, audited and published, and shows it in the context", async () => {
    const caseId = await openCase(app, { customerId: customer.customerId, score: 55 });
    const response = await staffRequest(app, investigator.token, "POST", `/v1/staff/cases/${caseId}/notes`, {
      text: "Called the customer; no answer.",
    });
    expect(response.statusCode, response.body).toBe(201);
    const note = response.json<{ id: string; authorId: string; text: string }>();
    expect(note).toMatchObject({ authorId: investigator.id, text: "Called the customer; no answer." });
    const body = await staffRequest(app, investigator.token, "GET", `/v1/staff/cases/${caseId}`);
    expect(body.json<CaseContext>().notes.map((item) => item.id)).toEqual([note.id]);
    expect(await outboxEvents(app, "fraud.case_note_added", caseId)).toHaveLength(1);
    expect((await auditRecords(app, "fraud.case_note_added")).map((row) => row.subject_id)).toContain(caseId);
  });

  it("refuses an empty note, one over 2000 characters, and unknown fields", async () => {
    const caseId = await openCase(app, { customerId: customer.customerId, score: 55 });
    const url = `/v1/staff/cases/${caseId}/notes`;
    expectProblem(await staffRequest(app, investigator.token, "POST", url, { text: "" }), 400, "validation");
    expectProblem(
      await staffRequest(app, investigator.token, "POST", url, { text: "x".repeat(2001) }),
      400,
      "validation",
    );
    const ok = await staffRequest(app, investigator.token, "POST", url, { text: "x".repeat(2000) });
    expect(ok.statusCode, ok.body).toBe(201);
    expectProblem(
      await staffRequest(app, investigator.token, "POST", url, { text: "hi", authorId: "stf_x" }),
      400,
      "validation",
    );
  });
});

describe("who may work cases", () => {
  it("lets fraud investigators and admins in, and refuses tellers, agents and customers", async () => {
    const caseId = await openCase(app, { customerId: customer.customerId, score: 20 });
    const calls: Array<[method: "GET" | "POST", url: string, payload?: Record<string, unknown>]> = [
      ["GET", "/v1/staff/cases"],
      ["GET", `/v1/staff/cases/${caseId}`],
      ["POST", `/v1/staff/cases/${caseId}/notes`, { text: "looking" }],
      ["POST", `/v1/staff/cases/${caseId}/release`],
      ["POST", `/v1/staff/cases/${caseId}/reject`, { reasonCode: "suspected_scam" }],
      ["POST", `/v1/staff/cases/${caseId}/confirm-fraud`, {}],
    ];
    for (const [method, url, payload] of calls) {
      for (const staff of [teller, agent]) {
        expectProblem(await staffRequest(app, staff.token, method, url, payload), 403, "forbidden");
      }
      expectProblem(await staffRequest(app, customer.token, method, url, payload), 401, "unauthorized");
    }
    for (const staff of [investigator, admin]) {
      const response = await staffRequest(app, staff.token, "GET", `/v1/staff/cases/${caseId}`);
      expect(response.statusCode, response.body).toBe(200);
    }
  });
});

describe("actions on a case that cannot proceed", () => {
  it("answers 404 for an unknown case and leaves a case open when its payment is not held", async () => {
    const missing = `cas_${"0f".repeat(16)}`;
    expectProblem(
      await staffRequest(app, investigator.token, "POST", `/v1/staff/cases/${missing}/release`),
      404,
      "not-found",
    );
    // A case whose payment payments does not hold: the action aborts, nothing is decided.
    const caseId = await openCase(app, { customerId: customer.customerId, score: 44 });
    const response = await staffRequest(app, investigator.token, "POST", `/v1/staff/cases/${caseId}/release`);
    expectProblem(response, 409, "conflict");
    const body = await staffRequest(app, investigator.token, "GET", `/v1/staff/cases/${caseId}`);
    expect(body.json<CaseContext>().case.status).toBe("open");
    expect(await outboxEvents(app, "fraud.case_released", caseId)).toHaveLength(0);
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestApp } from "../helpers/test-app.ts";
import { auditRecords, bearer, expectProblem, outboxEvents } from "../identity.helpers.ts";
import {
  type AccountDto,
  type CashMovementDto,
  type Customer,
  cashRequest,
  createPaymentsApp,
  deposit,
  eur,
  idempotencyKey,
  jpy,
  newCustomer,
  newStaff,
  openAccount,
  type StaffMember,
  snapshot,
} from "./payments.helpers.ts";

let app: TestApp;
let teller: StaffMember;

beforeAll(async () => {
  app = await createPaymentsApp();
  teller = await newStaff(app, "teller");
});

afterAll(async () => {
  await app?.destroy();
});

async function customerWithAccount(currency = "EUR"): Promise<{ customer: Customer; account: AccountDto }> {
  const customer = await newCustomer(app);
  return { customer, account: await openAccount(app, customer.token, "current", currency) };
}

function staffAccount(token: string, id: string) {
  return app.http.inject({ method: "GET", url: `/v1/staff/accounts/${id}`, headers: bearer(token) });
}

describe("teller cash: happy path", () => {
  it("deposits and withdraws cash, with balances, history and completed events", async () => {
    const { customer, account } = await customerWithAccount();

    const depositResponse = await cashRequest(app, teller.token, "deposits", account.id, {
      amount: eur("250.00"),
      reference: "counter 3",
    });
    expect(depositResponse.statusCode, depositResponse.body).toBe(201);
    const deposited = depositResponse.json<CashMovementDto>();
    expect(deposited).toMatchObject({
      kind: "deposit",
      status: "completed",
      accountId: account.id,
      amount: eur("250.00"),
      reference: "counter 3",
    });
    expect(deposited.id).toMatch(/^dep_[0-9a-f]{32}$/);

    const withdrawalResponse = await cashRequest(app, teller.token, "withdrawals", account.id, {
      amount: eur("75.25"),
    });
    expect(withdrawalResponse.statusCode, withdrawalResponse.body).toBe(201);
    const withdrawn = withdrawalResponse.json<CashMovementDto>();
    expect(withdrawn).toMatchObject({
      kind: "withdrawal",
      status: "completed",
      accountId: account.id,
      amount: eur("75.25"),
      reference: null,
    });
    expect(withdrawn.id).toMatch(/^wdl_[0-9a-f]{32}$/);

    expect(await snapshot(app, [{ token: customer.token, accountId: account.id }])).toEqual([
      { booked: "174.75", available: "174.75", transactions: 2 },
    ]);
    const staffView = await staffAccount(teller.token, account.id);
    expect(staffView.statusCode, staffView.body).toBe(200);
    expect(staffView.json()).toMatchObject({
      id: account.id,
      ownerCustomerId: customer.customerId,
      balances: { booked: eur("174.75"), available: eur("174.75") },
    });

    const [depositEvent] = await outboxEvents(app, "deposit.completed", deposited.id);
    expect(depositEvent).toMatchObject({
      type: "deposit.completed",
      actorId: teller.id,
      data: { depositId: deposited.id, toAccountId: account.id, amount: eur("250.00") },
    });
    const [withdrawalEvent] = await outboxEvents(app, "withdrawal.completed", withdrawn.id);
    expect(withdrawalEvent).toMatchObject({
      type: "withdrawal.completed",
      actorId: teller.id,
      data: { withdrawalId: withdrawn.id, fromAccountId: account.id, amount: eur("75.25") },
    });
  });

  it("replays a deposit for the same Idempotency-Key and refuses the key with another body", async () => {
    const { customer, account } = await customerWithAccount("JPY");
    const key = idempotencyKey("dep");
    const first = await cashRequest(app, teller.token, "deposits", account.id, { amount: jpy("1000") }, key);
    expect(first.statusCode, first.body).toBe(201);
    const again = await cashRequest(app, teller.token, "deposits", account.id, { amount: jpy("1000") }, key);
    expect(again.statusCode, again.body).toBe(201);
    expect(again.json()).toEqual(first.json());
    const reused = await cashRequest(app, teller.token, "deposits", account.id, { amount: jpy("2000") }, key);
    expectProblem(reused, 422, "idempotency-key-reused");
    expect(await snapshot(app, [{ token: customer.token, accountId: account.id }])).toEqual([
      { booked: "1000", available: "1000", transactions: 1 },
    ]);
    expect(await outboxEvents(app, "deposit.completed", first.json<CashMovementDto>().id)).toHaveLength(1);
  });
});

describe("teller cash: refusals", () => {
  it("refuses a withdrawal beyond the balance with 422 insufficient-funds and books nothing", async () => {
    const { customer, account } = await customerWithAccount();
    await deposit(app, teller.token, account.id, eur("40.00"));
    const response = await cashRequest(app, teller.token, "withdrawals", account.id, {
      amount: eur("40.01"),
    });
    expectProblem(response, 422, "insufficient-funds");
    expect(await snapshot(app, [{ token: customer.token, accountId: account.id }])).toEqual([
      { booked: "40.00", available: "40.00", transactions: 1 },
    ]);
    const withdrawalId = String(response.json<{ withdrawalId?: string }>().withdrawalId);
    expect(await outboxEvents(app, "withdrawal.completed", withdrawalId)).toEqual([]);
    const [rejected] = await outboxEvents(app, "withdrawal.rejected", withdrawalId);
    expect(rejected?.data).toMatchObject({ withdrawalId, reason: "insufficient-funds" });
  });

  it("refuses cash in another currency than the account's with 422 currency-mismatch", async () => {
    const { customer, account } = await customerWithAccount();
    const response = await cashRequest(app, teller.token, "deposits", account.id, { amount: jpy("500") });
    expectProblem(response, 422, "currency-mismatch");
    expect(await snapshot(app, [{ token: customer.token, accountId: account.id }])).toEqual([
      { booked: "0.00", available: "0.00", transactions: 0 },
    ]);
  });

  it.each([
    [eur("0.00"), 422, "invalid-amount"],
    [eur("-1.00"), 422, "invalid-amount"],
    [eur("1.005"), 422, "invalid-amount"],
    [{ amount: 5, currency: "EUR" }, 400, "validation"],
    [{ amount: "5.00", currency: "XAU" }, 400, "validation"],
  ])("refuses deposit amount %j with %i %s", async (amount, status, slug) => {
    const { customer, account } = await customerWithAccount();
    expectProblem(await cashRequest(app, teller.token, "deposits", account.id, { amount }), status, slug);
    expect(await snapshot(app, [{ token: customer.token, accountId: account.id }])).toEqual([
      { booked: "0.00", available: "0.00", transactions: 0 },
    ]);
  });

  it("refuses an unknown field, a missing Idempotency-Key and a malformed account id with 400 validation", async () => {
    const { customer, account } = await customerWithAccount();
    const amount = eur("10.00");
    const responses = [
      await cashRequest(app, teller.token, "deposits", account.id, {
        amount,
        customerId: customer.customerId,
      }),
      await cashRequest(app, teller.token, "deposits", account.id, { amount }, null),
      await cashRequest(app, teller.token, "deposits", "acc_123", { amount }),
    ];
    for (const response of responses) expectProblem(response, 400, "validation");
    expect(await snapshot(app, [{ token: customer.token, accountId: account.id }])).toEqual([
      { booked: "0.00", available: "0.00", transactions: 0 },
    ]);
  });

  it.each(["deposits", "withdrawals"] as const)(
    "answers %s to an account id never issued with 404 not-found",
    async (kind) => {
      const unknown = `acc_${"ab".repeat(16)}`;
      const response = await cashRequest(app, teller.token, kind, unknown, { amount: eur("10.00") });
      expectProblem(response, 404, "not-found");
      expectProblem(await staffAccount(teller.token, unknown), 404, "not-found");
    },
  );
});

describe("teller cash: who may handle it", () => {
  let customer: Customer;
  let account: AccountDto;

  beforeAll(async () => {
    ({ customer, account } = await customerWithAccount());
    await deposit(app, teller.token, account.id, eur("10.00"));
  });

  async function expectUnchanged() {
    expect(await snapshot(app, [{ token: customer.token, accountId: account.id }])).toEqual([
      { booked: "10.00", available: "10.00", transactions: 1 },
    ]);
  }

  it("refuses a teller signed in on channel contact_centre with 403 forbidden", async () => {
    const remote = await newStaff(app, "teller", "contact_centre");
    for (const kind of ["deposits", "withdrawals"] as const) {
      const response = await cashRequest(app, remote.token, kind, account.id, { amount: eur("1.00") });
      expectProblem(response, 403, "forbidden");
    }
    await expectUnchanged();
  });

  it.each(["agent", "admin", "fraud_investigator", "compliance_analyst"])(
    "refuses staff role %s with 403 forbidden",
    async (role) => {
      const staff = await newStaff(app, role);
      for (const kind of ["deposits", "withdrawals"] as const) {
        const response = await cashRequest(app, staff.token, kind, account.id, { amount: eur("1.00") });
        expectProblem(response, 403, "forbidden");
      }
      await expectUnchanged();
    },
  );

  it("refuses a customer token, even the account owner's, with 401 on staff routes", async () => {
    for (const kind of ["deposits", "withdrawals"] as const) {
      const response = await cashRequest(app, customer.token, kind, account.id, { amount: eur("1.00") });
      expectProblem(response, 401, "unauthorized");
    }
    expectProblem(await staffAccount(customer.token, account.id), 401, "unauthorized");
    await expectUnchanged();
  });

  it("refuses a request without a token with 401", async () => {
    const response = await app.http.inject({
      method: "POST",
      url: `/v1/staff/accounts/${account.id}/deposits`,
      headers: { "idempotency-key": idempotencyKey() },
      payload: { amount: eur("1.00") },
    });
    expectProblem(response, 401, "unauthorized");
    await expectUnchanged();
  });

  it("records the teller's staff id, channel branch and the account in the audit trail", async () => {
    const { account: audited } = await customerWithAccount();
    const made = await deposit(app, teller.token, audited.id, eur("12.00"));
    const records = (await auditRecords(app, "cash.deposit")).filter(
      (record) => record.subject_id === audited.id,
    );
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      actor_type: "staff",
      actor_id: teller.id,
      channel: "branch",
      subject_id: audited.id,
      details: { movementId: made.id, status: "completed" },
    });
  });
});

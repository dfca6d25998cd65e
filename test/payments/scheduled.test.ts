import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type App, buildApp } from "../../src/app.ts";
import { nextRun } from "../../src/modules/payments/scheduled.service.ts";
import { ManualClock } from "../../src/platform/clock.ts";
import { createTestApp, type TestApp, testConfig, usingPostgres } from "../helpers/test-app.ts";
import { approveStepUp, enrolTotp } from "../identity/factors.helpers.ts";
import { bearer, expectProblem, outboxEvents } from "../identity.helpers.ts";
import { type AccountDto, deposit, eur, newCustomer, newStaff, openAccount } from "./payments.helpers.ts";

describe("nextRun", () => {
  it.each([
    ["once", "2031-01-31", null, null, null],
    ["weekly", "2031-12-29", null, null, "2032-01-05"],
    ["monthly", "2031-01-15", null, 15, "2031-02-15"],
    ["monthly", "2031-01-31", null, 31, "2031-02-28"],
    ["monthly", "2032-01-31", null, 31, "2032-02-29"],
    // The anchor day comes back after a short month.
    ["monthly", "2031-02-28", null, 31, "2031-03-31"],
    ["monthly", "2031-03-31", null, 31, "2031-04-30"],
    ["monthly", "2031-12-10", null, 10, "2032-01-10"],
    ["monthly", "2031-01-15", "2031-02-14", 15, null],
    ["weekly", "2031-01-01", "2031-01-08", null, "2031-01-08"],
  ] as const)("%s from %s (end %s, anchor %s) is %s", (frequency, runOn, endOn, anchor, expected) => {
    expect(nextRun(frequency, runOn, endOn, anchor)).toBe(expected);
  });
});

describe("scheduled and standing transfers", () => {
  const clock = new ManualClock(new Date("2031-01-31T08:00:00Z"));
  let app: TestApp;
  let teller: string;
  let payee: AccountDto;

  beforeAll(async () => {
    app = await createTestApp({
      clock,
      env: { OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "10000", OMNICORE_SCHEDULER_INTERVAL_MS: "0" },
    });
    teller = (await newStaff(app, "teller")).token;
    payee = await openAccount(app, (await newCustomer(app)).token);
  });
  afterAll(async () => app.destroy());

  async function payer(funds = "500.00") {
    const customer = await newCustomer(app);
    const account = await openAccount(app, customer.token);
    if (funds !== "0.00") await deposit(app, teller, account.id, eur(funds));
    return { ...customer, account };
  }

  const schedule = (token: string, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    app.http.inject({
      method: "POST",
      url: "/v1/scheduled-transfers",
      headers: { ...bearer(token), ...headers },
      payload: body,
    });

  const booked = async (accountId: string) =>
    (await app.services.ledger.getAccountForStaff(accountId)).bookedMinor;

  it("books a one-off transfer on its date, once, however many passes run", async () => {
    const { token, account } = await payer();
    const created = await schedule(token, {
      fromAccountId: account.id,
      toIban: payee.iban,
      amount: eur("25.00"),
      frequency: "once",
      firstRunOn: "2031-01-31",
    });
    expect(created.statusCode, created.body).toBe(201);
    const order = created.json<{ id: string }>();
    await Promise.all([app.services.scheduledTransfers.runDue(), app.services.scheduledTransfers.runDue()]);
    await app.services.scheduledTransfers.runDue();
    expect(await booked(account.id)).toBe(47_500n);
    const [event] = await outboxEvents(app, "scheduled_transfer.executed", order.id);
    expect(event?.data).toMatchObject({ orderId: order.id, runOn: "2031-01-31", status: "completed" });
    const listed = await app.http.inject({
      method: "GET",
      url: "/v1/scheduled-transfers",
      headers: bearer(token),
    });
    expect(listed.json<{ items: unknown[] }>().items).toEqual([
      expect.objectContaining({ id: order.id, status: "completed", nextRunOn: null }),
    ]);
  });

  it("replays a run a crashed worker had already booked, instead of paying twice", async () => {
    const { customerId, token, account } = await payer();
    const created = await schedule(token, {
      fromAccountId: account.id,
      toIban: payee.iban,
      amount: eur("10.00"),
      frequency: "once",
      firstRunOn: "2031-01-31",
    });
    const order = created.json<{ id: string }>();
    // What a worker that crashed after booking, before recording the run, left behind.
    await app.services.payments.transfer(
      {
        requestId: "crashed",
        channel: "system",
        deviceId: undefined,
        actor: { type: "system", id: "scheduler" },
      },
      customerId,
      { fromAccountId: account.id, toIban: payee.iban, amount: eur("10.00") },
      `scheduled:${order.id}:2031-01-31`,
    );
    await app.services.scheduledTransfers.runDue();
    expect(await booked(account.id)).toBe(49_000n);
  });

  it("records a refused run with its reason and goes on to the next date", async () => {
    const { token, account } = await payer("0.00");
    const created = await schedule(token, {
      fromAccountId: account.id,
      toIban: payee.iban,
      amount: eur("10.00"),
      frequency: "monthly",
      firstRunOn: "2031-01-31",
    });
    const order = created.json<{ id: string }>();
    await app.services.scheduledTransfers.runDue();
    const [event] = await outboxEvents(app, "scheduled_transfer.executed", order.id);
    expect(event?.data).toMatchObject({ status: "rejected", reason: "insufficient-funds" });
    const [listed] = await app.services.scheduledTransfers.list(
      (await app.services.ledger.getAccountForStaff(account.id)).ownerCustomerId,
    );
    expect(listed).toMatchObject({ status: "active", nextRunOn: "2031-02-28" });
  });

  it("refuses a first date in the past, an end before the start, and someone else's account", async () => {
    const owner = await payer();
    const other = await newCustomer(app);
    const base = {
      fromAccountId: owner.account.id,
      toIban: payee.iban,
      amount: eur("5.00"),
      frequency: "monthly",
    };
    expectProblem(await schedule(owner.token, { ...base, firstRunOn: "2020-01-01" }), 400, "validation");
    expectProblem(
      await schedule(owner.token, { ...base, firstRunOn: "2032-03-01", endOn: "2032-02-01" }),
      400,
      "validation",
    );
    expectProblem(await schedule(other.token, { ...base, firstRunOn: "2032-03-01" }), 404, "not-found");
  });
  // Moves the clock a day on: last in this group.
  it("cancels an order of the caller's only, and a cancelled order never runs", async () => {
    const owner = await payer();
    const other = await newCustomer(app);
    const created = await schedule(owner.token, {
      fromAccountId: owner.account.id,
      toIban: payee.iban,
      amount: eur("5.00"),
      frequency: "weekly",
      firstRunOn: "2031-02-01",
    });
    const order = created.json<{ id: string }>();
    const cancel = (token: string) =>
      app.http.inject({
        method: "DELETE",
        url: `/v1/scheduled-transfers/${order.id}`,
        headers: bearer(token),
      });
    expectProblem(await cancel(other.token), 404, "not-found");
    expect((await cancel(owner.token)).statusCode).toBe(204);
    expectProblem(await cancel(owner.token), 404, "not-found");
    clock.advance(86_400_000);
    await app.services.scheduledTransfers.runDue();
    expect(await booked(owner.account.id)).toBe(50_000n);
  });
});

describe("standing orders with step-up, and two nodes", () => {
  const clock = new ManualClock(new Date("2031-03-10T08:00:00Z"));
  let app: TestApp;

  beforeAll(async () => {
    app = await createTestApp({
      clock,
      env: {
        OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "10000",
        OMNICORE_SCHEDULER_INTERVAL_MS: "0",
        OMNICORE_STEP_UP: "required",
      },
    });
  });
  afterAll(async () => app.destroy());

  it.skipIf(!usingPostgres)(
    "books each run once when two nodes run the scheduler at the same moment",
    async () => {
      // A second node on the same PostgreSQL database.
      const second: App = await buildApp({
        config: testConfig({
          DATABASE_URL: app.config.database.url ?? "",
          OMNICORE_SCHEDULER_INTERVAL_MS: "0",
          OMNICORE_STEP_UP: "required",
        }),
        clock,
      });
      try {
        const teller = (await newStaff(app, "teller")).token;
        const customer = await newCustomer(app);
        const account = await openAccount(app, customer.token);
        await deposit(app, teller, account.id, eur("100.00"));
        const own = await openAccount(app, customer.token);
        const created = await app.http.inject({
          method: "POST",
          url: "/v1/scheduled-transfers",
          headers: bearer(customer.token),
          payload: {
            fromAccountId: account.id,
            toIban: own.iban,
            amount: eur("1.00"),
            frequency: "once",
            firstRunOn: isoDay(clock.now()),
          },
        });
        expect(created.statusCode, created.body).toBe(201);
        await Promise.all([
          app.services.scheduledTransfers.runDue(),
          second.services.scheduledTransfers.runDue(),
          app.services.scheduledTransfers.runDue(),
          second.services.scheduledTransfers.runDue(),
        ]);
        expect((await app.services.ledger.getAccountForStaff(own.id)).bookedMinor).toBe(100n);
      } finally {
        await second.close();
      }
    },
  );

  it("is approved once with step-up bound to the order, then runs monthly without asking", async () => {
    const teller = (await newStaff(app, "teller")).token;
    const customer = await newCustomer(app);
    const account = await openAccount(app, customer.token);
    await deposit(app, teller, account.id, eur("300.00"));
    const payee = await openAccount(app, (await newCustomer(app)).token);
    const { authenticator } = await enrolTotp(app, customer.token, clock);
    const body = {
      fromAccountId: account.id,
      toIban: payee.iban,
      amount: eur("100.00"),
      frequency: "monthly",
      firstRunOn: "2031-03-10",
    };
    const send = (headers: Record<string, string> = {}, payload: Record<string, unknown> = body) =>
      app.http.inject({
        method: "POST",
        url: "/v1/scheduled-transfers",
        headers: { ...bearer(customer.token), ...headers },
        payload,
      });
    const asked = await send();
    expectProblem(asked, 401, "step-up-required");
    const proof = await approveStepUp(app, customer.token, asked, authenticator);
    // The approval is for this order: another amount is not approved.
    const other = await send({ "x-step-up-proof": proof }, { ...body, amount: eur("200.00") });
    expectProblem(other, 422, "challenge-invalid");
    expect((await send({ "x-step-up-proof": proof })).statusCode).toBe(201);

    await app.services.scheduledTransfers.runDue();
    clock.advance(31 * 86_400_000);
    await app.services.scheduledTransfers.runDue();
    expect((await app.services.ledger.getAccountForStaff(account.id)).bookedMinor).toBe(10_000n);
  });
});

function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

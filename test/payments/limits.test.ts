import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/platform/clock.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";
import { expectProblem, login, outboxEvents } from "../identity.helpers.ts";
import {
  type AccountDto,
  deposit,
  eur,
  getAccount,
  newCustomer,
  newStaff,
  openAccount,
  transferRequest,
} from "./payments.helpers.ts";

/**
 * Transfer limits per customer tier: per transfer, per day and per channel per day, decided in the
 * batch transaction against the day's usage, so that nothing above a limit is ever booked.
 */
const LIMITS = {
  currency: "EUR",
  tiers: {
    basic: { perTransactionMinor: 5_000, dailyMinor: 10_000 },
    standard: { perTransactionMinor: 10_000, dailyMinor: 25_000 },
    premium: { perTransactionMinor: 100_000, dailyMinor: 200_000 },
  },
  channelDailyMinor: { open_banking: 12_000 },
};
const DAY_MS = 86_400_000;

describe("transfer limits", () => {
  const clock = new ManualClock(new Date("2031-05-04T09:00:00Z"));
  let app: TestApp;
  let tellerToken: string;
  let payee: AccountDto;

  beforeAll(async () => {
    app = await createTestApp({
      clock,
      env: { OMNICORE_TRANSFER_LIMITS: JSON.stringify(LIMITS), OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "10000" },
    });
    tellerToken = (await newStaff(app, "teller")).token;
    payee = await openAccount(app, (await newCustomer(app)).token);
  });
  afterAll(async () => app.destroy());

  async function fundedPayer(headers: Record<string, string> = {}) {
    const customer = await newCustomer(app);
    const token = headers["x-channel"]
      ? (await login(app, customer.email, undefined, headers)).accessToken
      : customer.token;
    const account = await openAccount(app, customer.token);
    await deposit(app, tellerToken, account.id, eur("1000.00"));
    return { ...customer, token, account };
  }

  const send = (payer: { token: string; account: AccountDto }, amount: string) =>
    transferRequest(app, payer.token, {
      fromAccountId: payer.account.id,
      toIban: payee.iban,
      amount: eur(amount),
    });

  const expectLimit = (response: Awaited<ReturnType<typeof send>>, limit: string) => {
    expectProblem(response, 422, "limit-exceeded");
    expect(response.json<{ limit: string }>().limit).toBe(limit);
  };

  it("refuses a single transfer above the tier's per-transfer limit, and books one at it", async () => {
    const payer = await fundedPayer();
    expectLimit(await send(payer, "100.01"), "per_transaction");
    expect((await send(payer, "100.00")).statusCode).toBe(201);
    expect((await getAccount(app, payer.token, payer.account.id)).balances.booked).toEqual(eur("900.00"));
  });

  it("caps a channel lower than the day, and the other channels keep the rest of the day", async () => {
    const mobile = await fundedPayer();
    const openBanking = {
      ...mobile,
      token: (await login(app, mobile.email, undefined, { "x-channel": "open_banking" })).accessToken,
    };
    expect((await send(openBanking, "100.00")).statusCode).toBe(201);
    expectLimit(await send(openBanking, "30.00"), "channel_daily");
    expect((await send(mobile, "100.00")).statusCode).toBe(201);
    expectLimit(await send(mobile, "50.01"), "daily");
  });

  it("applies the customer's tier", async () => {
    const payer = await fundedPayer();
    await app.database.db
      .updateTable("customers")
      .set({ tier: "basic" })
      .where("id", "=", payer.customerId)
      .execute();
    expectLimit(await send(payer, "50.01"), "per_transaction");
    await app.database.db
      .updateTable("customers")
      .set({ tier: "premium" })
      .where("id", "=", payer.customerId)
      .execute();
    expect((await send(payer, "900.00")).statusCode).toBe(201);
  });

  it("records a refusal as a rejected transfer with its reason, and moves nothing", async () => {
    const payer = await fundedPayer();
    const refused = await send(payer, "150.00");
    const { transferId } = refused.json<{ transferId: string }>();
    const [event] = await outboxEvents(app, "transfer.rejected", transferId);
    expect(event?.data).toMatchObject({ reason: "limit-exceeded" });
    expect((await getAccount(app, payer.token, payer.account.id)).balances.booked).toEqual(eur("1000.00"));
  });

  it("does not count a transfer the ledger refused", async () => {
    const payer = await fundedPayer();
    await send(payer, "100.00");
    await send(payer, "100.00");
    // 800.00 left, so this fails for funds, not for the limit, and uses none of the day.
    await app.database.db
      .updateTable("customers")
      .set({ tier: "premium" })
      .where("id", "=", payer.customerId)
      .execute();
    expectProblem(await send(payer, "900.00"), 422, "insufficient-funds");
    expect((await send(payer, "800.00")).statusCode).toBe(201);
  });

  it("lets concurrent transfers spend the daily headroom once, never more", async () => {
    const payer = await fundedPayer();
    const results = await Promise.all(Array.from({ length: 8 }, () => send(payer, "100.00")));
    const codes = results.map((result) => result.statusCode).sort();
    expect(codes).toEqual([201, 201, 422, 422, 422, 422, 422, 422]);
    expect((await getAccount(app, payer.token, payer.account.id)).balances.booked).toEqual(eur("800.00"));
  });

  it("answers 404, not a limit, for an account that is not the caller's", async () => {
    const owner = await fundedPayer();
    const other = await newCustomer(app);
    const response = await transferRequest(app, other.token, {
      fromAccountId: owner.account.id,
      toIban: payee.iban,
      amount: eur("5000.00"),
    });
    expectProblem(response, 404, "not-found");
  });
  // Last: it moves the clock a day on, past every session of this file.
  it("counts the day's transfers, refuses what would pass the daily limit, and starts again the next day", async () => {
    const payer = await fundedPayer();
    const statuses = [];
    for (const amount of ["100.00", "100.00", "100.00", "50.00"])
      statuses.push((await send(payer, amount)).statusCode);
    expect(statuses).toEqual([201, 201, 422, 201]);
    expectLimit(await send(payer, "0.01"), "daily");
    // A day later (sessions have ended by then: sign in again) the day's usage starts from zero.
    clock.advance(DAY_MS);
    const tomorrow = { ...payer, token: (await login(app, payer.email)).accessToken };
    expect((await send(tomorrow, "100.00")).statusCode).toBe(201);
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestApp } from "../helpers/test-app.ts";
import { bearer, expectProblem } from "../identity.helpers.ts";
import {
  type AccountDto,
  type Customer,
  createPaymentsApp,
  deposit,
  eur,
  idempotencyKey,
  minorUnits,
  newCustomer,
  newStaff,
  openAccount,
  openAccountRequest,
  type StaffMember,
  snapshot,
  type TransferDto,
  transactionsPage,
  transfer,
  transferRequest,
} from "./payments.helpers.ts";

/**
 * Object-level authorisation on the money routes: a customer reaches only their own accounts and
 * transfers, and someone else's object answers exactly like one that does not exist.
 */
let app: TestApp;
let teller: StaffMember;
let alice: Customer;
let aliceAccount: AccountDto;
let aliceTransfer: TransferDto;
let mallory: Customer;
let malloryAccount: AccountDto;

const NEVER_ISSUED_ACCOUNT = `acc_${"0f".repeat(16)}`;
const NEVER_ISSUED_TRANSFER = `trf_${"0f".repeat(16)}`;

beforeAll(async () => {
  app = await createPaymentsApp();
  teller = await newStaff(app, "teller");
  alice = await newCustomer(app);
  mallory = await newCustomer(app);
  aliceAccount = await openAccount(app, alice.token);
  malloryAccount = await openAccount(app, mallory.token);
  await deposit(app, teller.token, aliceAccount.id, eur("100.00"));
  await deposit(app, teller.token, malloryAccount.id, eur("10.00"));
  aliceTransfer = await transfer(app, alice.token, {
    fromAccountId: aliceAccount.id,
    toIban: malloryAccount.iban,
    amount: eur("1.00"),
  });
});

afterAll(async () => {
  await app?.destroy();
});

function get(url: string, headers: Record<string, string> = {}) {
  return app.http.inject({ method: "GET", url, headers });
}

/** A problem body without what differs per request, to compare two answers. */
function comparable(response: { statusCode: number; json: <T>() => T }) {
  const { type, title, status, detail } = response.json<Record<string, unknown>>();
  return { statusCode: response.statusCode, type, title, status, detail };
}

function balances() {
  return snapshot(app, [
    { token: alice.token, accountId: aliceAccount.id },
    { token: mallory.token, accountId: malloryAccount.id },
  ]);
}

describe("BOLA on money routes", () => {
  it("another customer's account answers 404, exactly like a non-existent one", async () => {
    const theirs = await get(`/v1/accounts/${aliceAccount.id}`, bearer(mallory.token));
    const missing = await get(`/v1/accounts/${NEVER_ISSUED_ACCOUNT}`, bearer(mallory.token));
    expectProblem(theirs, 404, "not-found");
    expect(comparable(theirs)).toEqual(comparable(missing));
    expect(theirs.body).not.toContain(aliceAccount.iban);
    // The owner still sees it.
    expect((await get(`/v1/accounts/${aliceAccount.id}`, bearer(alice.token))).statusCode).toBe(200);
  });

  it("another customer's account is not in the caller's list", async () => {
    const response = await get("/v1/accounts", bearer(mallory.token));
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json<{ items: AccountDto[] }>().items.map((account) => account.id)).toEqual([
      malloryAccount.id,
    ]);
  });

  it("another customer's transactions answer 404, exactly like a non-existent account", async () => {
    const theirs = await transactionsPage(app, mallory.token, aliceAccount.id);
    const missing = await transactionsPage(app, mallory.token, NEVER_ISSUED_ACCOUNT);
    expectProblem(theirs, 404, "not-found");
    expect(comparable(theirs)).toEqual(comparable(missing));
  });

  it("another customer's transfer answers 404, exactly like a non-existent one", async () => {
    // Mallory received this transfer, but it is Alice's: only the sender can read it.
    const theirs = await get(`/v1/transfers/${aliceTransfer.id}`, bearer(mallory.token));
    const missing = await get(`/v1/transfers/${NEVER_ISSUED_TRANSFER}`, bearer(mallory.token));
    expectProblem(theirs, 404, "not-found");
    expect(comparable(theirs)).toEqual(comparable(missing));
    expect((await get(`/v1/transfers/${aliceTransfer.id}`, bearer(alice.token))).statusCode).toBe(200);
  });

  it("moving money from another customer's account answers 404 not-found and books nothing", async () => {
    const before = await balances();
    const theirs = await transferRequest(app, mallory.token, {
      fromAccountId: aliceAccount.id,
      toIban: malloryAccount.iban,
      amount: eur("50.00"),
    });
    const missing = await transferRequest(app, mallory.token, {
      fromAccountId: NEVER_ISSUED_ACCOUNT,
      toIban: malloryAccount.iban,
      amount: eur("50.00"),
    });
    expectProblem(theirs, 404, "not-found");
    expect(comparable(theirs)).toEqual(comparable(missing));
    expect(await balances()).toEqual(before);
  });

  it("an amount larger than the victim's balance still answers 404, so balances cannot be probed", async () => {
    const before = await balances();
    const response = await transferRequest(app, mallory.token, {
      fromAccountId: aliceAccount.id,
      toIban: malloryAccount.iban,
      amount: eur("1000000.00"),
    });
    expectProblem(response, 404, "not-found");
    expect(await balances()).toEqual(before);
  });

  it("paying into another customer's account by IBAN is an ordinary transfer", async () => {
    const before = await balances();
    const response = await transferRequest(app, mallory.token, {
      fromAccountId: malloryAccount.id,
      toIban: aliceAccount.iban,
      amount: eur("2.00"),
    });
    expect(response.statusCode, response.body).toBe(201);
    const after = await balances();
    expect(minorUnits(after[0]!.booked) - minorUnits(before[0]!.booked)).toBe(200n);
    expect(minorUnits(before[1]!.booked) - minorUnits(after[1]!.booked)).toBe(200n);
    expect(after[0]!.transactions).toBe(before[0]!.transactions + 1);
    expect(after[1]!.transactions).toBe(before[1]!.transactions + 1);
  });

  it("a customer token cannot reach staff routes (401)", async () => {
    expectProblem(
      await get(`/v1/staff/accounts/${aliceAccount.id}`, bearer(alice.token)),
      401,
      "unauthorized",
    );
    const cash = await app.http.inject({
      method: "POST",
      url: `/v1/staff/accounts/${aliceAccount.id}/deposits`,
      headers: { ...bearer(alice.token), "idempotency-key": idempotencyKey() },
      payload: { amount: eur("1000.00") },
    });
    expectProblem(cash, 401, "unauthorized");
  });

  it.each([
    ["no Authorization header", {}],
    ["a malformed bearer token", { authorization: "Bearer not-a-jwt" }],
    ["another scheme", { authorization: "Basic dXNlcjpwYXNz" }],
  ])("a request with %s answers a 401 problem", async (_label, headers: Record<string, string>) => {
    expectProblem(await get("/v1/accounts", headers), 401, "unauthorized");
    expectProblem(await get(`/v1/accounts/${aliceAccount.id}`, headers), 401, "unauthorized");
    const move = await app.http.inject({
      method: "POST",
      url: "/v1/transfers",
      headers: { ...headers, "idempotency-key": idempotencyKey() },
      payload: { fromAccountId: aliceAccount.id, toIban: malloryAccount.iban, amount: eur("1.00") },
    });
    expectProblem(move, 401, "unauthorized");
  });

  it("a staff token on a customer route answers 401", async () => {
    expectProblem(await get("/v1/accounts", bearer(teller.token)), 401, "unauthorized");
    expectProblem(await get(`/v1/accounts/${aliceAccount.id}`, bearer(teller.token)), 401, "unauthorized");
    const before = await balances();
    const move = await transferRequest(app, teller.token, {
      fromAccountId: aliceAccount.id,
      toIban: malloryAccount.iban,
      amount: eur("1.00"),
    });
    expectProblem(move, 401, "unauthorized");
    expect(await balances()).toEqual(before);
  });

  it("a malformed path id answers 400 validation", async () => {
    for (const url of [
      "/v1/accounts/not-an-id",
      `/v1/accounts/${aliceAccount.id.toUpperCase()}`,
      "/v1/accounts/not-an-id/transactions",
      "/v1/transfers/not-an-id",
      `/v1/transfers/${aliceAccount.id}`,
    ]) {
      expectProblem(await get(url, bearer(alice.token)), 400, "validation");
    }
  });

  it("the customer comes from the token: a customerId in a body is an unknown field", async () => {
    const before = await balances();
    const move = await transferRequest(app, mallory.token, {
      fromAccountId: aliceAccount.id,
      toIban: malloryAccount.iban,
      amount: eur("1.00"),
      customerId: alice.customerId,
    });
    expectProblem(move, 400, "validation");
    expect(JSON.stringify(move.json())).toContain("customerId");
    expect(await balances()).toEqual(before);

    const open = await openAccountRequest(app, mallory.token, {
      type: "current",
      currency: "EUR",
      customerId: alice.customerId,
    });
    expectProblem(open, 400, "validation");
    const aliceAccounts = await get("/v1/accounts", bearer(alice.token));
    expect(aliceAccounts.json<{ items: AccountDto[] }>().items.map((account) => account.id)).toEqual([
      aliceAccount.id,
    ]);
  });
});

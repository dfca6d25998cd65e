import { isValidIBAN } from "ibantools";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestApp } from "../helpers/test-app.ts";
import { bearer, expectProblem } from "../identity.helpers.ts";
import {
  type AccountDto,
  type Customer,
  createPaymentsApp,
  deposit,
  eur,
  getAccount,
  idempotencyKey,
  newCustomer,
  newStaff,
  openAccount,
  openAccountRequest,
  type StaffMember,
  type TransactionDto,
  transactionsPage,
  transfer,
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

async function listAccounts(customer: Customer): Promise<AccountDto[]> {
  const response = await app.http.inject({
    method: "GET",
    url: "/v1/accounts",
    headers: bearer(customer.token),
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<{ items: AccountDto[] }>().items;
}

describe("opening accounts", () => {
  it("opens current and savings accounts in EUR and JPY with valid, unique IBANs and zero balances", async () => {
    const customer = await newCustomer(app);
    const specs = [
      { type: "current", currency: "EUR", zero: "0.00" },
      { type: "savings", currency: "EUR", zero: "0.00" },
      { type: "current", currency: "JPY", zero: "0" },
      { type: "savings", currency: "JPY", zero: "0" },
    ] as const;
    const opened: AccountDto[] = [];
    for (const spec of specs) {
      const account = await openAccount(app, customer.token, spec.type, spec.currency);
      expect(account).toMatchObject({
        type: spec.type,
        currency: spec.currency,
        status: "active",
        balances: {
          booked: { amount: spec.zero, currency: spec.currency },
          available: { amount: spec.zero, currency: spec.currency },
        },
      });
      expect(account.id).toMatch(/^acc_[0-9a-f]{32}$/);
      expect(isValidIBAN(account.iban), account.iban).toBe(true);
      expect(Number.isNaN(Date.parse(account.createdAt))).toBe(false);
      opened.push(account);
    }
    expect(new Set(opened.map((account) => account.iban)).size).toBe(opened.length);
    expect(new Set(opened.map((account) => account.id)).size).toBe(opened.length);

    // Another customer's accounts get IBANs of their own too.
    const other = await openAccount(app, (await newCustomer(app)).token);
    expect(opened.map((account) => account.iban)).not.toContain(other.iban);

    const listed = await listAccounts(customer);
    expect(listed.map((account) => account.id).sort()).toEqual(opened.map((account) => account.id).sort());
    for (const account of opened) expect(await getAccount(app, customer.token, account.id)).toEqual(account);
  });

  it("lists nothing for a customer without accounts", async () => {
    expect(await listAccounts(await newCustomer(app))).toEqual([]);
  });

  it.each([
    ["XAU", "a precious metal without a minor unit"],
    ["ABC", "not an ISO 4217 code"],
    ["eur", "lower case"],
    ["EURO", "four letters"],
  ])("refuses currency %s (%s) with 400 validation and opens nothing", async (currency) => {
    const customer = await newCustomer(app);
    const response = await openAccountRequest(app, customer.token, { type: "current", currency });
    expectProblem(response, 400, "validation");
    expect(await listAccounts(customer)).toEqual([]);
  });

  it.each<[Record<string, unknown>, string]>([
    [{ type: "current", currency: "EUR", overdraft: "1000.00" }, "an unknown field"],
    [{ type: "checking", currency: "EUR" }, "an unknown account type"],
    [{ currency: "EUR" }, "a missing type"],
  ])("refuses %j (%s) with 400 validation", async (payload) => {
    const customer = await newCustomer(app);
    expectProblem(await openAccountRequest(app, customer.token, payload), 400, "validation");
    expect(await listAccounts(customer)).toEqual([]);
  });

  it("replays the same account for the same Idempotency-Key and refuses the key with another body", async () => {
    const customer = await newCustomer(app);
    const key = idempotencyKey("open");
    const first = await openAccountRequest(app, customer.token, { type: "savings", currency: "EUR" }, key);
    expect(first.statusCode, first.body).toBe(201);
    // Field order does not make it a different request.
    const again = await openAccountRequest(app, customer.token, { currency: "EUR", type: "savings" }, key);
    expect(again.statusCode, again.body).toBe(201);
    expect(again.json<AccountDto>()).toEqual(first.json<AccountDto>());

    const reused = await openAccountRequest(app, customer.token, { type: "current", currency: "EUR" }, key);
    expectProblem(reused, 422, "idempotency-key-reused");
    expect((await listAccounts(customer)).map((account) => account.id)).toEqual([
      first.json<AccountDto>().id,
    ]);

    // The key belongs to its customer: another customer using it opens an account of their own.
    const other = await newCustomer(app);
    const theirs = await openAccountRequest(app, other.token, { type: "savings", currency: "EUR" }, key);
    expect(theirs.statusCode, theirs.body).toBe(201);
    expect(theirs.json<AccountDto>().id).not.toBe(first.json<AccountDto>().id);
  });

  it("refuses a 21st account with 409 conflict: a customer holds at most 20", async () => {
    const customer = await newCustomer(app);
    for (let index = 0; index < 20; index++) await openAccount(app, customer.token, "savings");
    const response = await openAccountRequest(app, customer.token, { type: "current", currency: "EUR" });
    expectProblem(response, 409, "conflict");
    expect(await listAccounts(customer)).toHaveLength(20);
  });

  it("refuses a malformed Idempotency-Key with 400 validation", async () => {
    const customer = await newCustomer(app);
    for (const key of ["short", "has space in it", "x".repeat(129)]) {
      const response = await openAccountRequest(
        app,
        customer.token,
        { type: "current", currency: "EUR" },
        key,
      );
      expectProblem(response, 400, "validation");
    }
    expect(await listAccounts(customer)).toEqual([]);
  });
});

describe("transaction history", () => {
  let owner: Customer;
  let account: AccountDto;
  let payments: { out: string; in: string };

  beforeAll(async () => {
    owner = await newCustomer(app);
    const payee = await newCustomer(app);
    account = await openAccount(app, owner.token);
    const payeeAccount = await openAccount(app, payee.token);
    await deposit(app, teller.token, account.id, eur("100.00"));
    const out = await transfer(app, owner.token, {
      fromAccountId: account.id,
      toIban: payeeAccount.iban,
      amount: eur("30.50"),
      reference: "rent",
    });
    const back = await transfer(app, payee.token, {
      fromAccountId: payeeAccount.id,
      toIban: account.iban,
      amount: eur("12.25"),
    });
    payments = { out: out.id, in: back.id };
  });

  it("shows signed amounts with the running balance after each, newest first", async () => {
    const response = await transactionsPage(app, owner.token, account.id);
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json<{ items: TransactionDto[]; nextCursor: string | null }>();
    expect(body.nextCursor).toBeNull();
    expect(
      body.items.map((item) => ({
        amount: item.amount,
        balanceAfter: item.balanceAfter,
        kind: item.kind,
        reference: item.reference,
        transferId: item.transferId,
      })),
    ).toEqual([
      {
        amount: eur("12.25"),
        balanceAfter: eur("81.75"),
        kind: "transfer",
        reference: null,
        transferId: payments.in,
      },
      {
        amount: eur("-30.50"),
        balanceAfter: eur("69.50"),
        kind: "transfer",
        reference: "rent",
        transferId: payments.out,
      },
      {
        amount: eur("100.00"),
        balanceAfter: eur("100.00"),
        kind: "deposit",
        reference: null,
        transferId: expect.stringMatching(/^dep_/),
      },
    ]);
    expect(new Set(body.items.map((item) => item.id)).size).toBe(3);
    const current = await getAccount(app, owner.token, account.id);
    expect(current.balances).toEqual({ booked: eur("81.75"), available: eur("81.75") });
  });

  it("walks every transaction exactly once with limit=1 and ends with nextCursor null", async () => {
    const full = (await transactionsPage(app, owner.token, account.id)).json<{ items: TransactionDto[] }>();
    const seen: TransactionDto[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page++) {
      const query: string = `?limit=1${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`;
      const response = await transactionsPage(app, owner.token, account.id, query);
      expect(response.statusCode, response.body).toBe(200);
      const body = response.json<{ items: TransactionDto[]; nextCursor: string | null }>();
      expect(body.items).toHaveLength(1);
      seen.push(...body.items);
      cursor = body.nextCursor;
      if (cursor === null) break;
    }
    expect(cursor).toBeNull();
    expect(seen).toEqual(full.items);
  });

  it.each([
    ["?cursor=not-a-cursor", "a cursor the server never issued"],
    [`?cursor=${Buffer.from("v1:abc").toString("base64url")}`, "a cursor with a non-numeric position"],
    [`?cursor=${"A".repeat(65)}`, "an overlong cursor"],
    ["?limit=0", "a zero limit"],
    ["?limit=201", "a limit above the maximum"],
    ["?limit=ten", "a non-numeric limit"],
    ["?offset=1", "an unknown query parameter"],
  ])("refuses %s (%s) with 400 validation", async (query) => {
    expectProblem(await transactionsPage(app, owner.token, account.id, query), 400, "validation");
  });

  it("answers 404 for the history of an account that does not exist", async () => {
    const response = await transactionsPage(app, owner.token, `acc_${"0".repeat(32)}`);
    expectProblem(response, 404, "not-found");
  });
});

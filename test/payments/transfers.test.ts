import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestApp } from "../helpers/test-app.ts";
import { bearer, expectProblem } from "../identity.helpers.ts";
import {
  type AccountDto,
  type Amount,
  type Customer,
  createPaymentsApp,
  deposit,
  eur,
  getAccount,
  humanIban,
  idempotencyKey,
  jpy,
  newCustomer,
  newStaff,
  openAccount,
  type StaffMember,
  snapshot,
  type TransferDto,
  transferRequest,
  unissuedIban,
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

interface Party {
  customer: Customer;
  account: AccountDto;
}

async function party(currency = "EUR", funds?: Amount): Promise<Party> {
  const customer = await newCustomer(app);
  const account = await openAccount(app, customer.token, "current", currency);
  if (funds) await deposit(app, teller.token, account.id, funds);
  return { customer, account };
}

function holdings(...parties: Party[]) {
  return parties.map((p) => ({ token: p.customer.token, accountId: p.account.id }));
}

async function freeze(accountId: string): Promise<void> {
  // Test setup only: no route freezes an account yet.
  await sql`update ledger_accounts set status = 'frozen' where id = ${accountId}`.execute(app.database.db);
}

function getTransfer(token: string, id: string) {
  return app.http.inject({ method: "GET", url: `/v1/transfers/${id}`, headers: bearer(token) });
}

describe("transfers: happy path", () => {
  it("moves money by IBAN, updates both balances and lets the sender read the transfer", async () => {
    const a = await party("EUR", eur("100.00"));
    const b = await party();

    const response = await transferRequest(app, a.customer.token, {
      fromAccountId: a.account.id,
      toIban: b.account.iban,
      amount: eur("30.50"),
      reference: "Invoice 42",
    });
    expect(response.statusCode, response.body).toBe(201);
    const created = response.json<TransferDto>();
    expect(created).toMatchObject({
      status: "settled",
      statusReason: null,
      external: false,
      fromAccountId: a.account.id,
      toIban: b.account.iban,
      amount: eur("30.50"),
      reference: "Invoice 42",
    });
    expect(created.id).toMatch(/^trf_[0-9a-f]{32}$/);
    // Inside the bank the whole lifecycle happens in the one transaction that books it.
    expect(created.statusHistory.map((step) => step.status)).toEqual(["received", "accepted", "settled"]);

    expect((await getAccount(app, a.customer.token, a.account.id)).balances).toEqual({
      booked: eur("69.50"),
      available: eur("69.50"),
    });
    expect((await getAccount(app, b.customer.token, b.account.id)).balances).toEqual({
      booked: eur("30.50"),
      available: eur("30.50"),
    });

    const read = await getTransfer(a.customer.token, created.id);
    expect(read.statusCode, read.body).toBe(200);
    expect(read.json()).toEqual(created);
  });

  it("accepts an IBAN written in lower case with spaces and answers with its electronic form", async () => {
    const a = await party("EUR", eur("10.00"));
    const b = await party();
    const response = await transferRequest(app, a.customer.token, {
      fromAccountId: a.account.id,
      toIban: humanIban(b.account.iban),
      amount: eur("0.01"),
    });
    expect(response.statusCode, response.body).toBe(201);
    expect(response.json<TransferDto>()).toMatchObject({ toIban: b.account.iban, reference: null });
    expect(await snapshot(app, holdings(a, b))).toEqual([
      { booked: "9.99", available: "9.99", transactions: 2 },
      { booked: "0.01", available: "0.01", transactions: 1 },
    ]);
  });

  it("moves the whole balance, leaving exactly zero", async () => {
    const a = await party("JPY", jpy("5000"));
    const b = await party("JPY");
    const response = await transferRequest(app, a.customer.token, {
      fromAccountId: a.account.id,
      toIban: b.account.iban,
      amount: jpy("5000"),
    });
    expect(response.statusCode, response.body).toBe(201);
    expect(await snapshot(app, holdings(a, b))).toEqual([
      { booked: "0", available: "0", transactions: 2 },
      { booked: "5000", available: "5000", transactions: 1 },
    ]);
  });
});

describe("transfers: refusals book nothing", () => {
  let a: Party;
  let b: Party;
  let yen: Party;
  let frozen: Party;

  beforeAll(async () => {
    a = await party("EUR", eur("50.00"));
    b = await party("EUR", eur("5.00"));
    yen = await party("JPY", jpy("1000"));
    frozen = await party("EUR", eur("20.00"));
    await freeze(frozen.account.id);
  });

  /** Runs the request and checks its problem type and that no account changed. */
  async function expectRefused(
    from: Party,
    payload: Record<string, unknown>,
    status: number,
    slug: string,
    key: string | null = idempotencyKey(),
  ) {
    const parties = [a, b, yen, frozen];
    const before = await snapshot(app, holdings(...parties));
    const response = await transferRequest(app, from.customer.token, payload, key);
    expectProblem(response, status, slug);
    expect(await snapshot(app, holdings(...parties))).toEqual(before);
    return response;
  }

  it("refuses more than the available balance with 422 insufficient-funds; the customer sees it rejected with that reason", async () => {
    const response = await expectRefused(
      a,
      { fromAccountId: a.account.id, toIban: b.account.iban, amount: eur("50.01") },
      422,
      "insufficient-funds",
    );
    const transferId = response.json<{ transferId?: string }>().transferId;
    expect(transferId).toMatch(/^trf_/);
    const read = await getTransfer(a.customer.token, String(transferId));
    expect(read.statusCode).toBe(200);
    expect(read.json<TransferDto>()).toMatchObject({
      status: "rejected",
      statusReason: "insufficient-funds",
    });
    expect(read.json<TransferDto>().statusHistory.map((step) => step.status)).toEqual([
      "received",
      "rejected",
    ]);
  });

  it("refuses a EUR amount to a JPY account with 422 currency-mismatch", async () => {
    await expectRefused(
      a,
      { fromAccountId: a.account.id, toIban: yen.account.iban, amount: eur("1.00") },
      422,
      "currency-mismatch",
    );
  });

  it("refuses a EUR amount from a JPY account with 422 currency-mismatch", async () => {
    await expectRefused(
      yen,
      { fromAccountId: yen.account.id, toIban: a.account.iban, amount: eur("1.00") },
      422,
      "currency-mismatch",
    );
  });

  it("refuses a JPY amount between EUR accounts with 422 currency-mismatch", async () => {
    await expectRefused(
      a,
      { fromAccountId: a.account.id, toIban: b.account.iban, amount: jpy("1") },
      422,
      "currency-mismatch",
    );
  });

  it("refuses paying into a frozen account with 422 account-not-active", async () => {
    await expectRefused(
      a,
      { fromAccountId: a.account.id, toIban: frozen.account.iban, amount: eur("1.00") },
      422,
      "account-not-active",
    );
  });

  it("refuses paying out of a frozen account with 422 account-not-active", async () => {
    await expectRefused(
      frozen,
      { fromAccountId: frozen.account.id, toIban: a.account.iban, amount: eur("1.00") },
      422,
      "account-not-active",
    );
  });

  it("refuses a well-formed IBAN that no account has with 422 account-not-found", async () => {
    const toIban = unissuedIban(a.account.iban);
    expect(toIban).not.toBe(a.account.iban);
    await expectRefused(
      a,
      { fromAccountId: a.account.id, toIban, amount: eur("1.00") },
      422,
      "account-not-found",
    );
  });

  it.each([
    ["DE00100100100000000001", "bad check digits"],
    ["hello", "garbage"],
    ["DE89 3704 0044 0532 0130 0", "one digit short"],
  ])("refuses IBAN %s (%s) with 422 invalid-iban", async (toIban) => {
    await expectRefused(a, { fromAccountId: a.account.id, toIban, amount: eur("1.00") }, 422, "invalid-iban");
  });

  it("refuses a transfer to the same account with 422 same-account", async () => {
    await expectRefused(
      a,
      { fromAccountId: a.account.id, toIban: a.account.iban, amount: eur("1.00") },
      422,
      "same-account",
    );
  });

  it.each([
    [eur("0.00"), "zero"],
    [eur("0"), "zero without decimals"],
    [eur("-5.00"), "negative"],
    [eur("1.001"), "three decimals in EUR"],
    [jpy("1.5"), "decimals in JPY"],
  ])("refuses amount %j (%s) with 422 invalid-amount", async (amount) => {
    const from = amount.currency === "JPY" ? yen : a;
    const to = amount.currency === "JPY" ? a : b;
    await expectRefused(
      from,
      { fromAccountId: from.account.id, toIban: to.account.iban, amount },
      422,
      "invalid-amount",
    );
  });

  it.each<[Record<string, unknown>, string]>([
    [{ amount: { amount: 12.5, currency: "EUR" } }, "an amount as a JSON number"],
    [{ amount: { amount: "1,00", currency: "EUR" } }, "a decimal comma"],
    [{ amount: { amount: "1.00", currency: "eur" } }, "a lower-case currency"],
    [{ amount: { amount: "1.00" } }, "no currency"],
    [{ customerId: "cus_00000000000000000000000000000000" }, "an unknown field"],
    [{ reference: "" }, "an empty reference"],
    [{ reference: "x".repeat(141) }, "a reference over 140 characters"],
    [{ fromAccountId: "acc_1" }, "a malformed account id"],
  ])("refuses %j (%s) with 400 validation", async (override) => {
    await expectRefused(
      a,
      { fromAccountId: a.account.id, toIban: b.account.iban, amount: eur("1.00"), ...override },
      400,
      "validation",
    );
  });

  it("refuses a transfer without an Idempotency-Key with 400 validation", async () => {
    const response = await expectRefused(
      a,
      { fromAccountId: a.account.id, toIban: b.account.iban, amount: eur("1.00") },
      400,
      "validation",
      null,
    );
    expect(response.json<{ detail: string }>().detail).toMatch(/idempotency-key/i);
  });

  it.each([
    ["short7!", "too short"],
    ["has spaces in it", "characters outside the allowed set"],
    ["k".repeat(129), "too long"],
  ])("refuses Idempotency-Key %s (%s) with 400 validation", async (key) => {
    await expectRefused(
      a,
      { fromAccountId: a.account.id, toIban: b.account.iban, amount: eur("1.00") },
      400,
      "validation",
      key,
    );
  });
});

describe("transfers: idempotency over HTTP", () => {
  it("answers the same key and body with the same 201 and moves the money once", async () => {
    const a = await party("EUR", eur("100.00"));
    const b = await party();
    const key = idempotencyKey();
    const payload = { fromAccountId: a.account.id, toIban: b.account.iban, amount: eur("10.00") };
    const first = await transferRequest(app, a.customer.token, payload, key);
    expect(first.statusCode, first.body).toBe(201);
    const second = await transferRequest(app, a.customer.token, { ...payload }, key);
    expect(second.statusCode, second.body).toBe(201);
    expect(second.json()).toEqual(first.json());
    expect(await snapshot(app, holdings(a, b))).toEqual([
      { booked: "90.00", available: "90.00", transactions: 2 },
      { booked: "10.00", available: "10.00", transactions: 1 },
    ]);
  });

  it("refuses the same key with another body with 422 idempotency-key-reused", async () => {
    const a = await party("EUR", eur("100.00"));
    const b = await party();
    const key = idempotencyKey();
    const payload = { fromAccountId: a.account.id, toIban: b.account.iban, amount: eur("10.00") };
    expect((await transferRequest(app, a.customer.token, payload, key)).statusCode).toBe(201);
    for (const changed of [
      { ...payload, amount: eur("11.00") },
      { ...payload, reference: "different" },
    ]) {
      expectProblem(
        await transferRequest(app, a.customer.token, changed, key),
        422,
        "idempotency-key-reused",
      );
    }
    expect(await snapshot(app, holdings(a, b))).toEqual([
      { booked: "90.00", available: "90.00", transactions: 2 },
      { booked: "10.00", available: "10.00", transactions: 1 },
    ]);
  });

  it("replays a refusal: the same key still gets 422 insufficient-funds after the account was funded", async () => {
    const a = await party();
    const b = await party();
    const key = idempotencyKey();
    const payload = { fromAccountId: a.account.id, toIban: b.account.iban, amount: eur("25.00") };
    const refused = await transferRequest(app, a.customer.token, payload, key);
    expectProblem(refused, 422, "insufficient-funds");

    await deposit(app, teller.token, a.account.id, eur("100.00"));
    const replayed = await transferRequest(app, a.customer.token, payload, key);
    expectProblem(replayed, 422, "insufficient-funds");
    const pick = (body: Record<string, unknown>) => ({
      type: body.type,
      detail: body.detail,
      transferId: body.transferId,
    });
    expect(pick(replayed.json())).toEqual(pick(refused.json()));
    expect(await snapshot(app, holdings(a, b))).toEqual([
      { booked: "100.00", available: "100.00", transactions: 1 },
      { booked: "0.00", available: "0.00", transactions: 0 },
    ]);

    // A new key is a new attempt, and now it succeeds.
    const retried = await transferRequest(app, a.customer.token, payload, idempotencyKey());
    expect(retried.statusCode, retried.body).toBe(201);
  });

  it("books exactly one transfer for 10 concurrent requests with the same key", async () => {
    const a = await party("EUR", eur("100.00"));
    const b = await party();
    const key = idempotencyKey();
    const payload = { fromAccountId: a.account.id, toIban: b.account.iban, amount: eur("7.00") };
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => transferRequest(app, a.customer.token, payload, key)),
    );
    const created = responses.filter((response) => response.statusCode === 201);
    const inFlight = responses.filter((response) => response.statusCode === 409);
    expect(created.length + inFlight.length, responses.map((r) => r.body).join("\n")).toBe(10);
    expect(created.length).toBeGreaterThanOrEqual(1);
    for (const response of inFlight) expectProblem(response, 409, "idempotency-key-in-flight");
    const bodies = new Set(created.map((response) => response.body));
    expect(bodies.size).toBe(1);

    // After the race, the key replays the one transfer that was booked.
    const after = await transferRequest(app, a.customer.token, payload, key);
    expect(after.statusCode, after.body).toBe(201);
    expect(after.json()).toEqual(created[0]!.json());
    expect(await snapshot(app, holdings(a, b))).toEqual([
      { booked: "93.00", available: "93.00", transactions: 2 },
      { booked: "7.00", available: "7.00", transactions: 1 },
    ]);
  });

  it("books every one of many concurrent transfers with different keys, and refuses what is not covered", async () => {
    const a = await party("EUR", eur("50.00"));
    const b = await party();
    const payload = { fromAccountId: a.account.id, toIban: b.account.iban, amount: eur("7.00") };
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => transferRequest(app, a.customer.token, payload, idempotencyKey())),
    );
    const created = responses.filter((response) => response.statusCode === 201);
    for (const response of responses) {
      if (response.statusCode !== 201) expectProblem(response, 422, "insufficient-funds");
    }
    // 50.00 covers seven transfers of 7.00 and not an eighth, whatever the order.
    expect(created).toHaveLength(7);
    expect(await snapshot(app, holdings(a, b))).toEqual([
      { booked: "1.00", available: "1.00", transactions: 8 },
      { booked: "49.00", available: "49.00", transactions: 7 },
    ]);
  });

  it("books crossing transfers (A→B and B→A at once) without deadlock or lost update", async () => {
    // Each side holds what it sends in total, so every order of booking is covered.
    const a = await party("EUR", eur("100.00"));
    const b = await party("EUR", eur("110.00"));
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, index) => {
        const [from, to] = index % 2 === 0 ? [a, b] : [b, a];
        return transferRequest(app, from.customer.token, {
          fromAccountId: from.account.id,
          toIban: to.account.iban,
          amount: eur(`${index + 1}.00`),
        });
      }),
    );
    for (const response of responses) expect(response.statusCode, response.body).toBe(201);
    // A sends 1+3+…+19 = 100.00 and receives 2+4+…+20 = 110.00.
    expect(await snapshot(app, holdings(a, b))).toEqual([
      { booked: "110.00", available: "110.00", transactions: 21 },
      { booked: "100.00", available: "100.00", transactions: 21 },
    ]);
  });
});

/** Regression tests for bugs found while writing the payments tests (each failed before its fix). */
import { afterAll, beforeAll, expect, it } from "vitest";
import type { TestApp } from "../helpers/test-app.ts";
import { bearer, expectProblem } from "../identity.helpers.ts";
import {
  type AccountDto,
  cashRequest,
  createPaymentsApp,
  deposit,
  eur,
  idempotencyKey,
  newCustomer,
  newStaff,
  openAccount,
  openAccountRequest,
  snapshot,
  transferRequest,
} from "./payments.helpers.ts";

let app: TestApp;
beforeAll(async () => {
  app = await createPaymentsApp();
});
afterAll(async () => {
  await app?.destroy();
});

it("authenticates before it validates: no token and a bad body or path is 401, not 400", async () => {
  expectProblem(await app.http.inject({ method: "GET", url: "/v1/accounts/not-an-id" }), 401, "unauthorized");
  expectProblem(
    await app.http.inject({ method: "POST", url: "/v1/transfers", payload: {} }),
    401,
    "unauthorized",
  );
  const customer = await newCustomer(app);
  const cash = await app.http.inject({
    method: "POST",
    url: "/v1/staff/accounts/acc_1/deposits",
    headers: bearer(customer.token),
    payload: { amount: 1 },
  });
  expectProblem(cash, 401, "unauthorized");
});

it("refuses an amount too large for the ledger with 422 invalid-amount, not 500", async () => {
  const teller = await newStaff(app, "teller");
  const customer = await newCustomer(app);
  const a = await openAccount(app, customer.token);
  const b = await openAccount(app, customer.token);
  const huge = eur("999999999999999999.99");
  expectProblem(
    await cashRequest(app, teller.token, "deposits", a.id, { amount: huge }),
    422,
    "invalid-amount",
  );
  const move = await transferRequest(app, customer.token, {
    fromAccountId: a.id,
    toIban: b.iban,
    amount: huge,
  });
  expectProblem(move, 422, "invalid-amount");
});

it("holds the 20-account cap under concurrent openings", async () => {
  const customer = await newCustomer(app);
  const responses = await Promise.all(
    Array.from({ length: 30 }, () =>
      openAccountRequest(app, customer.token, { type: "current", currency: "EUR" }),
    ),
  );
  expect(responses.filter((r) => r.statusCode === 201)).toHaveLength(20);
  const list = await app.http.inject({ method: "GET", url: "/v1/accounts", headers: bearer(customer.token) });
  expect(list.json<{ items: AccountDto[] }>().items).toHaveLength(20);
});

it("treats the same IBAN typed differently as the same request under one Idempotency-Key", async () => {
  const teller = await newStaff(app, "teller");
  const customer = await newCustomer(app);
  const a = await openAccount(app, customer.token);
  const b = await openAccount(app, customer.token);
  await deposit(app, teller.token, a.id, eur("10.00"));
  const key = idempotencyKey();
  const first = await transferRequest(
    app,
    customer.token,
    { fromAccountId: a.id, toIban: b.iban, amount: eur("1.00") },
    key,
  );
  expect(first.statusCode, first.body).toBe(201);
  const retry = await transferRequest(
    app,
    customer.token,
    { fromAccountId: a.id, toIban: b.iban.toLowerCase(), amount: eur("1.00") },
    key,
  );
  expect(retry.statusCode, retry.body).toBe(201);
  expect(retry.json()).toEqual(first.json());
  expect((await snapshot(app, [{ token: customer.token, accountId: b.id }]))[0]?.booked).toBe("1.00");
});

import { randomBytes } from "node:crypto";
import { composeIBAN } from "ibantools";
import { expect } from "vitest";
import type { App } from "../../src/app.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";
import {
  adminTokens,
  bearer,
  createStaff,
  signedInCustomer,
  staffLogin,
  type Tokens,
} from "../identity.helpers.ts";

/**
 * Shared steps of the money-movement HTTP tests. Everything goes through `app.http.inject`, so
 * routing, schemas, guards and problem+json are exercised exactly as a client sees them.
 */

export interface Amount {
  amount: string;
  currency: string;
}

export interface AccountDto {
  id: string;
  iban: string;
  type: "current" | "savings";
  currency: string;
  status: string;
  balances: { booked: Amount; available: Amount };
  createdAt: string;
}

export interface TransactionDto {
  id: string;
  bookedAt: string;
  amount: Amount;
  balanceAfter: Amount;
  kind: string;
  reference: string | null;
  transferId: string | null;
}

export interface TransferDto {
  id: string;
  status: string;
  statusReason: string | null;
  statusHistory: Array<{ status: string; reasonCode: string | null; at: string }>;
  external: boolean;
  fromAccountId: string;
  toIban: string;
  amount: Amount;
  reference: string | null;
  createdAt: string;
}

export interface CashMovementDto {
  id: string;
  kind: "deposit" | "withdrawal";
  status: string;
  accountId: string;
  amount: Amount;
  reference: string | null;
  createdAt: string;
}

export interface Customer {
  customerId: string;
  email: string;
  token: string;
}

export interface StaffMember {
  id: string;
  role: string;
  token: string;
}

/** These tests sign in far more often than a person would; security.test.ts covers the limit. */
export function createPaymentsApp(env: Record<string, string> = {}): Promise<TestApp> {
  return createTestApp({ env: { OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "10000", ...env } });
}

/** Daily limits no test sequence reaches, for tests about something else than limits. */
export const UNREACHABLE_DAILY_LIMITS = JSON.stringify({
  tiers: {
    basic: { perTransactionMinor: 1e12, dailyMinor: 1e12 },
    standard: { perTransactionMinor: 1e12, dailyMinor: 1e12 },
    premium: { perTransactionMinor: 1e12, dailyMinor: 1e12 },
  },
});

export function idempotencyKey(label = "key"): string {
  return `${label}-${randomBytes(8).toString("hex")}`;
}

export function eur(amount: string): Amount {
  return { amount, currency: "EUR" };
}

export function jpy(amount: string): Amount {
  return { amount, currency: "JPY" };
}

export async function newCustomer(app: App): Promise<Customer> {
  const { customerId, email, tokens } = await signedInCustomer(app);
  return { customerId, email, token: tokens.accessToken };
}

const admins = new WeakMap<App, Tokens>();

/** A staff user of `role`, signed in on `channel` (staff sign in on branch unless told otherwise). */
export async function newStaff(app: App, role: string, channel = "branch"): Promise<StaffMember> {
  let admin = admins.get(app);
  if (!admin) {
    admin = await adminTokens(app);
    admins.set(app, admin);
  }
  const staff = await createStaff(app, admin, role);
  const tokens = await staffLogin(app, staff.email, staff.password, { "x-channel": channel });
  return { id: staff.id, role, token: tokens.accessToken };
}

export function openAccountRequest(app: App, token: string, payload: Record<string, unknown>, key?: string) {
  return app.http.inject({
    method: "POST",
    url: "/v1/accounts",
    headers: { ...bearer(token), ...(key ? { "idempotency-key": key } : {}) },
    payload,
  });
}

export async function openAccount(
  app: App,
  token: string,
  type: "current" | "savings" = "current",
  currency = "EUR",
): Promise<AccountDto> {
  const response = await openAccountRequest(app, token, { type, currency });
  expect(response.statusCode, response.body).toBe(201);
  return response.json<AccountDto>();
}

export async function getAccount(app: App, token: string, id: string): Promise<AccountDto> {
  const response = await app.http.inject({
    method: "GET",
    url: `/v1/accounts/${id}`,
    headers: bearer(token),
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<AccountDto>();
}

export function transactionsPage(app: App, token: string, id: string, query = "") {
  return app.http.inject({
    method: "GET",
    url: `/v1/accounts/${id}/transactions${query}`,
    headers: bearer(token),
  });
}

/** Every transaction of an account, newest first, following cursors to the end. */
export async function allTransactions(app: App, token: string, id: string): Promise<TransactionDto[]> {
  const items: TransactionDto[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const query: string = `?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const response = await transactionsPage(app, token, id, query);
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json<{ items: TransactionDto[]; nextCursor: string | null }>();
    items.push(...body.items);
    cursor = body.nextCursor;
    if (cursor === null) return items;
  }
  throw new Error("transaction history did not end within 100 pages");
}

export function transferRequest(
  app: App,
  token: string,
  payload: Record<string, unknown>,
  /** null sends no Idempotency-Key header at all. */
  key: string | null = idempotencyKey("trf"),
) {
  return app.http.inject({
    method: "POST",
    url: "/v1/transfers",
    headers: { ...bearer(token), ...(key === null ? {} : { "idempotency-key": key }) },
    payload,
  });
}

export async function transfer(
  app: App,
  token: string,
  payload: { fromAccountId: string; toIban: string; amount: Amount; reference?: string },
): Promise<TransferDto> {
  const response = await transferRequest(app, token, payload);
  expect(response.statusCode, response.body).toBe(201);
  return response.json<TransferDto>();
}

export function cashRequest(
  app: App,
  token: string,
  kind: "deposits" | "withdrawals",
  accountId: string,
  payload: Record<string, unknown>,
  /** null sends no Idempotency-Key header at all. */
  key: string | null = idempotencyKey("cash"),
) {
  return app.http.inject({
    method: "POST",
    url: `/v1/staff/accounts/${accountId}/${kind}`,
    headers: { ...bearer(token), ...(key === null ? {} : { "idempotency-key": key }) },
    payload,
  });
}

export async function deposit(
  app: App,
  tellerToken: string,
  accountId: string,
  amount: Amount,
): Promise<CashMovementDto> {
  const response = await cashRequest(app, tellerToken, "deposits", accountId, { amount });
  expect(response.statusCode, response.body).toBe(201);
  return response.json<CashMovementDto>();
}

/** What a client can see of an account's money: both balances and how many transactions it has. */
export interface AccountSnapshot {
  booked: string;
  available: string;
  transactions: number;
}

export async function snapshot(
  app: App,
  holdings: Array<{ token: string; accountId: string }>,
): Promise<AccountSnapshot[]> {
  const result: AccountSnapshot[] = [];
  for (const { token, accountId } of holdings) {
    const account = await getAccount(app, token, accountId);
    const transactions = await allTransactions(app, token, accountId);
    result.push({
      booked: account.balances.booked.amount,
      available: account.balances.available.amount,
      transactions: transactions.length,
    });
  }
  return result;
}

/** A well-formed IBAN of this bank's format whose account number has never been issued. */
export function unissuedIban(ofThisBank: string): string {
  const bban = `${ofThisBank.slice(4, -6)}999999`;
  const iban = composeIBAN({ countryCode: ofThisBank.slice(0, 2), bban });
  if (!iban) throw new Error(`cannot compose an IBAN from ${bban}`);
  return iban;
}

/** "DE89370400440532013000" → "de89 3704 0044 0532 0130 00", as people type it. */
export function humanIban(iban: string): string {
  return iban
    .toLowerCase()
    .replace(/(.{4})/g, "$1 ")
    .trim();
}

/** "-12.34" → -1234n: the API formats amounts with exactly the currency's decimals. */
export function minorUnits(amount: string): bigint {
  if (!/^-?\d+(\.\d+)?$/.test(amount)) throw new Error(`not a decimal amount: ${amount}`);
  return BigInt(amount.replace(".", ""));
}

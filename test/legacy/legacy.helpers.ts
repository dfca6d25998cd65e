import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { type LegacyCoreSimulator, startLegacyCoreSimulator } from "../../simulators/legacy-core/server.ts";
import type { App } from "../../src/app.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";
import { bearer } from "../identity.helpers.ts";
import { type Customer, idempotencyKey, newCustomer, openAccount } from "../payments/payments.helpers.ts";
import { waitFor } from "../platform/wait.ts";

/**
 * Shared steps of the legacy-account tests: a real legacy core simulator on a free port with
 * tiny latencies, an app pointed at it, customers whose legacy accounts the core holds.
 */

export interface LegacyAccountDto {
  id: string;
  iban: string;
  currency: string;
  status: string;
  balances: { booked: { amount: string; currency: string }; available: { amount: string; currency: string } };
  asOf: string;
  stale: boolean;
}

export interface LegacyPaymentDto {
  id: string;
  status: "accepted" | "posted" | "rejected";
  statusReason: string | null;
  degraded: boolean;
}

export function startCore(): Promise<LegacyCoreSimulator> {
  return startLegacyCoreSimulator({ latencyScale: 0.001, onError: () => undefined });
}

export function legacyEnv(
  core: LegacyCoreSimulator,
  env: Record<string, string> = {},
): Record<string, string> {
  return {
    OMNICORE_LEGACY_URL: core.url,
    OMNICORE_LEGACY_FEED_INTERVAL_MS: "20",
    OMNICORE_LEGACY_SENDER_INTERVAL_MS: "20",
    OMNICORE_LEGACY_RETRY_BACKOFF_MAX_MS: "50",
    OMNICORE_LEGACY_RECONCILE_INTERVAL_S: "0",
    OMNICORE_CONNECTOR_BREAKER_FAILURES_MAX: "3",
    OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "10000",
    OMNICORE_RATE_LIMIT_AUTH_PER_ACCOUNT_PER_MINUTE: "10000",
    ...env,
  };
}

export function legacyApp(core: LegacyCoreSimulator, env: Record<string, string> = {}): Promise<TestApp> {
  return createTestApp({ env: legacyEnv(core, env) });
}

export function dataDir(): string {
  return mkdtempSync(join(tmpdir(), "omnicore-legacy-"));
}

/** A customer with a legacy account in the core (ownerRef = customer id), mirrored. */
export async function legacyCustomer(
  app: App,
  core: LegacyCoreSimulator,
  bookedMinor = "100000",
): Promise<Customer & { legacyAccountId: string; account: LegacyAccountDto }> {
  const customer = await newCustomer(app);
  const [seeded] = core.seedAccounts([{ currency: "EUR", ownerRef: customer.customerId, bookedMinor }]);
  let account: LegacyAccountDto | undefined;
  await waitFor(
    async () => {
      account = (await listLegacyAccounts(app, customer.token))[0];
      return account !== undefined;
    },
    400,
    25,
    "the legacy account is mirrored",
  );
  return { ...customer, legacyAccountId: seeded!.id, account: account! };
}

export async function listLegacyAccounts(app: App, token: string): Promise<LegacyAccountDto[]> {
  const response = await app.http.inject({
    method: "GET",
    url: "/v1/legacy-accounts",
    headers: bearer(token),
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<{ items: LegacyAccountDto[] }>().items;
}

export async function legacyAccount(app: App, token: string, id: string): Promise<LegacyAccountDto> {
  const response = await app.http.inject({
    method: "GET",
    url: `/v1/legacy-accounts/${id}`,
    headers: bearer(token),
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<LegacyAccountDto>();
}

/** An Omnicore ledger account to pay into. */
export async function destination(
  app: App,
): Promise<{ customer: Customer; accountId: string; iban: string }> {
  const customer = await newCustomer(app);
  const account = await openAccount(app, customer.token);
  return { customer, accountId: account.id, iban: account.iban };
}

export function payRequest(
  app: App,
  token: string,
  accountId: string,
  body: Record<string, unknown>,
  key = idempotencyKey("legacy"),
) {
  return app.http.inject({
    method: "POST",
    url: `/v1/legacy-accounts/${accountId}/payments`,
    headers: { ...bearer(token), "idempotency-key": key },
    payload: body,
  });
}

export async function pay(app: App, token: string, accountId: string, toIban: string, amount: string) {
  const response = await payRequest(app, token, accountId, {
    toIban,
    amount: { amount, currency: "EUR" },
    reference: "test payment",
  });
  expect(response.statusCode, response.body).toBe(202);
  return response.json<LegacyPaymentDto>();
}

export async function paymentOf(app: App, token: string, id: string): Promise<LegacyPaymentDto> {
  const response = await app.http.inject({
    method: "GET",
    url: `/v1/legacy-payments/${id}`,
    headers: bearer(token),
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<LegacyPaymentDto>();
}

export async function waitForStatus(app: App, token: string, id: string, status: LegacyPaymentDto["status"]) {
  await waitFor(
    async () => (await paymentOf(app, token, id)).status === status,
    400,
    25,
    `payment ${status}`,
  );
  return paymentOf(app, token, id);
}

/** Books a posting directly in the core, as its own channels would (not through Omnicore). */
export async function corePosting(
  core: LegacyCoreSimulator,
  accountId: string,
  postingId: string,
  amountMinor: string,
) {
  const response = await fetch(`${core.url}/postings`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ postingId, accountId, amountMinor, currency: "EUR", reference: "core channel" }),
  });
  expect(response.status).toBe(201);
}

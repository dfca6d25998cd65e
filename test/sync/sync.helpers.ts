import { expect } from "vitest";
import type { App } from "../../src/app.ts";
import { bearer, signedInCustomer } from "../identity.helpers.ts";
import {
  type AccountDto,
  deposit,
  eur,
  idempotencyKey,
  newStaff,
  openAccount,
  type TransferDto,
  transferRequest,
} from "../payments/payments.helpers.ts";
import { waitFor } from "../platform/wait.ts";

export interface SyncItem {
  seq: string;
  kind: string;
  op: "upsert" | "remove";
  data: Record<string, unknown> & { id?: string };
}

export interface SyncBody {
  snapshot: boolean;
  items: SyncItem[];
  nextCursor: string;
  hasMore: boolean;
  processedCommands: Array<{
    idempotencyKey: string;
    command: string;
    statusCode: number;
    resourceId: string | null;
    processedAt: string;
  }>;
}

export interface SyncCustomer {
  customerId: string;
  email: string;
  token: string;
  deviceId: string;
  account: AccountDto;
}

/** A customer signed in from a named device, with a current account funded by a teller. */
export async function fundedCustomer(app: App, deviceId: string, amount = "500.00"): Promise<SyncCustomer> {
  const { customerId, email, tokens } = await signedInCustomer(app, {
    "x-channel": "mobile",
    "x-device-id": deviceId,
  });
  const account = await openAccount(app, tokens.accessToken);
  const teller = await newStaff(app, "teller");
  await deposit(app, teller.token, account.id, eur(amount));
  return { customerId, email, token: tokens.accessToken, deviceId, account };
}

export function syncRequest(app: App, token: string, query = "", headers: Record<string, string> = {}) {
  return app.http.inject({
    method: "GET",
    url: `/v1/sync${query}`,
    headers: { ...bearer(token), ...headers },
  });
}

export async function syncPage(app: App, token: string, cursor?: string, limit?: number): Promise<SyncBody> {
  const parts = [
    ...(cursor ? [`cursor=${encodeURIComponent(cursor)}`] : []),
    ...(limit ? [`limit=${limit}`] : []),
  ];
  const response = await syncRequest(app, token, parts.length ? `?${parts.join("&")}` : "");
  expect(response.statusCode, response.body).toBe(200);
  return response.json<SyncBody>();
}

/** Every page after `cursor` until the log has no more, the entries of all pages in order. */
export async function syncAll(
  app: App,
  token: string,
  cursor: string,
): Promise<{ items: SyncItem[]; cursor: string }> {
  const items: SyncItem[] = [];
  let current = cursor;
  for (let page = 0; page < 100; page++) {
    const body = await syncPage(app, token, current);
    items.push(...body.items);
    current = body.nextCursor;
    if (!body.hasMore) return { items, cursor: current };
  }
  throw new Error("sync did not end");
}

/** Waits until the caller's log (after `cursor`) holds an entry that satisfies `predicate`. */
export async function waitForEntry(
  app: App,
  token: string,
  cursor: string,
  predicate: (item: SyncItem) => boolean,
  what = "sync entry",
): Promise<SyncItem[]> {
  let items: SyncItem[] = [];
  await waitFor(
    async () => {
      items = (await syncAll(app, token, cursor)).items;
      return items.some(predicate);
    },
    400,
    25,
    what,
  );
  return items;
}

export async function sendTransfer(
  app: App,
  from: SyncCustomer,
  toIban: string,
  amount = "1.00",
  key = idempotencyKey("sync"),
): Promise<TransferDto> {
  const response = await transferRequest(
    app,
    from.token,
    { fromAccountId: from.account.id, toIban, amount: eur(amount) },
    key,
  );
  expect(response.statusCode, response.body).toBe(201);
  return response.json<TransferDto>();
}

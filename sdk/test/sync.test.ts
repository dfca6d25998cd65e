import "fake-indexeddb/auto";
import { afterEach, describe, expect, it } from "vitest";
import { allTransactions, eur, transferRequest } from "../../test/payments/payments.helpers.ts";
import { waitFor } from "../../test/platform/wait.ts";
import {
  type CommandOutcome,
  isResyncProblem,
  type KeyValueStorage,
  MemoryStorage,
  OmnicoreClient,
} from "../src/index.ts";
import { IndexedDbStorage } from "../src/indexeddb-storage.ts";
import { startFlakyProxy } from "./support/flaky-proxy.ts";
import { instantScheduler, type RealBank, startRealBank } from "./support/real-app.ts";
import { compactedLog, freshSnapshot, pickKinds } from "./support/server-view.ts";

/** Delta sync against the real app (GET /v1/sync); the bad-network cases are in bad-network.test.ts. */

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function bank(): Promise<RealBank> {
  const started = await startRealBank();
  closers.push(() => started.app.destroy());
  return started;
}

async function clientFor(
  baseUrl: string,
  storage: KeyValueStorage = new MemoryStorage(),
  fetchImpl?: typeof fetch,
): Promise<OmnicoreClient> {
  return OmnicoreClient.create({
    baseUrl,
    storage,
    scheduler: instantScheduler,
    retry: { attemptsMax: 2 },
    syncPageLimit: 2,
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
  });
}

async function paymentByPayer(real: RealBank, amount: string): Promise<string> {
  const response = await transferRequest(real.app, real.payer.token, {
    fromAccountId: real.payer.account.id,
    toIban: real.payee.account.iban,
    amount: eur(amount),
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json<{ id: string }>().id;
}

describe("sync", () => {
  it("pulls pages from the stored cursor; a restarted app reads offline and asks only for what is new", async () => {
    const real = await bank();
    const storage = new MemoryStorage();
    const client = await clientFor(real.url, storage);
    await client.login(real.payer.email, real.payer.password);
    const first = await client.sync();
    expect(first.resynced).toBe(false);
    expect(client.state.get("account", real.payer.account.id)).toMatchObject({ id: real.payer.account.id });
    const cursor = client.state.snapshot.cursor!;

    const ids = [await paymentByPayer(real, "1.00"), await paymentByPayer(real, "2.00")];
    await waitFor(
      async () => {
        const log = await compactedLog(real, cursor);
        return ids.every((id) => log.some((item) => item.kind === "transfer" && item.data.id === id));
      },
      400,
      25,
      "both payments in the log",
    );

    const urls: string[] = [];
    const restarted = await clientFor(real.url, storage, (input, init) => {
      urls.push(String(input instanceof Request ? input.url : input));
      return globalThis.fetch(input, init);
    });
    // Offline reads come from storage, before any request.
    expect(restarted.state.get("account", real.payer.account.id)).toEqual(
      client.state.get("account", real.payer.account.id),
    );
    await restarted.login(real.payer.email, real.payer.password);
    const delta = await restarted.sync();
    // Two entries a page: the payments' entries take several pages.
    expect(delta.pages).toBeGreaterThan(1);
    const syncs = urls.filter((url) => url.includes("/v1/sync"));
    expect(new URL(syncs[0]!).searchParams.get("cursor")).toBe(cursor);
    expect(pickKinds(restarted.state.snapshot.entities)).toEqual(pickKinds(await freshSnapshot(real)));
    expect(Object.keys(restarted.state.snapshot.entities.transfer ?? {})).toEqual(
      expect.arrayContaining(ids),
    );
  });

  it("settles a queued command whose answer was lost from the sync's processed commands", async () => {
    const real = await bank();
    const target = new URL(real.url);
    const proxy = await startFlakyProxy({ host: target.hostname, port: Number(target.port) });
    closers.push(() => proxy.close());
    const client = await OmnicoreClient.create({
      baseUrl: proxy.url,
      scheduler: instantScheduler,
      // One attempt: the answer is lost and the command stays queued, as on a phone that went offline.
      retry: { attemptsMax: 1 },
    });
    await client.login(real.payer.email, real.payer.password);
    const outcomes: CommandOutcome[] = [];
    client.events.on("command-outcome", (outcome) => outcomes.push(outcome));
    proxy.cutResponses(1, 20, { path: "/v1/transfers" });
    const command = await client.transfer({
      fromAccountId: real.payer.account.id,
      toIban: real.payee.account.iban,
      amount: { amount: "4.20", currency: "EUR" },
      reference: "lost answer",
    });
    await waitFor(() => proxy.cutsDone === 1, 400, 25, "the answer cut");
    expect((await client.outbox.list()).map((queued) => queued.idempotencyKey)).toEqual([
      command.idempotencyKey,
    ]);
    expect(outcomes).toEqual([]);

    await client.sync();
    expect(await client.outbox.list()).toEqual([]);
    expect(outcomes).toHaveLength(1);
    const outcome = outcomes[0]!;
    expect(outcome).toMatchObject({ kind: "accepted", status: 201 });
    const credits = (await allTransactions(real.app, real.payee.token, real.payee.account.id)).filter(
      (transaction) => transaction.reference === "lost answer",
    );
    expect(credits).toHaveLength(1);
    expect(outcome.kind === "accepted" && outcome.result).toEqual({ id: credits[0]!.transferId });
  });

  it("keeps the synced state in IndexedDB (fake-indexeddb stands in for the browser)", async () => {
    const real = await bank();
    const storage = new IndexedDbStorage({ databaseName: "sync-test" });
    closers.push(() => storage.close());
    const client = await clientFor(real.url, storage);
    await client.login(real.payer.email, real.payer.password);
    await client.sync();
    const reopened = new IndexedDbStorage({ databaseName: "sync-test" });
    closers.push(() => reopened.close());
    const offline = await clientFor("http://127.0.0.1:9", reopened);
    expect(offline.state.get("account", real.payer.account.id)).toEqual(
      client.state.get("account", real.payer.account.id),
    );
    expect(offline.state.snapshot.cursor).toBe(client.state.snapshot.cursor);
    await reopened.delete("omnicore.state");
    expect(await reopened.get("omnicore.state")).toBeUndefined();
  });

  it("treats only 410 sync-cursor-expired as a resync", () => {
    const expired = { type: "https://omnicore.dev/problems/sync-cursor-expired", status: 410 };
    expect(isResyncProblem(410, expired)).toBe(true);
    expect(isResyncProblem(410, { type: "about:blank", status: 410 })).toBe(false);
    expect(isResyncProblem(400, { ...expired, status: 400 })).toBe(false);
    expect(isResyncProblem(410, undefined)).toBe(false);
  });
});

import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { bearer } from "../../test/identity.helpers.ts";
import {
  allTransactions,
  deposit,
  eur,
  newStaff,
  openAccount,
  type TransferDto,
  transferRequest,
} from "../../test/payments/payments.helpers.ts";
import { waitFor } from "../../test/platform/wait.ts";
import {
  type CommandOutcome,
  type KeyValueStorage,
  MemoryStorage,
  OmnicoreClient,
  type StreamStatus,
  type SyncItem,
} from "../src/index.ts";
import { type FlakyProxy, startFlakyProxy } from "./support/flaky-proxy.ts";
import { instantScheduler, type RealBank, startRealBank } from "./support/real-app.ts";
import { compactedLog, freshSnapshot, logEntries, pickKinds } from "./support/server-view.ts";

/**
 * The SDK against the real app behind a TCP proxy that adds latency, cuts responses half way and
 * partitions the network. Every fault is triggered by count or bytes, never by time; what the
 * client ends up with is compared with what the server says when asked straight.
 */

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function bankBehindProxy(latencyMs: number): Promise<{ bank: RealBank; proxy: FlakyProxy }> {
  const bank = await startRealBank();
  closers.push(() => bank.app.destroy());
  const target = new URL(bank.url);
  const proxy = await startFlakyProxy({ host: target.hostname, port: Number(target.port) }, latencyMs);
  closers.push(() => proxy.close());
  return { bank, proxy };
}

/** Counts the writes of the synced state (the 304 path must not write). */
class CountingStorage extends MemoryStorage {
  stateWrites = 0;
  override async set<T>(key: string, value: T): Promise<void> {
    if (key === "omnicore.state") this.stateWrites++;
    await super.set(key, value);
  }
}

/** A fetch that records every answer's status and request URL. */
function recordingFetch(): { fetch: typeof fetch; seen: Array<{ url: string; status: number }> } {
  const seen: Array<{ url: string; status: number }> = [];
  return {
    seen,
    fetch: async (input, init) => {
      const response = await globalThis.fetch(input, init);
      seen.push({ url: String(input instanceof Request ? input.url : input), status: response.status });
      return response;
    },
  };
}

async function signedInClient(
  bank: RealBank,
  baseUrl: string,
  options: { storage?: KeyValueStorage; fetch?: typeof fetch; syncPageLimit?: number } = {},
) {
  const client = await OmnicoreClient.create({
    baseUrl,
    storage: options.storage ?? new MemoryStorage(),
    scheduler: instantScheduler,
    retry: { attemptsMax: 3 },
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.syncPageLimit ? { syncPageLimit: options.syncPageLimit } : {}),
  });
  await client.login(bank.payer.email, bank.payer.password);
  return client;
}

async function fundPayee(bank: RealBank): Promise<void> {
  const teller = await newStaff(bank.app, "teller");
  await deposit(bank.app, teller.token, bank.payee.account.id, eur("200.00"));
}

/** A payment to the payer, made on the server side (not through the SDK or the proxy). */
async function paymentToPayer(bank: RealBank, amount: string, reference: string): Promise<TransferDto> {
  const response = await transferRequest(bank.app, bank.payee.token, {
    fromAccountId: bank.payee.account.id,
    toIban: bank.payer.account.iban,
    amount: eur(amount),
    reference,
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json<TransferDto>();
}

/** A payment by the payer, made straight on the server with the payer's other session. */
async function paymentByPayer(bank: RealBank, amount: string, reference: string): Promise<TransferDto> {
  const response = await transferRequest(bank.app, bank.payer.token, {
    fromAccountId: bank.payer.account.id,
    toIban: bank.payee.account.iban,
    amount: eur(amount),
    reference,
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json<TransferDto>();
}

/** Syncs until one sync succeeds; faults in the proxy make the earlier ones fail. */
async function syncThroughFaults(client: OmnicoreClient, rounds = 20) {
  for (let round = 0; round < rounds; round++) {
    const result = await client.sync().catch(() => undefined);
    if (result) return result;
  }
  throw new Error(`no sync succeeded in ${rounds} rounds`);
}

describe("under a bad network", () => {
  it("executes every queued payment exactly once against the real app", async () => {
    const { bank, proxy } = await bankBehindProxy(2);
    const client = await signedInClient(bank, proxy.url);
    const outcomes: CommandOutcome[] = [];
    client.events.on("command-outcome", (outcome) => outcomes.push(outcome));

    // Offline: the payments are queued with their keys.
    proxy.partition();
    const amounts = ["1.00", "2.00", "3.00", "4.00", "5.00", "6.00"];
    for (const amount of amounts) {
      await client.transfer({
        fromAccountId: bank.payer.account.id,
        toIban: bank.payee.account.iban,
        amount: { amount, currency: "EUR" },
        reference: `flaky ${amount}`,
      });
    }
    expect(await client.flush()).toMatchObject({ delivered: 0, interrupted: true });

    // Back, but flaky: responses are cut half way, after the server has executed the transfer.
    proxy.heal();
    proxy.cutResponses(4, 60);
    let result = await client.flush();
    // A partition in the middle of the replay, then healed; flush until the queue is empty.
    proxy.partition();
    result = await client.flush();
    proxy.heal();
    for (let round = 0; round < 20 && result.remaining > 0; round++) result = await client.flush();

    expect(result.remaining).toBe(0);
    expect(proxy.cutsDone).toBeGreaterThan(0);
    expect(outcomes.map((outcome) => outcome.kind)).toEqual(amounts.map(() => "accepted"));
    const credits = (await allTransactions(bank.app, bank.payee.token, bank.payee.account.id))
      .filter((transaction) => transaction.reference?.startsWith("flaky"))
      .map((transaction) => transaction.amount.amount)
      .sort();
    expect(credits).toEqual(amounts);
  });

  it("converges the synced state with a fresh snapshot through cuts and a partition; 304 and 410 paths", async () => {
    const { bank, proxy } = await bankBehindProxy(1);
    await fundPayee(bank);
    const storage = new CountingStorage();
    const recorded = recordingFetch();
    const client = await signedInClient(bank, proxy.url, {
      storage,
      fetch: recorded.fetch,
      syncPageLimit: 3,
    });
    // The first sync (a snapshot) with its answer cut twice.
    proxy.cutResponses(2, 200);
    await syncThroughFaults(client);
    const start = client.state.snapshot.cursor!;

    // Changes of every kind: payments by the payer through the SDK and on the server, payments to
    // the payer, a payee added through the SDK and another added then removed on the server.
    const sent: string[] = [];
    for (const amount of ["1.10", "1.20", "1.30"]) {
      await client.transfer({
        fromAccountId: bank.payer.account.id,
        toIban: bank.payee.account.iban,
        amount: { amount, currency: "EUR" },
        reference: `sync ${amount}`,
      });
    }
    expect(await client.flush()).toMatchObject({ remaining: 0 });
    sent.push((await paymentByPayer(bank, "2.10", "direct")).id);
    const received = [
      (await paymentToPayer(bank, "3.10", "in 1")).id,
      (await paymentToPayer(bank, "3.20", "in 2")).id,
    ];
    const outcomes: CommandOutcome[] = [];
    client.events.on("command-outcome", (outcome) => outcomes.push(outcome));
    await client.addPayee({ name: "Grace Hopper", iban: bank.payee.account.iban });
    await client.flush();
    expect(
      outcomes.map((outcome) => [outcome.kind, outcome.kind === "rejected" ? outcome.problem : null]),
    ).toEqual([["accepted", null]]);
    const removed = await bank.app.http.inject({
      method: "POST",
      url: "/v1/payees",
      headers: bearer(bank.payer.token),
      // Another IBAN: a payee is saved once per IBAN.
      payload: { name: "Short Lived", iban: (await openAccount(bank.app, bank.payee.token)).iban },
    });
    expect(removed.statusCode, removed.body).toBe(201);
    const removedId = removed.json<{ payee: { id: string } }>().payee.id;
    const deleted = await bank.app.http.inject({
      method: "DELETE",
      url: `/v1/payees/${removedId}`,
      headers: bearer(bank.payer.token),
    });
    expect(deleted.statusCode, deleted.body).toBeLessThan(300);
    // The log is fed asynchronously: wait (on the server, straight) until all of it is there.
    await waitFor(
      async () => {
        const log = await compactedLog(bank, start);
        const transfers = new Set(log.filter((item) => item.kind === "transfer").map((item) => item.data.id));
        const credits = new Set(log.map((item) => item.data.transferId));
        return (
          transfers.size >= 4 &&
          received.every((id) => credits.has(id)) &&
          log.some((item) => item.kind === "payee" && item.op === "remove" && item.data.id === removedId)
        );
      },
      400,
      25,
      "the changes in the payer's log",
    );

    // Pages cut half way, then a partition, then cut again, until one sync goes through.
    proxy.cutResponses(3, 150);
    await client.sync().catch(() => undefined);
    proxy.partition();
    await expect(client.sync()).rejects.toThrow();
    proxy.heal();
    proxy.cutResponses(2, 90);
    const synced = await syncThroughFaults(client);
    expect(synced.notModified).toBe(false);
    expect(proxy.cutsDone).toBeGreaterThanOrEqual(5);
    expect(recorded.seen.filter((seen) => seen.url.includes("/v1/sync?cursor=")).length).toBeGreaterThan(2);

    const expected = pickKinds(await freshSnapshot(bank));
    expect(Object.keys(expected.transfer ?? {})).toEqual(expect.arrayContaining(sent));
    expect(expected.payee?.[removedId]).toBeUndefined();
    expect(pickKinds(client.state.snapshot.entities)).toEqual(expected);

    // Nothing changed since: the stored ETag gets a 304 and nothing is written.
    await client.sync(); // the answer for the head cursor, whose ETag is the one kept
    const writes = storage.stateWrites;
    const cursor = client.state.snapshot.cursor;
    expect(client.state.snapshot.etag).toMatch(/^W\//);
    expect(await client.sync()).toMatchObject({ notModified: true, items: 0 });
    expect(recorded.seen.at(-1)).toMatchObject({ status: 304 });
    expect(storage.stateWrites).toBe(writes);
    expect(client.state.snapshot.cursor).toBe(cursor);
    // A change for the payer makes the same request answer 200 again.
    const late = await paymentToPayer(bank, "0.70", "late");
    await waitFor(
      async () => (await compactedLog(bank, cursor!)).some((item) => item.data.transferId === late.id),
      400,
      25,
      "the late payment in the log",
    );
    expect(await client.sync()).toMatchObject({ notModified: false });
    expect(client.state.list("transaction").some((item) => item.transferId === late.id)).toBe(true);

    // A malformed cursor in storage: the server answers 410 sync-cursor-expired; the client
    // rebuilds from a snapshot (its answer cut once) and the old state stays readable meanwhile.
    await client.state.replace({ ...client.state.snapshot, cursor: "bm90LWEtY3Vyc29y", etag: null });
    const resyncs: unknown[] = [];
    client.events.on("resync", (event) => resyncs.push(event));
    proxy.cutResponses(1, 120);
    const rebuilt = await syncThroughFaults(client);
    expect(rebuilt.resynced).toBe(true);
    expect(resyncs.length).toBeGreaterThanOrEqual(1);
    expect(recorded.seen.some((seen) => seen.status === 410)).toBe(true);
    expect(pickKinds(client.state.snapshot.entities)).toEqual(pickKinds(await freshSnapshot(bank)));
  });

  it("follows the event stream through cuts and a partition: every entry once, in order, none missed", async () => {
    const { bank, proxy } = await bankBehindProxy(1);
    await fundPayee(bank);
    const client = await signedInClient(bank, proxy.url);
    await client.sync();
    const windowStart = client.state.snapshot.cursor!;
    const seen: SyncItem[] = [];
    client.events.on("change", (item) => seen.push(item));
    const statuses: StreamStatus[] = [];
    let reconnectsWhilePartitioned = 0;
    let partitioned = false;
    client.events.on("stream", (status) => {
      statuses.push(status);
      // Healed by count: after the third failed reconnect while partitioned.
      if (partitioned && status.status === "reconnecting" && ++reconnectsWhilePartitioned === 3) {
        partitioned = false;
        proxy.heal();
      }
    });
    const follower = client.follow();
    closers.push(() => follower.close());
    await waitFor(() => statuses.some((status) => status.status === "open"), 400, 25, "the stream open");

    const payments: string[] = [];
    let cuts = 0;
    for (let index = 0; index < 12; index++) {
      if (index === 3 || index === 6 || index === 8) {
        // The stream connection (only it) is cut a few hundred bytes into the next entries.
        proxy.cutResponses(1, 250 + index * 41, { path: "/v1/events/stream" });
        cuts++;
      }
      if (index === 10) {
        partitioned = true;
        proxy.partition();
      }
      const amount = `0.${String(index + 10)}`;
      if (index % 3 === 0 && !partitioned) {
        const command = await client.transfer({
          fromAccountId: bank.payer.account.id,
          toIban: bank.payee.account.iban,
          amount: { amount, currency: "EUR" },
          reference: `live ${index}`,
        });
        await client.flush();
        payments.push(command.idempotencyKey);
      } else if (index % 3 === 1) {
        payments.push((await paymentToPayer(bank, amount, `live ${index}`)).id);
      } else {
        payments.push((await paymentByPayer(bank, amount, `live ${index}`)).id);
      }
      if (index === 3 || index === 6 || index === 8) {
        await waitFor(() => proxy.cutsDone === cuts, 400, 25, `stream cut ${cuts}`);
        // Open again before the next fault, so each fault costs its own connection.
        await waitFor(
          () => statuses.filter((status) => status.status === "open").length === cuts + 1,
          400,
          25,
          `the stream reopened after cut ${cuts}`,
        );
      }
    }
    await waitFor(() => !partitioned, 400, 25, "healed after three reconnects");
    expect(await client.outbox.list()).toEqual([]);

    // Until the follower has caught up with the server's log (read straight), then close it.
    let log: SyncItem[] = [];
    await waitFor(
      async () => {
        log = await compactedLog(bank, windowStart);
        const payers = log.filter((item) => item.kind === "transaction").length;
        return payers >= 12 && seen.at(-1)?.seq === log.at(-1)?.seq;
      },
      400,
      25,
      "the follower caught up",
    );
    await follower.close();
    const lastSeq = BigInt(follower.lastSeq!);

    const seqs = seen.map((item) => BigInt(item.seq));
    for (let index = 1; index < seqs.length; index++) expect(seqs[index]! > seqs[index - 1]!).toBe(true);
    const entries = (await logEntries(bank, windowStart)).filter((item) => BigInt(item.seq) <= lastSeq);
    expect(seen.map((item) => item.seq)).toEqual(entries.map((item) => item.seq));
    expect(seen).toEqual(entries);
    expect(seen.filter((item) => item.kind === "transaction")).toHaveLength(12);
    expect(proxy.cutsDone).toBe(cuts);
    expect(follower.stats.connections).toBeGreaterThanOrEqual(1 + cuts + 1);
    expect(statuses.at(-1)).toEqual({ status: "closed", reason: "closed" });
    // The entries were applied to the offline state; the sync cursor did not move.
    expect(client.state.snapshot.cursor).toBe(windowStart);
    const lastTransaction = seen.filter((item) => item.kind === "transaction").at(-1)!;
    expect(client.state.get("transaction", lastTransaction.data.id!)).toEqual(lastTransaction.data);
  });

  it("resyncs when the stream answers 410 (the log was pruned past it) and follows on from the new state", async () => {
    const { bank, proxy } = await bankBehindProxy(0);
    await fundPayee(bank);
    const client = await signedInClient(bank, proxy.url);
    await client.sync();
    const stale = client.state.snapshot.seq!;
    const before = await paymentToPayer(bank, "0.42", "before prune");
    await waitFor(
      async () =>
        (await compactedLog(bank, client.state.snapshot.cursor!)).some(
          (item) => item.data.transferId === before.id,
        ),
      400,
      25,
      "the payment in the log",
    );
    // As if the retention job had pruned everything so far: the follower's seq is below the watermark.
    await sql`update sync_watermark set pruned_through_seq = (select max(seq) from sync_changes) where id = 1`.execute(
      bank.app.database.db,
    );
    const statuses: StreamStatus[] = [];
    client.events.on("stream", (status) => statuses.push(status));
    const seen: SyncItem[] = [];
    client.events.on("change", (item) => seen.push(item));
    const follower = client.follow({ after: stale });
    closers.push(() => follower.close());
    await waitFor(() => statuses.some((status) => status.status === "open"), 400, 25, "the stream open");
    expect(statuses.map((status) => status.status).slice(0, 2)).toEqual(["resyncing", "open"]);
    expect(follower.stats.resyncs).toBe(1);
    // The resync rebuilt the state from a snapshot, which holds the payment made before the prune.
    expect(client.state.list("transaction").some((item) => item.transferId === before.id)).toBe(true);
    const after = await paymentToPayer(bank, "0.43", "after prune");
    await waitFor(() => seen.some((item) => item.data.transferId === after.id), 400, 25, "the live entry");
    expect(seen.every((item) => BigInt(item.seq) > BigInt(stale))).toBe(true);
    await follower.close();
  });
});

import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeSyncCursor, encodeSyncCursor } from "../../src/modules/sync/index.ts";
import type { DomainEvent } from "../../src/platform/events/event.ts";
import { findOutboxEvents } from "../../src/platform/events/outbox.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";
import { bearer, expectProblem, login, PASSWORD } from "../identity.helpers.ts";
import { idempotencyKey } from "../payments/payments.helpers.ts";
import { waitFor } from "../platform/wait.ts";
import {
  fundedCustomer,
  type SyncCustomer,
  sendTransfer,
  syncAll,
  syncPage,
  syncRequest,
  waitForEntry,
} from "./sync.helpers.ts";

let app: TestApp;
let alice: SyncCustomer;
let bob: SyncCustomer;

beforeAll(async () => {
  app = await createTestApp({ env: { OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "10000" } });
  alice = await fundedCustomer(app, "alice-phone");
  bob = await fundedCustomer(app, "bob-phone");
  // The deposits and account openings reach the log through the relay and the consumer.
  for (const customer of [alice, bob]) {
    await waitForEntry(app, customer.token, encodeSyncCursor(0n), (item) => item.kind === "transaction");
  }
});

afterAll(async () => {
  await app?.destroy();
});

async function logRows(eventId: string) {
  return app.database.db
    .selectFrom("sync_changes" as never)
    .select(["seq", "kind", "entity_id"] as never[])
    .where("event_id" as never, "=", eventId as never)
    .execute();
}

describe("the change log", () => {
  it("records a transfer for both customers: the payment, both accounts and both transactions", async () => {
    const before = await syncPage(app, alice.token);
    const sent = await sendTransfer(app, alice, bob.account.iban, "12.34");
    const items = await waitForEntry(app, alice.token, before.nextCursor, (item) => item.data.id === sent.id);
    const transfer = items.find((item) => item.kind === "transfer" && item.data.id === sent.id);
    expect(transfer?.data).toMatchObject({ id: sent.id, status: sent.status, amount: sent.amount });
    const account = items.find((item) => item.kind === "account" && item.data.id === alice.account.id);
    expect(account?.data).toMatchObject({ balances: { booked: { currency: "EUR" } } });
    expect(items.some((item) => item.kind === "transaction" && item.data.transferId === sent.id)).toBe(true);
    const theirs = await waitForEntry(
      app,
      bob.token,
      encodeSyncCursor(0n),
      (item) => item.kind === "transaction" && item.data.transferId === sent.id,
    );
    expect(theirs.some((item) => item.kind === "transfer" && item.data.id === sent.id)).toBe(false);
  });

  it("records each kind once when an event is delivered twice", async () => {
    const sent = await sendTransfer(app, alice, bob.account.iban, "2.00");
    const [stored] = await findOutboxEvents(app.database.db, {
      type: "transfer.completed",
      aggregateId: sent.id,
    });
    const event = stored!.event as unknown as DomainEvent;
    await waitFor(async () => (await logRows(event.id)).length > 0, 400, 25, "first delivery");
    const first = await logRows(event.id);
    await app.bus.publish([event]);
    // A later event on the same consumer: once it is in the log, the redelivery was handled too.
    const marker = await sendTransfer(app, alice, bob.account.iban, "0.01");
    const [markerStored] = await findOutboxEvents(app.database.db, {
      type: "transfer.completed",
      aggregateId: marker.id,
    });
    await waitFor(async () => (await logRows(markerStored!.event.id as string)).length > 0);
    expect(await logRows(event.id)).toEqual(first);
    const kinds = (first as Array<{ kind: string; entity_id: string }>).map(
      (row) => `${row.kind}:${row.entity_id}`,
    );
    expect(new Set(kinds).size).toBe(kinds.length);
  });

  it("compacts a page to the latest entry per entity while the cursor passes all of them", async () => {
    const start = await syncPage(app, alice.token);
    const sent: Array<{ id: string }> = [];
    for (let i = 0; i < 3; i++) sent.push(await sendTransfer(app, alice, bob.account.iban, "0.10"));
    await waitForEntry(app, alice.token, start.nextCursor, (item) => item.data.id === sent[2]!.id);
    const page = await syncPage(app, alice.token, start.nextCursor, 500);
    const accounts = page.items.filter(
      (item) => item.kind === "account" && item.data.id === alice.account.id,
    );
    expect(accounts).toHaveLength(1);
    const seqs = page.items.map((item) => BigInt(item.seq));
    expect([...seqs].sort((a, b) => (a < b ? -1 : 1))).toEqual(seqs);
    expect(decodeSyncCursor(page.nextCursor)!.seq).toBeGreaterThanOrEqual(seqs.at(-1)!);
    // The account's last entry carries the balance after the last transfer.
    const live = await app.http.inject({
      method: "GET",
      url: `/v1/accounts/${alice.account.id}`,
      headers: bearer(alice.token),
    });
    expect(accounts[0]!.data).toEqual(live.json());
  });

  it("pages are bounded and hasMore says when to ask again", async () => {
    const page = await syncPage(app, alice.token, encodeSyncCursor(0n), 2);
    expect(page.hasMore).toBe(true);
    expect(page.items.length).toBeLessThanOrEqual(2);
    const tooMany = await syncRequest(app, alice.token, "?limit=501");
    expectProblem(tooMany, 400, "validation");
  });
});

describe("snapshot", () => {
  it("the first sync is a bounded snapshot of the current state, then deltas follow from its cursor", async () => {
    const page = await syncPage(app, alice.token);
    expect(page.snapshot).toBe(true);
    expect(page.items.find((item) => item.kind === "account")?.data.id).toBe(alice.account.id);
    expect(page.items.some((item) => item.kind === "transaction")).toBe(true);
    expect(page.items.some((item) => item.kind === "transfer")).toBe(true);
    const delta = await syncPage(app, alice.token, page.nextCursor);
    expect(delta.snapshot).toBe(false);
  });
});

describe("BOLA", () => {
  it("never shows one customer's entries to another, whatever cursor they forge", async () => {
    const aliceIds = new Set(
      (await syncAll(app, alice.token, encodeSyncCursor(0n))).items.map((item) => item.data.id),
    );
    for (const cursor of [
      encodeSyncCursor(0n),
      (await syncPage(app, alice.token, encodeSyncCursor(0n), 1)).nextCursor,
    ]) {
      const bobs = (await syncAll(app, bob.token, cursor)).items;
      expect(bobs.length).toBeGreaterThan(0);
      for (const item of bobs) {
        if (item.kind === "transaction" || item.kind === "account")
          expect(aliceIds.has(item.data.id)).toBe(false);
        expect(item.data.id).not.toBe(alice.account.id);
        if (item.kind === "transfer") expect(item.data.fromAccountId).toBe(bob.account.id);
      }
    }
  });
});

describe("cursors", () => {
  it("answers sync-cursor-expired to a malformed cursor", async () => {
    for (const cursor of [
      "garbage",
      Buffer.from("v1:12").toString("base64url"),
      Buffer.from("s1:-1").toString("base64url"),
      "",
      "x".repeat(2048),
      Buffer.from("s1:9999999999999999999").toString("base64url"),
    ]) {
      expectProblem(await syncRequest(app, alice.token, `?cursor=${cursor}`), 410, "sync-cursor-expired");
    }
    // Past the bound it is not worth decoding: a plain validation error.
    expectProblem(await syncRequest(app, alice.token, `?cursor=${"x".repeat(2049)}`), 400, "validation");
  });

  it("answers sync-cursor-expired to a cursor older than the retention", async () => {
    let offsetMs = 0;
    const shifted = await createTestApp({
      clock: { now: () => new Date(Date.now() + offsetMs) },
      env: { OMNICORE_SYNC_RETENTION_DAYS: "1", OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "10000" },
    });
    try {
      const carol = await fundedCustomer(shifted, "carol-phone");
      await waitForEntry(shifted, carol.token, encodeSyncCursor(0n), (item) => item.kind === "transaction");
      const old = encodeSyncCursor(0n);
      offsetMs = 2 * 86_400_000;
      expect(await shifted.services.sync.prune()).toBeGreaterThan(0);
      const token = (await login(shifted, carol.email, PASSWORD)).accessToken;
      expectProblem(await syncRequest(shifted, token, `?cursor=${old}`), 410, "sync-cursor-expired");
      // A snapshot still works, and its cursor is good.
      const fresh = await syncPage(shifted, token);
      expect((await syncPage(shifted, token, fresh.nextCursor)).items).toEqual([]);
    } finally {
      await shifted.destroy();
    }
  });
});

describe("HTTP caching and compression", () => {
  it("answers 304 to If-None-Match while nothing changed for the caller, 200 once something did", async () => {
    const head = (await syncAll(app, alice.token, encodeSyncCursor(0n))).cursor;
    const first = await syncRequest(app, alice.token, `?cursor=${head}`);
    const etag = String(first.headers.etag);
    expect(etag).toMatch(/^W\/".+"$/);
    const again = await syncRequest(app, alice.token, `?cursor=${head}`, { "if-none-match": etag });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe("");
    // Bob's own activity changes nothing for Alice.
    const payee = await app.http.inject({
      method: "POST",
      url: "/v1/payees",
      headers: bearer(bob.token),
      payload: { name: "Alice", iban: alice.account.iban },
    });
    expect(payee.statusCode, payee.body).toBe(201);
    await waitForEntry(app, bob.token, encodeSyncCursor(0n), (item) => item.kind === "payee");
    const still = await syncRequest(app, alice.token, `?cursor=${head}`, { "if-none-match": etag });
    expect(still.statusCode).toBe(304);
    await sendTransfer(app, bob, alice.account.iban, "0.50");
    await waitForEntry(app, alice.token, head, (item) => item.kind === "transaction");
    const changed = await syncRequest(app, alice.token, `?cursor=${head}`, { "if-none-match": etag });
    expect(changed.statusCode).toBe(200);
    expect(changed.headers.etag).not.toBe(etag);
  });

  it("compresses a large page with gzip when asked, and leaves problem+json and small answers readable", async () => {
    const plain = await syncRequest(app, alice.token);
    expect(plain.headers["content-encoding"]).toBeUndefined();
    const zipped = await syncRequest(app, alice.token, "", { "accept-encoding": "gzip" });
    expect(zipped.headers["content-encoding"]).toBe("gzip");
    const body = JSON.parse(gunzipSync(zipped.rawPayload).toString("utf8"));
    expect(body.items.length).toBe(plain.json<{ items: unknown[] }>().items.length);
    expect(zipped.rawPayload.length).toBeLessThan(plain.rawPayload.length);
    const problem = await syncRequest(app, alice.token, "?cursor=garbage", { "accept-encoding": "gzip" });
    expect(problem.statusCode).toBe(410);
    const text =
      problem.headers["content-encoding"] === "gzip"
        ? gunzipSync(problem.rawPayload).toString("utf8")
        : problem.body;
    expect(JSON.parse(text).type).toBe("https://omnicore.dev/problems/sync-cursor-expired");
    expect(String(problem.headers["content-type"])).toMatch(/^application\/problem\+json/);
  });
});

describe("processed commands", () => {
  it("lists the Idempotency-Keys of the calling device only, with outcome and resource id", async () => {
    const key = idempotencyKey("outbox");
    const sent = await sendTransfer(app, alice, bob.account.iban, "1.50", key);
    const mine = await syncPage(app, alice.token);
    expect(mine.processedCommands).toContainEqual(
      expect.objectContaining({
        idempotencyKey: key,
        command: "transfer",
        statusCode: 201,
        resourceId: sent.id,
      }),
    );
    const tablet = (
      await login(app, alice.email, PASSWORD, { "x-channel": "mobile", "x-device-id": "alice-tablet" })
    ).accessToken;
    const other = await syncPage(app, tablet);
    expect(other.processedCommands.map((command) => command.idempotencyKey)).not.toContain(key);
    const bobs = await syncPage(app, bob.token);
    expect(bobs.processedCommands.map((command) => command.idempotencyKey)).not.toContain(key);
  });

  it("lists a refused command with its problem status", async () => {
    const key = idempotencyKey("refused");
    const response = await app.http.inject({
      method: "POST",
      url: "/v1/transfers",
      headers: { ...bearer(alice.token), "idempotency-key": key },
      payload: {
        fromAccountId: alice.account.id,
        toIban: bob.account.iban,
        amount: { amount: "999999.00", currency: "EUR" },
      },
    });
    expect(response.statusCode).toBe(422);
    const page = await syncPage(app, alice.token);
    expect(page.processedCommands).toContainEqual(
      expect.objectContaining({ idempotencyKey: key, statusCode: 422 }),
    );
  });
});

import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { systemClock } from "../../src/platform/clock.ts";
import { systemContext } from "../../src/platform/context.ts";
import type { Db } from "../../src/platform/db/database.ts";
import { type DomainEvent, eventFactory } from "../../src/platform/events/event.ts";
import { appendToOutbox, findOutboxEvents } from "../../src/platform/events/outbox.ts";
import { uuidV7Ids } from "../../src/platform/ids.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";
import { waitFor } from "./wait.ts";

const events = eventFactory({ ids: uuidV7Ids, clock: systemClock });
const context = systemContext("outbox-test");

function testEvent(type: string, data: Record<string, unknown> = {}): DomainEvent {
  return events.create(context, type, "agg_outbox_test", data);
}

async function commit(db: Db, batch: DomainEvent[]): Promise<void> {
  await db.transaction().execute((tx) => appendToOutbox(tx, batch));
}

async function outboxRow(db: Db, eventId: string) {
  const [stored] = await findOutboxEvents(db, { id: eventId });
  return stored && { published_at: stored.publishedAt, event: stored.event };
}

async function effectsOf(db: Db, consumer: string, eventId: string): Promise<number> {
  const rows = await db
    .selectFrom("test_effects")
    .select("seq")
    .where("consumer", "=", consumer)
    .where("event_id", "=", eventId)
    .execute();
  return rows.length;
}

async function inboxHas(db: Db, consumer: string, eventId: string): Promise<boolean> {
  const row = await db
    .selectFrom("platform_inbox")
    .select("event_id")
    .where("consumer", "=", consumer)
    .where("event_id", "=", eventId)
    .executeTakeFirst();
  return row !== undefined;
}

describe("transactional outbox, relay and dispatcher through a real app", () => {
  let app: TestApp;
  let db: Db;
  const received: DomainEvent[] = [];
  const flakyAttempts = new Map<string, number>();
  const poisonAttempts = new Map<string, number>();

  beforeAll(async () => {
    app = await createTestApp({ start: false });
    db = app.database.db;
    await sql`create table test_effects (
      seq bigserial primary key,
      consumer text not null,
      event_id text not null
    )`.execute(db);

    app.dispatcher.on("test-probe", ["test.probe"], async (_tx, event) => {
      received.push(event);
    });
    app.dispatcher.on("test-effects", ["test.effect"], async (tx, event) => {
      await tx.insertInto("test_effects").values({ consumer: "test-effects", event_id: event.id }).execute();
    });
    app.dispatcher.on("test-effects-second", ["test.effect"], async (tx, event) => {
      await tx
        .insertInto("test_effects")
        .values({ consumer: "test-effects-second", event_id: event.id })
        .execute();
    });
    app.dispatcher.on("test-flaky", ["test.flaky"], async (tx, event) => {
      // The effect is written first, so a failure after it shows that it is rolled back with the inbox row.
      await tx.insertInto("test_effects").values({ consumer: "test-flaky", event_id: event.id }).execute();
      const attempt = (flakyAttempts.get(event.id) ?? 0) + 1;
      flakyAttempts.set(event.id, attempt);
      if (attempt <= 2) throw new Error(`flaky failure ${attempt}`);
    });
    app.dispatcher.on("test-poison", ["test.poison"], async (_tx, event) => {
      poisonAttempts.set(event.id, (poisonAttempts.get(event.id) ?? 0) + 1);
      throw new Error("this handler always fails");
    });
    app.dispatcher.on("test-mixed", ["test.mixed"], async (tx, event) => {
      await tx.insertInto("test_effects").values({ consumer: "test-mixed", event_id: event.id }).execute();
      if (event.data.fail) throw new Error("this one always fails");
    });
    await app.start();
  });

  afterAll(async () => {
    await app?.destroy();
  });

  it("never delivers an event whose transaction rolled back, and delivers the one committed after it", async () => {
    const rolledBack = testEvent("test.probe", { n: 1 });
    const committed = testEvent("test.probe", { n: 2 });

    await expect(
      db.transaction().execute(async (tx) => {
        await appendToOutbox(tx, [rolledBack]);
        throw new Error("the command failed after writing its event");
      }),
    ).rejects.toThrow("the command failed");
    await commit(db, [committed]);
    app.relay.nudge();

    await waitFor(
      () => received.some((event) => event.id === committed.id),
      400,
      25,
      "delivery of the committed event",
    );
    expect(received.some((event) => event.id === rolledBack.id)).toBe(false);
    expect(await outboxRow(db, rolledBack.id)).toBeUndefined();
    expect(received.find((event) => event.id === committed.id)).toEqual(committed);
  });

  it("delivers the whole envelope and marks the outbox row published", async () => {
    const event = testEvent("test.probe", { amount: "12.50", currency: "EUR", nested: { list: [1, 2] } });
    await commit(db, [event]);
    app.relay.nudge();
    await waitFor(
      async () => Boolean((await outboxRow(db, event.id))?.published_at),
      400,
      25,
      "published_at",
    );
    expect(received.find((candidate) => candidate.id === event.id)).toEqual(event);
    const row = await outboxRow(db, event.id);
    expect(row?.event.type).toBe("test.probe");
    expect(row?.event.aggregateId).toBe("agg_outbox_test");
    expect(row?.event).toEqual(event);
  });

  it("delivers several events of one transaction in order", async () => {
    const batch = [1, 2, 3, 4, 5].map((n) => testEvent("test.probe", { n }));
    await commit(db, batch);
    app.relay.nudge();
    const last = batch.at(-1)!;
    await waitFor(() => received.some((event) => event.id === last.id), 400, 25, "delivery of the batch");
    const ids = new Set(batch.map((event) => event.id));
    expect(received.filter((event) => ids.has(event.id)).map((event) => event.id)).toEqual(
      batch.map((e) => e.id),
    );
  });

  it("retries a handler that fails twice and applies its effect exactly once", async () => {
    const event = testEvent("test.flaky");
    await commit(db, [event]);
    app.relay.nudge();

    await waitFor(() => inboxHas(db, "test-flaky", event.id), 400, 25, "the inbox row of the flaky handler");
    expect(flakyAttempts.get(event.id)).toBe(3);
    expect(await effectsOf(db, "test-flaky", event.id)).toBe(1);
    const deadLetters = await db
      .selectFrom("platform_dead_letters")
      .select("seq")
      .where("event_id", "=", event.id)
      .execute();
    expect(deadLetters).toEqual([]);
  });

  it("applies an effect once per consumer, even when the same event is published again", async () => {
    const event = testEvent("test.effect");
    await commit(db, [event]);
    app.relay.nudge();
    await waitFor(
      async () =>
        (await effectsOf(db, "test-effects", event.id)) +
          (await effectsOf(db, "test-effects-second", event.id)) ===
        2,
      400,
      25,
      "both consumers' effects",
    );
    await waitFor(
      async () => Boolean((await outboxRow(db, event.id))?.published_at),
      400,
      25,
      "published_at",
    );

    // Redeliver the handled event straight through the bus, followed by a fresh event: once the
    // fresh one is applied, the redelivery (delivered before it, in order) has been dealt with.
    const sentinel = testEvent("test.effect");
    await app.bus.publish([event]);
    await app.bus.publish([event, sentinel]);
    await waitFor(
      async () => (await effectsOf(db, "test-effects", sentinel.id)) === 1,
      400,
      25,
      "the sentinel's effect",
    );
    await waitFor(
      async () => (await effectsOf(db, "test-effects-second", sentinel.id)) === 1,
      400,
      25,
      "the second consumer's sentinel effect",
    );

    expect(await effectsOf(db, "test-effects", event.id)).toBe(1);
    expect(await effectsOf(db, "test-effects-second", event.id)).toBe(1);
    expect(await inboxHas(db, "test-effects", event.id)).toBe(true);
    expect(await inboxHas(db, "test-effects-second", event.id)).toBe(true);
  });

  it(`parks an event whose handler always fails as a dead letter after the configured attempts`, async () => {
    expect(app.config.outbox.handlerAttemptsMax).toBe(4);
    const event = testEvent("test.poison", { reason: "poison" });
    await commit(db, [event]);
    app.relay.nudge();

    const deadLetters = async () =>
      db.selectFrom("platform_dead_letters").selectAll().where("event_id", "=", event.id).execute();
    await waitFor(async () => (await deadLetters()).length > 0, 400, 25, "the dead letter");
    const [parked, ...more] = await deadLetters();
    expect(more).toEqual([]);
    expect(parked?.consumer).toBe("test-poison");
    expect(parked?.event_type).toBe("test.poison");
    expect(parked?.error).toBe("this handler always fails");
    expect(parked?.payload).toEqual(event);
    expect(poisonAttempts.get(event.id)).toBe(4);
    expect(await inboxHas(db, "test-poison", event.id)).toBe(false);

    // The bus accepted the event, so the relay does not publish it again.
    await waitFor(
      async () => Boolean((await outboxRow(db, event.id))?.published_at),
      400,
      25,
      "published_at",
    );
    expect(poisonAttempts.get(event.id)).toBe(4);
  });

  it("applies the good events of one publication once when another of them always fails", async () => {
    // On the in-process bus the three arrive as one batch (one transaction): its failure must roll
    // back the good ones' effects too, which are then applied one by one; the bad one is parked.
    const batch = [testEvent("test.mixed"), testEvent("test.mixed", { fail: true }), testEvent("test.mixed")];
    await commit(db, batch);
    app.relay.nudge();
    const [good, bad, last] = batch as [DomainEvent, DomainEvent, DomainEvent];
    const parked = async () =>
      db.selectFrom("platform_dead_letters").select("consumer").where("event_id", "=", bad.id).execute();
    await waitFor(async () => (await parked()).length > 0, 400, 25, "the bad event parked");
    await waitFor(async () => (await effectsOf(db, "test-mixed", last.id)) === 1, 400, 25, "the last one");
    expect(await effectsOf(db, "test-mixed", good.id)).toBe(1);
    expect(await effectsOf(db, "test-mixed", last.id)).toBe(1);
    expect(await effectsOf(db, "test-mixed", bad.id)).toBe(0);
    expect(await inboxHas(db, "test-mixed", good.id)).toBe(true);
    expect(await inboxHas(db, "test-mixed", bad.id)).toBe(false);
    expect(await parked()).toEqual([{ consumer: "test-mixed" }]);
  });

  it("leaves nothing pending once every committed event was relayed", async () => {
    const pending = async () =>
      (await db.selectFrom("platform_outbox").select("seq").where("published_at", "is", null).execute())
        .length;
    await waitFor(async () => (await pending()) === 0, 400, 25, "an empty outbox");
    expect(await app.relay.flush()).toBe(0);
    const metrics = await app.http.inject({ method: "GET", url: "/metrics" });
    expect(metrics.body).toMatch(/^omnicore_outbox_pending_events 0$/m);
  });
});

describe("outbox relay before the app starts", () => {
  let app: TestApp;
  let db: Db;

  beforeAll(async () => {
    app = await createTestApp({ start: false });
    db = app.database.db;
  });

  afterAll(async () => {
    await app?.destroy();
  });

  async function pendingMetric(): Promise<number> {
    const response = await app.http.inject({ method: "GET", url: "/metrics" });
    expect(response.statusCode).toBe(200);
    const match = /^omnicore_outbox_pending_events (\d+)$/m.exec(response.body);
    expect(match).not.toBeNull();
    return Number(match![1]);
  }

  it("publishes committed rows on flush, sets published_at, then has nothing left to flush", async () => {
    expect(await app.relay.flush()).toBe(0);
    expect(await pendingMetric()).toBe(0);

    const batch = [testEvent("test.unstarted"), testEvent("test.unstarted"), testEvent("test.unstarted")];
    await commit(db, batch.slice(0, 2));
    await commit(db, batch.slice(2));
    await expect(
      db.transaction().execute(async (tx) => {
        await appendToOutbox(tx, [testEvent("test.unstarted")]);
        throw new Error("rolled back");
      }),
    ).rejects.toThrow("rolled back");

    expect(await pendingMetric()).toBe(3);
    for (const event of batch) expect((await outboxRow(db, event.id))?.published_at).toBeNull();

    expect(await app.relay.flush()).toBe(3);
    for (const event of batch) expect((await outboxRow(db, event.id))?.published_at).toBeInstanceOf(Date);
    expect(await pendingMetric()).toBe(0);
    expect(await app.relay.flush()).toBe(0);
  });
});

describe("a consumer subscribed to several event types", () => {
  let app: TestApp;
  const received: string[] = [];

  beforeAll(async () => {
    app = await createTestApp({ start: false });
    app.dispatcher.on("test-multi", ["test.multi-a", "test.multi-b"], async (_tx, event) => {
      received.push(event.id);
    });
    await app.start();
  });

  afterAll(async () => {
    await app?.destroy();
  });

  it("receives every listed type and no other", async () => {
    const [a, other, b] = [testEvent("test.multi-a"), testEvent("test.multi-c"), testEvent("test.multi-b")];
    await commit(app.database.db, [a, other, b]);
    app.relay.nudge();
    await waitFor(() => received.includes(a.id) && received.includes(b.id), 400, 25, "both listed types");
    // The unlisted event sat between the two listed ones, so it would have arrived by now.
    expect(received).toEqual([a.id, b.id]);
  });
});

import type { Logger } from "pino";
import type { Clock } from "../clock.ts";
import type { DatabaseKind, Db } from "../db/database.ts";
import type { EventBus } from "./bus.ts";
import { claimUnpublished, markPublished, prunePublished } from "./outbox.ts";

export interface OutboxRelayOptions {
  db: Db;
  databaseKind: DatabaseKind;
  bus: EventBus;
  clock: Clock;
  logger: Logger;
  batchMax: number;
  pollIntervalMs: number;
  /** Published rows older than this are pruned. */
  retentionS?: number;
}

const PRUNE_EVERY_MS = 60_000;
const PRUNE_BATCH_MAX = 5_000;
const FINAL_FLUSH_ATTEMPTS = 3;

/**
 * Moves committed outbox rows to the event bus. On PostgreSQL several nodes relay at once: rows are
 * claimed with `for update skip locked` and marked in the same transaction after the bus accepted
 * them. On PGlite (one process, one connection) rows are read, published, then marked; the
 * connection must stay free meanwhile because in-process handlers need it.
 */
export class OutboxRelay {
  readonly #options: OutboxRelayOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = true;
  #lastPruneMs = 0;
  #wakeups = 0;

  constructor(options: OutboxRelayOptions) {
    this.#options = options;
  }

  start(): void {
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Asks for a pass soon; cheap to call after every commit that wrote events. */
  nudge(): void {
    if (this.#stopped) return;
    this.#wakeups++;
    if (!this.#running) this.#schedule(0);
  }

  /** Publishes everything pending now; returns how many events went out. */
  async flush(): Promise<number> {
    let total = 0;
    for (;;) {
      const { rows, events } = await this.#publishBatch();
      total += events;
      // Until a pass finds nothing: handlers on the in-process bus run inside `publish` and may
      // append rows of their own (sync.changed, say), which a short batch would leave behind.
      if (rows === 0) return total;
    }
  }

  /** Stops polling after a last flush, so that a graceful shutdown leaves nothing behind. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running;
    // A bus that is slow to acknowledge (a cold NATS, say) can fail one flush; try a few times so
    // that a graceful shutdown leaves nothing behind. What is left is published on the next start.
    for (let attempt = 1; attempt <= FINAL_FLUSH_ATTEMPTS; attempt++) {
      try {
        await this.flush();
        return;
      } catch (error) {
        this.#options.logger.warn({ err: error, attempt }, "final outbox flush failed");
        if (attempt < FINAL_FLUSH_ATTEMPTS)
          await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  }

  #schedule(delayMs: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#running = this.#pass().finally(() => {
        this.#running = undefined;
      });
    }, delayMs);
    this.#timer.unref();
  }

  async #pass(): Promise<void> {
    if (this.#stopped) return;
    this.#wakeups = 0;
    let delayMs = this.#options.pollIntervalMs;
    try {
      const published = await this.flush();
      await this.#maybePrune();
      if (published > 0 && this.#wakeups > 0) delayMs = 0;
    } catch (error) {
      this.#options.logger.error({ err: error }, "outbox relay pass failed; will retry");
    }
    if (!this.#stopped) this.#schedule(this.#wakeups > 0 ? 0 : delayMs);
  }

  /** One pass over at most `batchMax` outbox rows; returns how many rows and events went out. */
  async #publishBatch(): Promise<{ rows: number; events: number }> {
    const { db, bus, batchMax, clock } = this.#options;
    if (this.#options.databaseKind === "pglite") {
      const batch = await db.transaction().execute((tx) => claimUnpublished(tx, batchMax, false));
      if (batch.seqs.length === 0) return { rows: 0, events: 0 };
      await bus.publish(batch.events);
      await db.transaction().execute((tx) => markPublished(tx, batch.seqs, clock.now()));
      return { rows: batch.seqs.length, events: batch.events.length };
    }
    return db.transaction().execute(async (tx) => {
      const batch = await claimUnpublished(tx, batchMax, true);
      if (batch.seqs.length === 0) return { rows: 0, events: 0 };
      await bus.publish(batch.events);
      await markPublished(tx, batch.seqs, clock.now());
      return { rows: batch.seqs.length, events: batch.events.length };
    });
  }

  async #maybePrune(): Promise<void> {
    const retentionS = this.#options.retentionS ?? 7 * 86_400;
    const nowMs = this.#options.clock.now().getTime();
    if (nowMs - this.#lastPruneMs < PRUNE_EVERY_MS) return;
    this.#lastPruneMs = nowMs;
    await prunePublished(this.#options.db, new Date(nowMs - retentionS * 1000), PRUNE_BATCH_MAX);
  }
}

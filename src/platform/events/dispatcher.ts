import type { Logger } from "pino";
import type { Db, Tx } from "../db/database.ts";
import { inTransaction } from "../db/database.ts";
import type { EventBus } from "./bus.ts";
import type { DomainEvent } from "./event.ts";

export type TransactionalHandler = (tx: Tx, event: DomainEvent) => Promise<void>;

/**
 * Registers event handlers behind the inbox: each handler runs in a transaction that first
 * records (consumer, event id). A redelivered event finds its row and is skipped, so a handler's
 * effects are applied exactly once even though the bus delivers at least once.
 */
export class EventDispatcher {
  readonly #db: Db;
  readonly #bus: EventBus;

  constructor(options: { db: Db; bus: EventBus }) {
    this.#db = options.db;
    this.#bus = options.bus;
  }

  on(consumer: string, types: string[], handler: TransactionalHandler): void {
    this.#bus.subscribe({
      consumer,
      types,
      handler: (event) =>
        inTransaction(this.#db, async (tx) => {
          const claimed = await tx
            .insertInto("platform_inbox")
            .values({ consumer, event_id: event.id })
            .onConflict((conflict) => conflict.doNothing())
            .returning("event_id")
            .executeTakeFirst();
          if (!claimed) return;
          await handler(tx, event);
        }),
    });
  }

  /**
   * As `on`, for a consumer that must read through other modules' public faces before it writes:
   * those read through the pool, and on PGlite (one connection) a read while a transaction is open
   * would wait for itself. `prepare` runs outside any transaction (skipped when the inbox already
   * has the event); the inbox claim and `apply` then commit together, so effects stay exactly once.
   */
  onPrepared<Prepared>(
    consumer: string,
    types: string[],
    prepare: (event: DomainEvent) => Promise<Prepared>,
    apply: (tx: Tx, event: DomainEvent, prepared: Prepared) => Promise<void>,
  ): void {
    this.#bus.subscribe({
      consumer,
      types,
      handler: async (event) => {
        const seen = await this.#db
          .selectFrom("platform_inbox")
          .select("event_id")
          .where("consumer", "=", consumer)
          .where("event_id", "=", event.id)
          .executeTakeFirst();
        if (seen) return;
        const prepared = await prepare(event);
        await inTransaction(this.#db, async (tx) => {
          const claimed = await tx
            .insertInto("platform_inbox")
            .values({ consumer, event_id: event.id })
            .onConflict((conflict) => conflict.doNothing())
            .returning("event_id")
            .executeTakeFirst();
          if (!claimed) return;
          await apply(tx, event, prepared);
        });
      },
    });
  }
}

/** Parks an event whose handler kept failing, so an operator can see and replay it. */
export function deadLetterWriter(db: Db, logger: Logger) {
  return async (consumer: string, event: DomainEvent, error: unknown): Promise<void> => {
    const message = error instanceof Error ? error.message : String(error);
    logger.error(
      { consumer, eventId: event.id, eventType: event.type, err: message },
      "event handler gave up",
    );
    await db
      .insertInto("platform_dead_letters")
      .values({
        consumer,
        event_id: event.id,
        event_type: event.type,
        payload: JSON.stringify(event),
        error: message.slice(0, 2_000),
      })
      .execute();
  };
}

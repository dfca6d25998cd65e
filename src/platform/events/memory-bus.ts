import { backoffMs, type DeadLetterSink, type EventBus, matchesType, type Subscription } from "./bus.ts";
import type { DomainEvent } from "./event.ts";

export interface MemoryBusOptions {
  attemptsMax: number;
  deadLetter: DeadLetterSink;
}

/**
 * The embedded event bus: delivers in-process, in order per subscription. `publish` resolves only
 * after every subscriber handled the event (or parked it as a dead letter), so the outbox relay
 * marks a row published only once it is truly delivered; a crash before that re-delivers.
 */
export class MemoryEventBus implements EventBus {
  readonly kind = "memory" as const;
  readonly #subscriptions: Subscription[] = [];
  readonly #options: MemoryBusOptions;
  readonly #listeners = new Set<{ types: string[]; handler: (event: DomainEvent) => void }>();
  #closed = false;

  constructor(options: MemoryBusOptions) {
    this.#options = options;
  }

  subscribe(subscription: Subscription): void {
    this.#subscriptions.push(subscription);
  }

  listen(types: string[], handler: (event: DomainEvent) => void): () => void {
    const listener = { types, handler };
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async start(): Promise<void> {}

  async ping(): Promise<void> {
    if (this.#closed) throw new Error("event bus is closed");
  }

  async publish(events: DomainEvent[]): Promise<void> {
    if (this.#closed) throw new Error("event bus is closed");
    this.#notifyListeners(events);
    await Promise.all(
      this.#subscriptions.map(async (subscription) => {
        for (const event of events) {
          if (matchesType(subscription.types, event.type)) await this.#deliver(subscription, event);
        }
      }),
    );
  }

  #notifyListeners(events: DomainEvent[]): void {
    for (const listener of this.#listeners) {
      for (const event of events) {
        if (!matchesType(listener.types, event.type)) continue;
        try {
          listener.handler(event);
        } catch {
          // A live listener is best effort by contract; it must not fail the publication.
        }
      }
    }
  }

  async #deliver(subscription: Subscription, event: DomainEvent): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await subscription.handler(event);
        return;
      } catch (error) {
        if (attempt >= this.#options.attemptsMax) {
          await this.#options.deadLetter(subscription.consumer, event, error);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, backoffMs(attempt)));
      }
    }
  }

  /**
   * Nothing to stop: delivery happens inside `publish`, so the relay's last flush delivers (and any
   * outbox rows its handlers append are flushed by the same loop). Refusing here would lose events,
   * as nothing redelivers in memory.
   */
  async stopDelivery(): Promise<void> {}

  async close(): Promise<void> {
    this.#closed = true;
  }
}

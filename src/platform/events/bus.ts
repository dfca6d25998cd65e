import type { DomainEvent } from "./event.ts";

export type EventHandler = (event: DomainEvent) => Promise<void>;

export interface Subscription {
  /** A stable name: it keys the inbox and, on NATS, the durable consumer. */
  consumer: string;
  /** Event types to receive, or ["*"] for all. */
  types: string[];
  handler: EventHandler;
}

/** Called when a handler failed on every allowed attempt; the event is parked, not lost. */
export type DeadLetterSink = (consumer: string, event: DomainEvent, error: unknown) => Promise<void>;

/**
 * The event backbone. Two implementations: in-process (embedded default) and NATS JetStream
 * (`NATS_URL`). Both deliver at least once and retry a failing handler with backoff; handlers are
 * made idempotent by the inbox (see dispatcher.ts), so "at least once" becomes "applied once".
 */
export interface EventBus {
  readonly kind: "memory" | "nats";
  /** Resolves once every event is durably accepted (memory: handled by every local subscriber). */
  publish(events: DomainEvent[]): Promise<void>;
  subscribe(subscription: Subscription): void;
  /**
   * Live fan-out to this node: `handler` sees every matching event published from now on, on every
   * node (no durable consumer, no inbox, at most once). For waking local listeners such as open
   * server-sent-event streams, which then read the durable source themselves. Returns an unsubscriber.
   */
  listen(types: string[], handler: (event: DomainEvent) => void): () => void;
  /** Starts delivery to the subscriptions registered so far. */
  start(): Promise<void>;
  /**
   * Stops handing events to subscriptions and waits for the handlers in progress. Shutdown calls it
   * before the outbox relay's last flush: a handler that still ran afterwards could append outbox
   * rows that nobody publishes until the next start. Publishing keeps working.
   */
  stopDelivery(): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export function matchesType(types: string[], type: string): boolean {
  return types.includes("*") || types.includes(type);
}

/** Exponential backoff with full jitter, capped: retry n waits up to min(cap, base·2ⁿ). */
export function backoffMs(attempt: number, baseMs = 10, capMs = 1_000): number {
  return Math.random() * Math.min(capMs, baseMs * 2 ** attempt);
}

import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { backoffMs, type DeadLetterSink, type EventBus, matchesType, type Subscription } from "./bus.ts";
import type { DomainEvent } from "./event.ts";

export interface NatsBusOptions {
  url: string;
  stream: string;
  subjectPrefix: string;
  attemptsMax: number;
  deadLetter: DeadLetterSink;
  logger: Logger;
}

/** JetStream drops a message id it saw within this window, so a re-relayed event is stored once. */
const DUPLICATE_WINDOW_NS = 10 * 60 * 1_000_000_000;
const NAK_DELAY_CAP_MS = 30_000;

/**
 * The production event bus: NATS JetStream. Events are published with their id as `Nats-Msg-Id`
 * (server-side de-duplication) and consumed by one durable pull consumer per subscription, acked
 * only after the handler committed; a failing handler is redelivered with backoff and parked as a
 * dead letter after the last attempt.
 */
export class NatsEventBus implements EventBus {
  readonly kind = "nats" as const;
  readonly #options: NatsBusOptions;
  readonly #subscriptions: Subscription[] = [];
  readonly #running: ConsumerMessages[] = [];
  readonly #loops: Promise<void>[] = [];
  #connection: NatsConnection | undefined;
  #client: JetStreamClient | undefined;
  #manager: JetStreamManager | undefined;

  constructor(options: NatsBusOptions) {
    this.#options = options;
  }

  async connect(): Promise<void> {
    this.#connection = await connect({ servers: this.#options.url, name: "omnicore" });
    this.#manager = await jetstreamManager(this.#connection);
    this.#client = jetstream(this.#connection);
    const { stream, subjectPrefix } = this.#options;
    await this.#manager.streams.info(stream).catch(() =>
      this.#manager?.streams.add({
        name: stream,
        subjects: [`${subjectPrefix}.>`],
        duplicate_window: DUPLICATE_WINDOW_NS,
      }),
    );
  }

  subscribe(subscription: Subscription): void {
    this.#subscriptions.push(subscription);
  }

  /** A core NATS subscription per type: JetStream publications reach plain subscribers too. */
  listen(types: string[], handler: (event: DomainEvent) => void): () => void {
    const connection = this.#connection;
    if (!connection) throw new Error("NATS event bus is not connected");
    const subjects = types.includes("*")
      ? [`${this.#options.subjectPrefix}.>`]
      : types.map((t) => this.#subject(t));
    const subscriptions = subjects.map((subject) =>
      connection.subscribe(subject, {
        callback: (error, message) => {
          if (error) return;
          try {
            handler(message.json<DomainEvent>());
          } catch (handlerError) {
            this.#options.logger.warn({ err: handlerError }, "live event listener failed");
          }
        },
      }),
    );
    return () => {
      for (const subscription of subscriptions) subscription.unsubscribe();
    };
  }

  async start(): Promise<void> {
    for (const subscription of this.#subscriptions) await this.#startConsumer(subscription);
  }

  async publish(events: DomainEvent[]): Promise<void> {
    const client = this.#requireClient();
    await Promise.all(
      events.map((event) =>
        client.publish(this.#subject(event.type), JSON.stringify(event), { msgID: event.id }),
      ),
    );
  }

  async ping(): Promise<void> {
    if (!this.#connection || this.#connection.isClosed()) throw new Error("NATS connection is closed");
    await this.#connection.flush();
  }

  async stopDelivery(): Promise<void> {
    // Unacknowledged messages stay with the durable consumer and are redelivered on the next start.
    for (const messages of this.#running) messages.stop();
    await Promise.allSettled(this.#loops);
  }

  async close(): Promise<void> {
    await this.stopDelivery();
    await this.#connection?.drain().catch(() => undefined);
  }

  /** Removes the stream and its consumers; tests use it to leave NATS as they found it. */
  async deleteStream(): Promise<void> {
    await this.#manager?.streams.delete(this.#options.stream).catch(() => false);
  }

  #subject(type: string): string {
    return `${this.#options.subjectPrefix}.${type}`;
  }

  #requireClient(): JetStreamClient {
    if (!this.#client) throw new Error("NATS event bus is not connected");
    return this.#client;
  }

  async #startConsumer(subscription: Subscription): Promise<void> {
    const manager = this.#manager;
    if (!manager) throw new Error("NATS event bus is not connected");
    const durable = subscription.consumer.replace(/[^A-Za-z0-9_-]/g, "_");
    // NATS servers before 2.10 take a single filter subject; a subscription to several types
    // therefore reads the whole prefix and skips (acks) what it did not ask for.
    const filter =
      subscription.types.length === 1 && subscription.types[0] !== "*"
        ? this.#subject(subscription.types[0]!)
        : `${this.#options.subjectPrefix}.>`;
    await manager.consumers.add(this.#options.stream, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: filter,
      // Unlimited on the server: the attempt limit is enforced here, so that an event is only
      // given up once it is safely parked as a dead letter.
      max_deliver: -1,
      ack_wait: 30_000_000_000,
    });
    const consumer = await this.#requireClient().consumers.get(this.#options.stream, durable);
    const messages = await consumer.consume({ max_messages: 256 });
    this.#running.push(messages);
    this.#loops.push(this.#consumeLoop(subscription, messages));
  }

  async #consumeLoop(subscription: Subscription, messages: ConsumerMessages): Promise<void> {
    for await (const message of messages) {
      const event = message.json<DomainEvent>();
      if (!matchesType(subscription.types, event.type)) {
        message.ack();
        continue;
      }
      try {
        await subscription.handler(event);
        message.ack();
      } catch (error) {
        const attempt = message.info.deliveryCount;
        if (attempt >= this.#options.attemptsMax) {
          try {
            await this.#options.deadLetter(subscription.consumer, event, error);
            message.term("handler failed on every attempt");
          } catch (sinkError) {
            this.#options.logger.error({ err: sinkError }, "could not park dead letter; will redeliver");
            message.nak(NAK_DELAY_CAP_MS);
          }
        } else {
          message.nak(Math.ceil(backoffMs(attempt, 50, NAK_DELAY_CAP_MS)));
        }
      }
    }
  }
}

import { systemContext } from "../../platform/context.ts";
import { inTransaction } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { appendToOutbox } from "../../platform/events/outbox.ts";
import type { NotificationRepository } from "./notification.repository.ts";
import type { CustomerContact } from "./notification.service.ts";
import type { DeliveryRow, NotificationRow } from "./notifications.tables.ts";
import type { NotificationChannel } from "./preferences.ts";
import type { NotificationProvider, SendOutcome } from "./providers.ts";
import { languageOf, render, type TemplateCode } from "./templates.ts";

export interface DeliverySenderOptions extends ServiceDependencies {
  repository: NotificationRepository;
  providers: Partial<Record<NotificationChannel, NotificationProvider>>;
  contact: (customerId: string) => Promise<CustomerContact | undefined>;
  /** Attempts per delivery, the first included; then it is marked failed. */
  attemptsMax: number;
  retryBackoffMaxMs: number;
  leaseS: number;
  batchMax: number;
  random?: () => number;
}

const BACKOFF_INITIAL_MS = 100;
const CONTEXT = systemContext("notifications.sender");

/** What happens to a delivery after one attempt. */
type Decision =
  | { status: "delivered"; messageId: string | null }
  | { status: "retry"; failureCode: string; httpStatus: number | null }
  | { status: "failed"; reason: string; failureCode: string; httpStatus: number | null };

/**
 * Sends queued deliveries through their providers. Every node runs one: deliveries are leased
 * with skip locked, so one delivery is sent by one node at a time; an attempt is logged with its
 * outcome (never the content or the address), a transient failure is retried with full-jitter
 * backoff, and after `attemptsMax` attempts the delivery is failed for good.
 */
export class DeliverySender {
  readonly #options: DeliverySenderOptions;

  constructor(options: DeliverySenderOptions) {
    this.#options = options;
  }

  get enabled(): boolean {
    return Object.keys(this.#options.providers).length > 0;
  }

  /** Sends due deliveries; returns how many were leased. */
  async sendDue(): Promise<number> {
    const { clock, leaseS, batchMax, repository } = this.#options;
    const now = clock.now();
    const leased = await repository.leaseDue(now, new Date(now.getTime() + leaseS * 1000), batchMax);
    await Promise.all(leased.map((delivery) => this.#send(delivery)));
    return leased.length;
  }

  async #send(delivery: DeliveryRow): Promise<void> {
    const { repository } = this.#options;
    const notification = await repository.findNotification(delivery.notification_id);
    const provider = this.#options.providers[delivery.channel as NotificationChannel];
    const contact = await this.#options.contact(delivery.customer_id);
    const address = await this.#address(delivery, contact);
    if (!notification || !provider || !address) {
      const reason = !provider ? "channel_not_configured" : "no_address";
      await repository.updateDelivery(undefined, delivery.id, {
        status: "skipped",
        reason,
        finished_at: this.#options.clock.now(),
      });
      return;
    }
    const message = render(
      notification.template as TemplateCode,
      languageOf(contact?.preferredLanguage),
      JSON.parse(notification.params) as Record<string, string>,
    );
    const outcome = await provider.send({ deliveryId: delivery.id, address, ...message });
    await this.#record(delivery, notification, this.#decide(delivery, outcome));
  }

  async #address(delivery: DeliveryRow, contact: CustomerContact | undefined): Promise<string | undefined> {
    if (delivery.channel === "email") return contact?.email ?? undefined;
    if (delivery.channel === "sms") return contact?.phone ?? undefined;
    if (!delivery.push_token_id) return undefined;
    const token = await this.#options.repository.pushToken(delivery.push_token_id);
    return token?.active ? token.token : undefined;
  }

  #decide(delivery: DeliveryRow, outcome: SendOutcome): Decision {
    const attempt = delivery.attempts + 1;
    switch (outcome.kind) {
      case "delivered":
        return { status: "delivered", messageId: outcome.messageId };
      case "unregistered":
        return { status: "failed", reason: "token_unregistered", failureCode: "refused", httpStatus: 410 };
      case "failed":
        return {
          status: "failed",
          reason: outcome.code,
          failureCode: outcome.code,
          httpStatus: outcome.status,
        };
      case "retry":
        if (attempt >= this.#options.attemptsMax) {
          return {
            status: "failed",
            reason: "attempts_exhausted",
            failureCode: outcome.code,
            httpStatus: outcome.status,
          };
        }
        return { status: "retry", failureCode: outcome.code, httpStatus: outcome.status };
    }
  }

  #nextAttemptAt(attempts: number): Date {
    const random = this.#options.random ?? Math.random;
    const ceiling = Math.min(
      this.#options.retryBackoffMaxMs,
      BACKOFF_INITIAL_MS * 2 ** Math.min(attempts, 20),
    );
    // Full jitter: nodes retrying after one outage do not all come back at the same instant.
    const delayMs = Math.max(10, Math.floor(random() * ceiling));
    return new Date(this.#options.clock.now().getTime() + delayMs);
  }

  async #record(delivery: DeliveryRow, notification: NotificationRow, decision: Decision): Promise<void> {
    const { repository, clock, events } = this.#options;
    const now = clock.now();
    const attempt = delivery.attempts + 1;
    await inTransaction(this.#options.db, async (tx) => {
      await repository.recordAttempt(tx, {
        deliveryId: delivery.id,
        attempt,
        outcome: decision.status,
        failureCode: decision.status === "delivered" ? null : decision.failureCode,
        httpStatus: decision.status === "delivered" ? null : decision.httpStatus,
        at: now,
      });
      const data = {
        notificationId: notification.id,
        deliveryId: delivery.id,
        customerId: delivery.customer_id,
        channel: delivery.channel,
        attempts: attempt,
      };
      if (decision.status === "retry") {
        await repository.updateDelivery(tx, delivery.id, {
          attempts: attempt,
          next_attempt_at: this.#nextAttemptAt(attempt),
          reason: decision.failureCode,
        });
        return;
      }
      if (decision.status === "delivered") {
        await repository.updateDelivery(tx, delivery.id, {
          status: "delivered",
          attempts: attempt,
          reason: null,
          provider_message_id: decision.messageId,
          finished_at: now,
        });
        await appendToOutbox(tx, [events.create(CONTEXT, "notification.delivered", notification.id, data)]);
        return;
      }
      await repository.updateDelivery(tx, delivery.id, {
        status: "failed",
        attempts: attempt,
        reason: decision.reason,
        finished_at: now,
      });
      if (decision.reason === "token_unregistered" && delivery.push_token_id) {
        await repository.deactivatePushToken(tx, delivery.push_token_id, "unregistered", now);
      }
      await appendToOutbox(tx, [
        events.create(CONTEXT, "notification.delivery_failed", notification.id, {
          ...data,
          reason: decision.reason,
        }),
      ]);
    });
  }
}

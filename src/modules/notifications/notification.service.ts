import { createHash } from "node:crypto";
import type { RequestContext } from "../../platform/context.ts";
import { inTransaction, type Tx } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { AppError } from "../../platform/errors.ts";
import type { EventDispatcher } from "../../platform/events/dispatcher.ts";
import type { DomainEvent } from "../../platform/events/event.ts";
import { appendToOutbox } from "../../platform/events/outbox.ts";
import { NotificationRepository } from "./notification.repository.ts";
import { intentOf, type NotificationIntent, SOURCE_EVENT_TYPES } from "./notification-sources.ts";
import type { DeliveryRow, NotificationRow, PushTokenRow } from "./notifications.tables.ts";
import {
  CHANNELS,
  keepsSecurityAlerts,
  type NotificationChannel,
  type PreferenceChange,
  type PreferenceMatrix,
  preferenceMatrix,
} from "./preferences.ts";
import {
  type Language,
  languageOf,
  type OfferCode,
  render,
  TEMPLATES,
  type TemplateCode,
} from "./templates.ts";

export const NOTIFICATIONS_CONSUMER = "notifications.delivery";
/** Notification ids per `notification.read` event. */
const READ_EVENT_IDS_MAX = 200;

/** What the notifications module reads about a customer, when it sends or renders; never stored. */
export interface CustomerContact {
  email: string | null;
  phone: string | null;
  preferredLanguage: string | null;
}

export interface NotificationServiceOptions extends ServiceDependencies {
  dispatcher: EventDispatcher;
  /** The channels with a configured provider; the others' deliveries are recorded as skipped. */
  configuredChannels: ReadonlySet<NotificationChannel>;
  /** The owner of the account with this IBAN, read in the consumer's transaction (the ledger's). */
  accountOwner: (tx: Tx, iban: string) => Promise<string | undefined>;
  contact: (customerId: string) => Promise<CustomerContact | undefined>;
  pageMax: number;
}

export interface NotificationDto {
  id: string;
  category: string;
  template: string;
  title: string;
  body: string;
  read: boolean;
  readAt: string | null;
  createdAt: string;
}

export interface PushTokenDto {
  id: string;
  platform: string;
  /** The last four characters only: the token itself is never returned. */
  tokenHint: string;
  active: boolean;
  createdAt: string;
}

export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function toPushTokenDto(row: PushTokenRow): PushTokenDto {
  return {
    id: row.id,
    platform: row.platform,
    tokenHint: `…${row.token.slice(-4)}`,
    active: row.active,
    createdAt: row.created_at.toISOString(),
  };
}

/**
 * The notification centre, preferences and push tokens, and the consumer that turns events into
 * notifications with one delivery per enabled channel (and per device for push). Delivery itself
 * is the `DeliverySender`'s.
 */
export class NotificationService {
  readonly #options: NotificationServiceOptions;
  readonly repository: NotificationRepository;

  constructor(options: NotificationServiceOptions) {
    this.#options = options;
    this.repository = new NotificationRepository(options.db);
  }

  async init(): Promise<void> {
    this.#options.dispatcher.on(NOTIFICATIONS_CONSUMER, SOURCE_EVENT_TYPES, (tx, event) =>
      this.#consume(tx, event),
    );
  }

  async #consume(tx: Tx, event: DomainEvent): Promise<void> {
    const intent = await intentOf(event, (iban) => this.#options.accountOwner(tx, iban));
    if (!intent) return;
    await this.#create(tx, event, intent);
  }

  async #create(tx: Tx, event: DomainEvent, intent: NotificationIntent): Promise<void> {
    const { ids, clock, events } = this.#options;
    const now = clock.now();
    const category = TEMPLATES[intent.template].category;
    const row: NotificationRow = {
      id: ids.next("ntf"),
      customer_id: intent.customerId,
      source_event_id: event.id,
      category,
      template: intent.template,
      params: JSON.stringify(intent.params),
      read_at: null,
      created_at: now,
    };
    if (!(await this.repository.insertNotification(tx, row))) return;
    const matrix = preferenceMatrix(await this.repository.preferences(intent.customerId, tx));
    const tokens = await this.repository.activePushTokens(intent.customerId, tx);
    const deliveries = CHANNELS.flatMap((channel) =>
      this.#deliveriesFor(row, channel, matrix[category][channel], channel === "push" ? tokens : []),
    );
    await this.repository.insertDeliveries(tx, deliveries);
    const context = {
      requestId: event.requestId,
      channel: "system" as const,
      deviceId: undefined,
      actor: { type: "system" as const, id: NOTIFICATIONS_CONSUMER },
    };
    await appendToOutbox(tx, [
      events.create(context, "notification.created", row.id, {
        notificationId: row.id,
        customerId: row.customer_id,
        category,
        template: row.template,
        sourceEventId: event.id,
        channels: [...new Set(deliveries.filter((d) => d.status === "pending").map((d) => d.channel))],
      }),
    ]);
  }

  #deliveriesFor(
    row: NotificationRow,
    channel: NotificationChannel,
    enabled: boolean,
    tokens: PushTokenRow[],
  ): DeliveryRow[] {
    const now = this.#options.clock.now();
    const delivery = (status: DeliveryRow["status"], reason: string | null, pushTokenId: string | null) => ({
      id: this.#options.ids.next("ndl"),
      notification_id: row.id,
      customer_id: row.customer_id,
      channel,
      push_token_id: pushTokenId,
      status,
      reason,
      attempts: 0,
      next_attempt_at: now,
      locked_until: null,
      provider_message_id: null,
      created_at: now,
      finished_at: status === "skipped" ? now : null,
    });
    if (!enabled) return [delivery("skipped", "opted_out", null)];
    if (!this.#options.configuredChannels.has(channel))
      return [delivery("skipped", "channel_not_configured", null)];
    if (channel !== "push") return [delivery("pending", null, null)];
    if (tokens.length === 0) return [delivery("skipped", "no_push_token", null)];
    return tokens.map((token) => delivery("pending", null, token.id));
  }

  // ————— The notification centre —————

  async language(customerId: string): Promise<Language> {
    return languageOf((await this.#options.contact(customerId))?.preferredLanguage);
  }

  toDto(row: NotificationRow, language: Language): NotificationDto {
    const message = render(
      row.template as TemplateCode,
      language,
      JSON.parse(row.params) as Record<string, string>,
    );
    return {
      id: row.id,
      category: row.category,
      template: row.template,
      ...message,
      read: row.read_at !== null,
      readAt: row.read_at?.toISOString() ?? null,
      createdAt: row.created_at.toISOString(),
    };
  }

  async list(
    customerId: string,
    page: { limit?: number | undefined; cursor?: string | undefined },
  ): Promise<{ items: NotificationDto[]; unreadCount: number; nextCursor: string | null }> {
    const limit = Math.min(page.limit ?? 20, this.#options.pageMax);
    const rows = await this.repository.page(customerId, limit + 1, page.cursor);
    const language = await this.language(customerId);
    const items = rows.slice(0, limit).map((row) => this.toDto(row, language));
    return {
      items,
      unreadCount: await this.repository.unreadCount(customerId),
      nextCursor: rows.length > limit ? (items.at(-1)?.id ?? null) : null,
    };
  }

  /** One of the customer's notifications as the centre shows it; undefined for none (or another's). */
  async get(customerId: string, notificationId: string): Promise<NotificationDto | undefined> {
    const row = await this.repository.findNotification(notificationId, customerId);
    return row ? this.toDto(row, await this.language(customerId)) : undefined;
  }

  /** Another customer's notification is answered exactly as one that does not exist (BOLA). */
  async markRead(
    context: RequestContext,
    customerId: string,
    notificationId: string,
  ): Promise<NotificationDto> {
    const row = await inTransaction(this.#options.db, async (tx) => {
      const found = await this.repository.findNotification(notificationId, customerId, tx);
      if (!found) throw new AppError("not-found", "No such notification.");
      const marked = await this.repository.markRead(
        tx,
        customerId,
        notificationId,
        this.#options.clock.now(),
      );
      await this.#publishRead(tx, context, customerId, marked);
      return this.repository.findNotification(notificationId, customerId, tx);
    });
    return this.toDto(row!, await this.language(customerId));
  }

  async markAllRead(context: RequestContext, customerId: string): Promise<{ markedCount: number }> {
    const marked = await inTransaction(this.#options.db, async (tx) => {
      const ids = await this.repository.markRead(tx, customerId, undefined, this.#options.clock.now());
      await this.#publishRead(tx, context, customerId, ids);
      return ids;
    });
    return { markedCount: marked.length };
  }

  /** Other devices learn of the read state through the sync log; bounded events for a large backlog. */
  async #publishRead(tx: Tx, context: RequestContext, customerId: string, ids: string[]): Promise<void> {
    const events = [];
    for (let start = 0; start < ids.length; start += READ_EVENT_IDS_MAX) {
      const notificationIds = ids.slice(start, start + READ_EVENT_IDS_MAX);
      events.push(
        this.#options.events.create(context, "notification.read", customerId, {
          customerId,
          notificationIds,
        }),
      );
    }
    if (events.length > 0) await appendToOutbox(tx, events);
  }

  // ————— Offers —————

  /**
   * Staff send one of the catalogue's offers: it reaches the customer's centre (and their event
   * stream) through the same consumer as every notification; channels follow the customer's
   * marketing preferences (off unless they opted in).
   */
  async sendOffer(
    context: RequestContext,
    customerId: string,
    offerCode: OfferCode,
  ): Promise<{ eventId: string }> {
    if (!(await this.#options.contact(customerId))) throw new AppError("not-found", "No such customer.");
    return inTransaction(this.#options.db, async (tx) => {
      const event = this.#options.events.create(context, "notification.requested", customerId, {
        customerId,
        category: "marketing",
        template: `offer_${offerCode}`,
      });
      await appendToOutbox(tx, [event]);
      await this.#options.audit.record(tx, context, {
        action: "notifications.offer_sent",
        subjectId: customerId,
        details: { offerCode },
      });
      return { eventId: event.id };
    });
  }

  // ————— Preferences —————

  async preferences(customerId: string): Promise<PreferenceMatrix> {
    return preferenceMatrix(await this.repository.preferences(customerId));
  }

  async updatePreferences(
    context: RequestContext,
    customerId: string,
    changes: PreferenceChange[],
  ): Promise<PreferenceMatrix> {
    return inTransaction(this.#options.db, async (tx) => {
      const before = preferenceMatrix(await this.repository.preferences(customerId, tx));
      const after = preferenceMatrix([...flatten(before), ...changes]);
      if (!keepsSecurityAlerts(after)) {
        throw new AppError(
          "security-alerts-required",
          "Security alerts cannot be switched off: keep at least one channel of the security category on.",
        );
      }
      await this.repository.savePreferences(tx, customerId, changes, this.#options.clock.now());
      await this.#options.audit.record(tx, context, {
        action: "notifications.preferences_changed",
        subjectId: customerId,
        before: { preferences: before },
        after: { preferences: after },
      });
      return after;
    });
  }

  // ————— Push tokens —————

  async registerPushToken(
    context: RequestContext,
    customerId: string,
    input: { token: string; platform: string },
  ): Promise<PushTokenDto> {
    const now = this.#options.clock.now();
    return inTransaction(this.#options.db, async (tx) => {
      const row = await this.repository.upsertPushToken(tx, {
        id: this.#options.ids.next("ptk"),
        customer_id: customerId,
        token: input.token,
        token_sha256: sha256(input.token),
        platform: input.platform,
        active: true,
        deactivated_reason: null,
        created_at: now,
        updated_at: now,
      });
      // The audit names the token's id and platform, never the token.
      await this.#options.audit.record(tx, context, {
        action: "notifications.push_token_registered",
        subjectId: row.id,
        details: { platform: row.platform },
      });
      return toPushTokenDto(row);
    });
  }

  async removePushToken(context: RequestContext, customerId: string, tokenId: string): Promise<void> {
    await inTransaction(this.#options.db, async (tx) => {
      const removed = await this.repository.deactivatePushToken(
        tx,
        tokenId,
        "removed_by_customer",
        this.#options.clock.now(),
        customerId,
      );
      if (removed === 0) throw new AppError("not-found", "No such push token.");
      await this.#options.audit.record(tx, context, {
        action: "notifications.push_token_removed",
        subjectId: tokenId,
      });
    });
  }
}

function flatten(matrix: PreferenceMatrix): PreferenceChange[] {
  return Object.entries(matrix).flatMap(([category, channels]) =>
    Object.entries(channels).map(
      ([channel, enabled]) => ({ category, channel, enabled }) as PreferenceChange,
    ),
  );
}

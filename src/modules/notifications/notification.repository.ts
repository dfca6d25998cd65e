import { sql } from "kysely";
import type { Db, Tx } from "../../platform/db/database.ts";
import {
  type AttemptOutcome,
  type DeliveryRow,
  type NotificationRow,
  notificationsDb,
  notificationsTx,
  type PushTokenRow,
} from "./notifications.tables.ts";
import type { PreferenceChange } from "./preferences.ts";

/** The only place the notifications module's SQL lives. Every customer read is scoped by owner. */
export class NotificationRepository {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  #on(tx: Tx | undefined) {
    return tx ? notificationsTx(tx) : notificationsDb(this.#db);
  }

  /** Inserts the notification unless one exists for the source event; true when inserted. */
  async insertNotification(tx: Tx, row: NotificationRow): Promise<boolean> {
    const inserted = await notificationsTx(tx)
      .insertInto("notifications_notifications")
      .values(row)
      .onConflict((conflict) => conflict.column("source_event_id").doNothing())
      .returning("id")
      .executeTakeFirst();
    return inserted !== undefined;
  }

  async insertDeliveries(tx: Tx, rows: DeliveryRow[]): Promise<void> {
    if (rows.length === 0) return;
    await notificationsTx(tx).insertInto("notifications_deliveries").values(rows).execute();
  }

  async page(customerId: string, limit: number, before: string | undefined): Promise<NotificationRow[]> {
    let query = notificationsDb(this.#db)
      .selectFrom("notifications_notifications")
      .selectAll()
      .where("customer_id", "=", customerId);
    if (before) query = query.where("id", "<", before);
    return query.orderBy("id", "desc").limit(limit).execute();
  }

  async unreadCount(customerId: string): Promise<number> {
    const row = await notificationsDb(this.#db)
      .selectFrom("notifications_notifications")
      .select((eb) => eb.fn.countAll<string>().as("count"))
      .where("customer_id", "=", customerId)
      .where("read_at", "is", null)
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  async findNotification(id: string, customerId?: string, tx?: Tx): Promise<NotificationRow | undefined> {
    let query = this.#on(tx).selectFrom("notifications_notifications").selectAll().where("id", "=", id);
    if (customerId) query = query.where("customer_id", "=", customerId);
    return query.executeTakeFirst();
  }

  /** Marks one (or every) unread notification read; returns the ids it marked. */
  async markRead(tx: Tx, customerId: string, id: string | undefined, at: Date): Promise<string[]> {
    let query = notificationsTx(tx)
      .updateTable("notifications_notifications")
      .set({ read_at: at })
      .where("customer_id", "=", customerId)
      .where("read_at", "is", null);
    if (id) query = query.where("id", "=", id);
    const rows = await query.returning("id").execute();
    return rows.map((row) => row.id);
  }

  async preferences(customerId: string, tx?: Tx): Promise<PreferenceChange[]> {
    const rows = await this.#on(tx)
      .selectFrom("notifications_preferences")
      .select(["category", "channel", "enabled"])
      .where("customer_id", "=", customerId)
      .execute();
    return rows as PreferenceChange[];
  }

  async savePreferences(tx: Tx, customerId: string, changes: PreferenceChange[], at: Date): Promise<void> {
    if (changes.length === 0) return;
    await notificationsTx(tx)
      .insertInto("notifications_preferences")
      .values(changes.map((change) => ({ customer_id: customerId, ...change, updated_at: at })))
      .onConflict((conflict) =>
        conflict.columns(["customer_id", "category", "channel"]).doUpdateSet((eb) => ({
          enabled: eb.ref("excluded.enabled"),
          updated_at: eb.ref("excluded.updated_at"),
        })),
      )
      .execute();
  }

  async activePushTokens(customerId: string, tx: Tx): Promise<PushTokenRow[]> {
    return notificationsTx(tx)
      .selectFrom("notifications_push_tokens")
      .selectAll()
      .where("customer_id", "=", customerId)
      .where("active", "=", true)
      .orderBy("id")
      .limit(20)
      .execute();
  }

  async pushToken(id: string, customerId?: string, tx?: Tx): Promise<PushTokenRow | undefined> {
    let query = this.#on(tx).selectFrom("notifications_push_tokens").selectAll().where("id", "=", id);
    if (customerId) query = query.where("customer_id", "=", customerId);
    return query.executeTakeFirst();
  }

  /** A token registered again (the same device, or a device that changed hands) moves to the caller. */
  async upsertPushToken(tx: Tx, row: PushTokenRow): Promise<PushTokenRow> {
    return notificationsTx(tx)
      .insertInto("notifications_push_tokens")
      .values(row)
      .onConflict((conflict) =>
        conflict.column("token_sha256").doUpdateSet({
          customer_id: row.customer_id,
          platform: row.platform,
          active: true,
          deactivated_reason: null,
          updated_at: row.updated_at,
        }),
      )
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async deactivatePushToken(
    tx: Tx,
    id: string,
    reason: string,
    at: Date,
    customerId?: string,
  ): Promise<number> {
    let query = notificationsTx(tx)
      .updateTable("notifications_push_tokens")
      .set({ active: false, deactivated_reason: reason, updated_at: at })
      .where("id", "=", id)
      .where("active", "=", true);
    if (customerId) query = query.where("customer_id", "=", customerId);
    return Number((await query.executeTakeFirst()).numUpdatedRows);
  }

  /** Leases up to `limit` due deliveries until `until`; another node skips them meanwhile. */
  async leaseDue(now: Date, until: Date, limit: number): Promise<DeliveryRow[]> {
    const result = await sql<DeliveryRow>`
      update notifications_deliveries set locked_until = ${until}
      where id in (
        select id from notifications_deliveries
        where status = 'pending' and next_attempt_at <= ${now}
          and (locked_until is null or locked_until < ${now})
        order by next_attempt_at
        limit ${limit}
        for update skip locked)
      returning *`.execute(this.#db);
    return result.rows.map((row) => ({ ...row, attempts: Number(row.attempts) }));
  }

  async recordAttempt(
    tx: Tx,
    attempt: {
      deliveryId: string;
      attempt: number;
      outcome: AttemptOutcome;
      failureCode: string | null;
      httpStatus: number | null;
      at: Date;
    },
  ): Promise<void> {
    await notificationsTx(tx)
      .insertInto("notifications_delivery_attempts")
      .values({
        delivery_id: attempt.deliveryId,
        attempt: attempt.attempt,
        outcome: attempt.outcome,
        failure_code: attempt.failureCode,
        http_status: attempt.httpStatus,
        attempted_at: attempt.at,
      })
      .execute();
  }

  async updateDelivery(
    tx: Tx | undefined,
    id: string,
    values: Partial<Omit<DeliveryRow, "id" | "notification_id" | "customer_id" | "channel">>,
  ): Promise<void> {
    await this.#on(tx)
      .updateTable("notifications_deliveries")
      .set({ ...values, locked_until: null })
      .where("id", "=", id)
      .execute();
  }
}

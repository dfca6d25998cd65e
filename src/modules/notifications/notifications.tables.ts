import type { Kysely, Transaction } from "kysely";
import type { Db, Tx } from "../../platform/db/database.ts";

export type DeliveryStatus = "pending" | "delivered" | "failed" | "skipped";
export type AttemptOutcome = "delivered" | "retry" | "failed";

export interface NotificationsTables {
  notifications_notifications: {
    id: string;
    customer_id: string;
    source_event_id: string;
    category: string;
    template: string;
    params: string;
    read_at: Date | null;
    created_at: Date;
  };
  notifications_preferences: {
    customer_id: string;
    category: string;
    channel: string;
    enabled: boolean;
    updated_at: Date;
  };
  notifications_push_tokens: {
    id: string;
    customer_id: string;
    token: string;
    token_sha256: string;
    platform: string;
    active: boolean;
    deactivated_reason: string | null;
    created_at: Date;
    updated_at: Date;
  };
  notifications_deliveries: {
    id: string;
    notification_id: string;
    customer_id: string;
    channel: string;
    push_token_id: string | null;
    status: DeliveryStatus;
    reason: string | null;
    attempts: number;
    next_attempt_at: Date;
    locked_until: Date | null;
    provider_message_id: string | null;
    created_at: Date;
    finished_at: Date | null;
  };
  notifications_delivery_attempts: {
    delivery_id: string;
    attempt: number;
    outcome: AttemptOutcome;
    failure_code: string | null;
    http_status: number | null;
    attempted_at: Date;
  };
}

export type NotificationRow = NotificationsTables["notifications_notifications"];
export type DeliveryRow = NotificationsTables["notifications_deliveries"];
export type PushTokenRow = NotificationsTables["notifications_push_tokens"];

/** The module's own tables only: a query on another module's table does not typecheck. */
export function notificationsDb(db: Db): Kysely<NotificationsTables> {
  return db as Kysely<NotificationsTables>;
}

export function notificationsTx(tx: Tx): Transaction<NotificationsTables> {
  return tx as Transaction<NotificationsTables>;
}

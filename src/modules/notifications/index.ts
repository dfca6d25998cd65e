import { join } from "node:path";
import type { MigrationSource } from "../../platform/db/migrations.ts";

/**
 * The public face of notifications: the service (centre, preferences, push tokens and the
 * consumer of the events that notify), the sender, the providers, the routes and its events.
 */
export { DeliverySender, type DeliverySenderOptions } from "./delivery.sender.ts";
export {
  type CustomerContact,
  NOTIFICATIONS_CONSUMER,
  type NotificationDto,
  NotificationService,
  type NotificationServiceOptions,
} from "./notification.service.ts";
export { SOURCE_EVENT_TYPES } from "./notification-sources.ts";
export { registerNotificationRoutes } from "./notifications.routes.ts";
export { CATEGORIES, CHANNELS, type NotificationChannel } from "./preferences.ts";
export { createProviders, type NotificationProvider, type ProviderConfig } from "./providers.ts";
export { escapeHtml, render, TEMPLATES, type TemplateCode } from "./templates.ts";

export const migrations: MigrationSource = {
  module: "notifications",
  directory: join(import.meta.dirname, "migrations"),
};

/** Events this module publishes (see docs/events.md). */
export const NOTIFICATION_EVENTS = [
  "notification.created",
  "notification.delivered",
  "notification.delivery_failed",
] as const;

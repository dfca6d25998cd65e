import { join } from "node:path";
import type { MigrationSource } from "../../platform/db/migrations.ts";

export { CHANGE_LOG_EVENT_TYPES, SYNC_CHANGED_EVENT } from "./change-log.projection.ts";
export { registerSyncRoutes } from "./sync.routes.ts";
export type { ProcessedCommandDto, SyncCursor, SyncItem, SyncPage } from "./sync.service.ts";
export { decodeSyncCursor, encodeSyncCursor, SyncService } from "./sync.service.ts";
export { type SyncSources, syncSources } from "./sync.sources.ts";

export const migrations: MigrationSource = {
  module: "sync",
  directory: join(import.meta.dirname, "migrations"),
};

/** Events this module publishes (see docs/events.md). */
export const SYNC_EVENTS = ["sync.changed"] as const;

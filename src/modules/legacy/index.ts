import { join } from "node:path";
import type { MigrationSource } from "../../platform/db/migrations.ts";

export { registerLegacyRoutes } from "./legacy.routes.ts";
export {
  type LegacyAccountDto,
  LegacyService,
  type LegacyServiceOptions,
  type LegacyTransactionDto,
} from "./legacy.service.ts";
/**
 * The public face of legacy-mastered accounts: the service (mirror, payments, reconciliation),
 * its routes, the legacy core port for tests and tools, and the events it publishes.
 */
export {
  LEGACY_CONNECTOR_NAME,
  LegacyCoreClient,
  type LegacyCorePort,
} from "./legacy-core.client.ts";
export type { LegacyPaymentDto, LegacyPaymentStatusChangedEvent } from "./legacy-payments.ts";
export { compareWithExport, type ReconciliationReport } from "./reconciliation.ts";

export const migrations: MigrationSource = {
  module: "legacy",
  directory: join(import.meta.dirname, "migrations"),
};

/** Events this module publishes (see docs/events.md). */
export const LEGACY_EVENTS = [
  "legacy_payment.status_changed",
  "notification.requested",
  "legacy.mirror_resynced",
  "legacy.reconciliation_break",
  "legacy.reconciliation_completed",
] as const;

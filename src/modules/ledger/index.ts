import { join } from "node:path";
import type { MigrationSource } from "../../platform/db/migrations.ts";

export { registerAccountRoutes, toAccountDto } from "./account.routes.ts";
export { normalizeIban } from "./iban.ts";
export type {
  Account,
  AccountFrozenEvent,
  AccountTransaction,
  CustomerAccountType,
  PostingLeg,
  PostingRequest,
  SystemAccountCode,
} from "./ledger.service.ts";
export { LedgerService } from "./ledger.service.ts";
export type { EntryOutcome, EntryRequest, Leg, RejectionReason } from "./posting.engine.ts";

export const migrations: MigrationSource = {
  module: "ledger",
  directory: join(import.meta.dirname, "migrations"),
};

/** Events this module publishes (see docs/events.md). */
export const LEDGER_EVENTS = ["account.opened", "account.frozen"] as const;

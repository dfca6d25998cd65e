import { join } from "node:path";
import type { MigrationSource } from "../../platform/db/migrations.ts";

export type { NameCheckResult } from "./name-check.ts";
export { registerPayeeRoutes } from "./payee.routes.ts";
export type { NameCheckDto, PayeeCreatedEvent, PayeeDeletedEvent, PayeeDto } from "./payee.service.ts";
export { PayeeService } from "./payee.service.ts";
export { registerPaymentRoutes } from "./payment.routes.ts";
export type { CashMovementDto } from "./payment.service.ts";
export { PaymentService } from "./payment.service.ts";
export { PaymentHistory, type PaymentRecord } from "./payment-history.ts";
export type { RailConfig } from "./rail/rail.service.ts";
export { registerScheduledTransferRoutes } from "./scheduled.routes.ts";
export type { ScheduledRunEvent, ScheduledTransferDto } from "./scheduled.service.ts";
export { ScheduledTransferService } from "./scheduled.service.ts";
export type { StatusStep, TransferDto } from "./transfer-lifecycle.ts";

export const migrations: MigrationSource = {
  module: "payments",
  directory: join(import.meta.dirname, "migrations"),
};

/** Events this module publishes (see docs/events.md). */
export const PAYMENT_EVENTS = [
  "transfer.completed",
  "transfer.status_changed",
  "inbound_credit.booked",
  "inbound_credit.rejected",
  "transfer.rejected",
  "deposit.completed",
  "deposit.rejected",
  "withdrawal.completed",
  "withdrawal.rejected",
  "payee.created",
  "payee.deleted",
  "scheduled_transfer.executed",
] as const;
export { registerRailRoutes } from "./rail/rail.routes.ts";

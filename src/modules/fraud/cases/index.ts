/** The public face of the fraud investigations (cases), built by the composition root. */
export type { CaseContext, ChannelSummary, FraudEngineReads } from "./case-context.ts";
export type { CaseDto, NoteDto } from "./fraud-case.dto.ts";
export { FraudCaseMetrics } from "./fraud-case.metrics.ts";
export { registerFraudCaseRoutes } from "./fraud-case.routes.ts";
export type {
  CaseActionResult,
  CasePage,
  CustomerConfirmation,
  FraudCaseDecidedEvent,
  FraudCaseOpenedEvent,
  NotificationRequestedEvent,
  RejectionReasonCode,
} from "./fraud-case.service.ts";
export { FRAUD_CONFIRMED_REASON, FraudCaseService, REJECTION_REASON_CODES } from "./fraud-case.service.ts";
export type { CaseStatus } from "./fraud-case.tables.ts";

/** Events the fraud cases publish. */
export const FRAUD_CASE_EVENTS = [
  "fraud.case_opened",
  "fraud.case_released",
  "fraud.case_rejected",
  "fraud.case_fraud_confirmed",
  "fraud.case_released_by_customer",
  "fraud.case_customer_confirmed",
  "fraud.case_note_added",
  "notification.requested",
] as const;

import { join } from "node:path";
import type { MigrationSource } from "../../platform/db/migrations.ts";

/**
 * The public face of AML transaction monitoring: the monitoring service (rule sets, the event
 * consumer), the compliance cases built on its alerts, and their routes.
 */
export { AmlMetrics } from "./aml.metrics.ts";
export { registerAmlRoutes } from "./aml.routes.ts";
export type {
  AmlConfig,
  AmlRuleSetActivatedEvent,
  AmlRuleSetCreatedEvent,
  AmlRuleSetDto,
  AmlServiceOptions,
} from "./aml.service.ts";
export { AmlService } from "./aml.service.ts";
export type { CaseStatus as ComplianceCaseStatus } from "./aml.tables.ts";
export type { ComplianceCaseContext } from "./case-context.ts";
export type { AlertDto, ComplianceCaseDto, ComplianceNoteDto, ReportDto } from "./compliance-case.dto.ts";
export type {
  ComplianceActionResult,
  ComplianceCaseChangedEvent,
  ComplianceCasePage,
  ComplianceCaseServiceOptions,
  ReportFiledEvent,
} from "./compliance-case.service.ts";
export { AML_FREEZE_REASON, ComplianceCaseService } from "./compliance-case.service.ts";
export type { AlertRaisedEvent, ComplianceCaseOpenedEvent } from "./monitoring.projection.ts";
export { REPORT_FORMAT, type SuspiciousActivityReport } from "./report.ts";
export type { AmlRule, AmlRuleSetDefinition, RuleKind } from "./rules.ts";
export { DEFAULT_RULE_SET, RULE_KINDS } from "./rules.ts";

export const migrations: MigrationSource = {
  module: "aml",
  directory: join(import.meta.dirname, "migrations"),
};

/** Events the AML module publishes (see docs/events.md). */
export const AML_EVENTS = [
  "aml.rule_set_created",
  "aml.rule_set_activated",
  "aml.case_opened",
  "aml.alert_raised",
  "aml.alert_updated",
  "aml.case_closed",
  "aml.case_escalated",
  "aml.case_accounts_frozen",
  "aml.report_filed",
  "aml.case_note_added",
] as const;

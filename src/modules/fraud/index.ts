import { join } from "node:path";
import type { MigrationSource } from "../../platform/db/migrations.ts";

/**
 * The public face of the fraud decision engine. The investigations (cases) have their own face in
 * ./cases/index.ts; both share this module's migrations folder.
 */
export type { FeatureName, Features } from "./features.ts";
export { FEATURE_KINDS, FEATURE_NAMES } from "./features.ts";
export { FraudMetrics } from "./fraud.metrics.ts";
export { registerFraudRoutes } from "./fraud.routes.ts";
export type {
  DecisionDto,
  DryRunReport,
  DryRunRequest,
  FraudConfig,
  FraudDecisionMadeEvent,
  FraudServiceOptions,
  ProfileSummary,
  RuleSetActivatedEvent,
  RuleSetCreatedEvent,
  RuleSetDto,
} from "./fraud.service.ts";
export { FraudService } from "./fraud.service.ts";
export type { Rule, RuleOperator, RuleSetDefinition, Thresholds } from "./rules.ts";
export { DEFAULT_RULE_SET, RULE_OPERATORS } from "./rules.ts";

export const migrations: MigrationSource = {
  module: "fraud",
  directory: join(import.meta.dirname, "migrations"),
};

/** Events the decision engine publishes (the cases' events are in ./cases/index.ts). */
export const FRAUD_EVENTS = [
  "fraud.decision_made",
  "fraud.rule_set_created",
  "fraud.rule_set_activated",
] as const;

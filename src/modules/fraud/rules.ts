import { Type } from "typebox";
import { Value } from "typebox/value";
import type { RiskOutcome } from "../../platform/fraud.ts";
import { FEATURE_KINDS, FEATURE_NAMES, type FeatureName, type Features } from "./features.ts";

/**
 * Rules as data: a rule names a feature, compares it with a value and adds its weight to the score
 * when it fires. The score is the sum of fired weights, capped at 100; the outcome follows from the
 * thresholds. Everything here is pure, so the same code decides payments and replays dry runs.
 */
export const RULE_OPERATORS = ["gt", "gte", "lt", "lte", "eq", "is_true"] as const;
export type RuleOperator = (typeof RULE_OPERATORS)[number];

export interface Rule {
  code: string;
  feature: FeatureName;
  operator: RuleOperator;
  /** Absent for `is_true`; a number for comparisons; a number or boolean for `eq`. */
  value?: number | boolean | undefined;
  weight: number;
}

export interface Thresholds {
  challenge: number;
  hold: number;
  block: number;
}

export interface RuleSetDefinition {
  rules: Rule[];
  thresholds: Thresholds;
}

export interface Evaluation {
  outcome: RiskOutcome;
  score: number;
  /** Codes of the fired rules, in the rule set's order. */
  reasons: string[];
}

export const SCORE_MAX = 100;
export const RULES_PER_SET_MAX = 100;

export const RuleSchema = Type.Object(
  {
    code: Type.String({
      pattern: "^[a-z][a-z0-9_]{0,63}$",
      description: "Stable reason code, e.g. new_device",
    }),
    feature: Type.Enum(FEATURE_NAMES, { description: "A feature of the catalogue" }),
    operator: Type.Enum([...RULE_OPERATORS]),
    value: Type.Optional(Type.Union([Type.Number(), Type.Boolean()])),
    weight: Type.Integer({ minimum: 0, maximum: SCORE_MAX }),
  },
  { additionalProperties: false },
);

export const ThresholdsSchema = Type.Object(
  {
    challenge: Type.Integer({ minimum: 1, maximum: SCORE_MAX }),
    hold: Type.Integer({ minimum: 1, maximum: SCORE_MAX }),
    block: Type.Integer({ minimum: 1, maximum: SCORE_MAX }),
  },
  { additionalProperties: false, description: "Scores from which the outcome is challenge, hold, block" },
);

export const RuleSetDefinitionSchema = Type.Object(
  {
    rules: Type.Array(RuleSchema, { minItems: 1, maxItems: RULES_PER_SET_MAX }),
    thresholds: ThresholdsSchema,
  },
  { additionalProperties: false },
);

/**
 * The problems of a candidate rule set, empty when it is valid: its shape, then what a schema
 * cannot say (the operator fits the feature's kind, codes are unique, thresholds are ordered).
 */
export function ruleSetProblems(candidate: unknown): string[] {
  if (!Value.Check(RuleSetDefinitionSchema, candidate)) {
    return [...Value.Errors(RuleSetDefinitionSchema, candidate)]
      .slice(0, 10)
      .map((error) => `${error.instancePath || "/"} ${error.message}`);
  }
  const { rules, thresholds } = candidate as RuleSetDefinition;
  const problems: string[] = [];
  const codes = new Set<string>();
  for (const [index, rule] of rules.entries()) {
    if (codes.has(rule.code)) problems.push(`/rules/${index}/code "${rule.code}" is used twice`);
    codes.add(rule.code);
    const problem = operatorProblem(rule);
    if (problem) problems.push(`/rules/${index} ${problem}`);
  }
  if (!(thresholds.challenge <= thresholds.hold && thresholds.hold <= thresholds.block)) {
    problems.push("/thresholds must be ordered: challenge <= hold <= block");
  }
  return problems;
}

function operatorProblem(rule: Rule): string | undefined {
  const kind = FEATURE_KINDS[rule.feature];
  if (rule.operator === "is_true") {
    if (kind !== "boolean") return `operator is_true needs a boolean feature; ${rule.feature} is a number`;
    if (rule.value !== undefined) return "operator is_true takes no value";
    return undefined;
  }
  if (rule.operator === "eq") {
    if (typeof rule.value !== kind) return `operator eq on ${rule.feature} needs a ${kind} value`;
    return undefined;
  }
  if (kind !== "number")
    return `operator ${rule.operator} needs a number feature; ${rule.feature} is a boolean`;
  if (typeof rule.value !== "number") return `operator ${rule.operator} needs a number value`;
  return undefined;
}

export function ruleFires(rule: Rule, features: Partial<Features>): boolean {
  const actual = features[rule.feature];
  if (actual === null || actual === undefined) return false;
  switch (rule.operator) {
    case "is_true":
      return actual === true;
    case "eq":
      return actual === rule.value;
    default:
      if (typeof actual !== "number" || typeof rule.value !== "number") return false;
      return compare(rule.operator, actual, rule.value);
  }
}

function compare(operator: "gt" | "gte" | "lt" | "lte", actual: number, value: number): boolean {
  if (operator === "gt") return actual > value;
  if (operator === "gte") return actual >= value;
  if (operator === "lt") return actual < value;
  return actual <= value;
}

export function outcomeFor(score: number, thresholds: Thresholds): RiskOutcome {
  if (score >= thresholds.block) return "block";
  if (score >= thresholds.hold) return "hold";
  if (score >= thresholds.challenge) return "challenge";
  return "allow";
}

export function evaluate(definition: RuleSetDefinition, features: Partial<Features>): Evaluation {
  const fired = definition.rules.filter((rule) => ruleFires(rule, features));
  const score = Math.min(
    SCORE_MAX,
    fired.reduce((sum, rule) => sum + rule.weight, 0),
  );
  return {
    outcome: outcomeFor(score, definition.thresholds),
    score,
    reasons: fired.map((rule) => rule.code),
  };
}

/**
 * Version 1, seeded at start when there is no rule set. Weighted so that the account-takeover
 * pattern (new device + new country + credential change + new payee + large amount: 80) is held
 * for review and a burst on top of it blocks. Velocity and habit signals alone (a new payee, a
 * burst, a channel switch: at most 40) stay below a challenge, because a challenge nobody can
 * answer (step-up off, a standing order) becomes a hold.
 */
export const DEFAULT_RULE_SET: RuleSetDefinition = {
  rules: [
    { code: "new_device", feature: "new_device", operator: "is_true", weight: 15 },
    { code: "new_country", feature: "new_country", operator: "is_true", weight: 15 },
    {
      code: "credential_changed_recently",
      feature: "credential_changed_24h",
      operator: "is_true",
      weight: 20,
    },
    { code: "contact_changed_recently", feature: "contact_changed_24h", operator: "is_true", weight: 10 },
    { code: "new_payee", feature: "new_payee", operator: "is_true", weight: 10 },
    { code: "amount_far_above_usual", feature: "amount_z_score", operator: "gte", value: 4, weight: 10 },
    {
      code: "amount_many_times_usual",
      feature: "amount_ratio_to_mean",
      operator: "gte",
      value: 5,
      weight: 5,
    },
    {
      code: "daily_sum_many_times_usual",
      feature: "velocity_sum_24h_ratio_to_mean",
      operator: "gte",
      value: 10,
      weight: 5,
    },
    { code: "velocity_burst", feature: "velocity_count_10m", operator: "gte", value: 20, weight: 15 },
    { code: "velocity_hourly", feature: "velocity_count_1h", operator: "gte", value: 60, weight: 5 },
    { code: "channel_switch", feature: "channel_switch", operator: "is_true", weight: 5 },
    { code: "unusual_hour", feature: "unusual_hour", operator: "is_true", weight: 5 },
  ],
  thresholds: { challenge: 45, hold: 60, block: 95 },
};

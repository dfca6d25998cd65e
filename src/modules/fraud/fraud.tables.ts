import type { ColumnType, Insertable, Kysely, Selectable, Transaction } from "kysely";
import type { Db, Tx } from "../../platform/db/database.ts";
import type { RiskOutcome } from "../../platform/fraud.ts";
import type { Features } from "./features.ts";
import type { FraudProfile } from "./profile.ts";
import type { Rule, Thresholds } from "./rules.ts";

/** jsonb columns are written as JSON strings and read back as values. */
type Json<T> = ColumnType<T, string, string>;

/** What a decision was asked, as stored: no secrets, amounts as decimal-free minor-unit strings. */
export interface StoredRiskInput {
  customerId: string;
  transferId: string;
  fromAccountId: string;
  toIban: string;
  amountMinor: string;
  currency: string;
  external: boolean;
  channel: string;
  deviceId: string | null;
  sessionId: string | null;
  country: string | null;
  requestId: string;
}

export interface FraudTables {
  fraud_profiles: {
    customer_id: string;
    document: Json<FraudProfile>;
    updated_at: Date;
  };
  fraud_rule_sets: {
    version: number;
    rules: Json<Rule[]>;
    thresholds: Json<Thresholds>;
    created_by: string;
    created_at: Date;
    active: boolean;
  };
  fraud_decisions: {
    id: string;
    customer_id: string;
    transfer_id: string;
    outcome: RiskOutcome;
    score: number;
    reasons: Json<string[]>;
    rule_set_version: number;
    features: Json<Features>;
    input: Json<StoredRiskInput>;
    created_at: Date;
  };
}

export type RuleSetRow = Selectable<FraudTables["fraud_rule_sets"]>;
export type DecisionRow = Selectable<FraudTables["fraud_decisions"]>;
export type NewRuleSet = Insertable<FraudTables["fraud_rule_sets"]>;
export type NewDecision = Insertable<FraudTables["fraud_decisions"]>;

export function fraudDb(db: Db): Kysely<FraudTables> {
  return db as unknown as Kysely<FraudTables>;
}

export function fraudTx(tx: Tx): Transaction<FraudTables> {
  return tx as unknown as Transaction<FraudTables>;
}

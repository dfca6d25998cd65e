import type { ColumnType, Kysely, Selectable, Transaction } from "kysely";
import type { Db, Tx } from "../../platform/db/database.ts";
import type { AmlRuleSetDefinition, MovementFact } from "./rules.ts";

/** jsonb columns are written as JSON strings and read back as values. */
type Json<T> = ColumnType<T, string, string>;

export const CASE_STATUSES = ["open", "escalated", "closed_false_positive", "reported"] as const;
export type CaseStatus = (typeof CASE_STATUSES)[number];
/** Statuses in which a case still takes alerts and actions. */
export const ACTIVE_STATUSES: readonly CaseStatus[] = ["open", "escalated"];

export interface AmlTables {
  aml_rule_sets: {
    version: number;
    definition: Json<AmlRuleSetDefinition>;
    created_by: string;
    created_at: Date;
    active: boolean;
  };
  aml_processed_events: { event_id: string; event_type: string; processed_at: Date };
  aml_accounts: {
    account_id: string;
    customer_id: string;
    currency: string;
    opened_at: Date | null;
    last_movement_at: Date | null;
  };
  aml_movements: {
    transaction_id: string;
    account_id: string;
    customer_id: string;
    kind: MovementFact["kind"];
    direction: MovementFact["direction"];
    amount_minor: ColumnType<bigint, bigint | string, bigint | string>;
    currency: string;
    counterparty_iban: string | null;
    counterparty_country: string | null;
    own_transfer: boolean;
    event_id: string;
    occurred_at: Date;
  };
  aml_daily_volumes: {
    customer_id: string;
    currency: string;
    day: ColumnType<Date, string, string>;
    volume_minor: ColumnType<bigint, bigint | string, bigint | string>;
    movements_count: number;
  };
  aml_cases: {
    id: string;
    customer_id: string;
    status: CaseStatus;
    risk_score: number;
    alerts_count: number;
    opened_at: Date;
    updated_at: Date;
    escalated_at: Date | null;
    escalated_by: string | null;
    accounts_frozen_at: Date | null;
    accounts_frozen_by: string | null;
    closed_at: Date | null;
    closed_by: string | null;
    resolution: "false_positive" | "reported" | null;
    report_id: string | null;
  };
  aml_alerts: {
    id: string;
    case_id: string;
    customer_id: string;
    rule_code: string;
    rule_kind: string;
    rule_set_version: number;
    risk_score: number;
    summary: string;
    details: Json<Record<string, unknown>>;
    first_event_id: string;
    triggers_count: number;
    raised_at: Date;
    last_triggered_at: Date;
  };
  aml_alert_transactions: { alert_id: string; transaction_id: string; account_id: string };
  aml_case_notes: { id: string; case_id: string; author_id: string; text: string; created_at: Date };
  aml_reports: {
    id: string;
    case_id: string;
    customer_id: string;
    document: Json<Record<string, unknown>>;
    filed_by: string;
    filed_at: Date;
  };
}

export type RuleSetRow = Selectable<AmlTables["aml_rule_sets"]>;
export type MovementRow = Selectable<AmlTables["aml_movements"]>;
export type CaseRow = Selectable<AmlTables["aml_cases"]>;
export type AlertRow = Selectable<AmlTables["aml_alerts"]>;
export type NoteRow = Selectable<AmlTables["aml_case_notes"]>;
export type ReportRow = Selectable<AmlTables["aml_reports"]>;

/** The AML module's view of the database: its own tables and nothing else. */
export function amlDb(db: Db | Tx): Kysely<AmlTables> {
  return db as unknown as Kysely<AmlTables>;
}

export function amlTx(tx: Tx): Transaction<AmlTables> {
  return tx as unknown as Transaction<AmlTables>;
}

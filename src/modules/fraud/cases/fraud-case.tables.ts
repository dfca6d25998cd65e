import type { Kysely, Transaction } from "kysely";
import type { Db, Tx } from "../../../platform/db/database.ts";

export const CASE_STATUSES = [
  "open",
  "released",
  "rejected",
  "fraud_confirmed",
  "released_by_customer",
] as const;
export type CaseStatus = (typeof CASE_STATUSES)[number];

export type NoteAuthorType = "staff" | "customer" | "system";

export interface FraudCaseTables {
  fraud_cases: {
    id: string;
    customer_id: string;
    transfer_id: string;
    decision_id: string;
    risk_score: number;
    /** JSON array of reason codes. */
    reasons: string;
    status: CaseStatus;
    opened_at: Date;
    customer_confirmed_at: Date | null;
    decided_at: Date | null;
    decided_by: string | null;
    resolution_reason: string | null;
  };
  fraud_case_notes: {
    id: string;
    case_id: string;
    author_type: NoteAuthorType;
    author_id: string;
    text: string;
    created_at: Date;
  };
}

export type CaseRow = FraudCaseTables["fraud_cases"];
export type NoteRow = FraudCaseTables["fraud_case_notes"];

/** The fraud cases' view of the database: their own tables and nothing else. */
export function casesDb(db: Db): Kysely<FraudCaseTables> {
  return db as unknown as Kysely<FraudCaseTables>;
}

export function casesTx(tx: Tx): Transaction<FraudCaseTables> {
  return tx as unknown as Transaction<FraudCaseTables>;
}

import type { Kysely, Transaction } from "kysely";
import type { Db, Tx } from "../../platform/db/database.ts";

export type LegacyPaymentStatus = "accepted" | "posted" | "rejected";
export type HoldStatus = "held" | "captured" | "released";
export type CreditStatus = "none" | "pending" | "credited" | "failed";
export type BreakKind = "missing_in_mirror" | "missing_in_core" | "amount_mismatch" | "balance_mismatch";

export interface LegacyTables {
  legacy_accounts: {
    id: string;
    legacy_account_id: string;
    customer_id: string;
    iban: string;
    currency: string;
    status: string;
    booked_minor: bigint;
    available_minor: bigint;
    as_of: Date;
    first_seq: bigint;
    last_seq: bigint;
    updated_at: Date;
  };
  legacy_transactions: {
    posting_id: string;
    account_id: string;
    legacy_account_id: string;
    amount_minor: bigint;
    currency: string;
    reference: string;
    booked_at: Date;
    business_date: string;
    balance_after_minor: bigint;
    seq: bigint | null;
    payment_id: string | null;
  };
  legacy_feed_checkpoints: {
    name: string;
    last_seq: bigint;
    last_read_at: Date | null;
    resynced_at: Date | null;
    updated_at: Date;
  };
  legacy_job_leases: { name: string; holder: string | null; locked_until: Date | null };
  legacy_payments: {
    id: string;
    customer_id: string;
    account_id: string;
    legacy_account_id: string;
    to_iban: string;
    amount_minor: bigint;
    currency: string;
    reference: string;
    status: LegacyPaymentStatus;
    rejection_reason: string | null;
    hold_status: HoldStatus;
    credit_status: CreditStatus;
    credited_entry_id: string | null;
    degraded: boolean;
    /** JSON array of {status, reasonCode, at}. */
    status_history: string;
    legacy_booked_at: Date | null;
    channel: string;
    request_id: string | null;
    created_at: Date;
    updated_at: Date;
  };
  legacy_posting_outbox: {
    payment_id: string;
    status: "pending" | "done";
    attempts: number;
    next_attempt_at: Date;
    locked_until: Date | null;
    last_error: string | null;
    created_at: Date;
    done_at: Date | null;
  };
  legacy_reconciliation_runs: {
    id: string;
    started_at: Date;
    finished_at: Date;
    status: "completed" | "incomplete";
    as_of: Date | null;
    business_date: string | null;
    last_seq: bigint | null;
    accounts_matched: number;
    postings_matched: number;
    breaks_count: number;
    detail: string | null;
  };
  legacy_reconciliation_breaks: {
    id: string;
    run_id: string;
    kind: BreakKind;
    subject: "account" | "posting";
    legacy_account_id: string;
    posting_id: string | null;
    mirror_minor: bigint | null;
    core_minor: bigint | null;
    created_at: Date;
  };
}

export type LegacyAccountRow = LegacyTables["legacy_accounts"];
export type LegacyPaymentRow = LegacyTables["legacy_payments"];
export type LegacyTransactionRow = LegacyTables["legacy_transactions"];
export type BreakRow = LegacyTables["legacy_reconciliation_breaks"];
export type RunRow = LegacyTables["legacy_reconciliation_runs"];

/** The module's view of the database: only its own tables typecheck. */
export function legacyDb(db: Db): Kysely<LegacyTables> {
  return db as Kysely<LegacyTables>;
}

export function legacyTx(tx: Tx): Transaction<LegacyTables> {
  return tx as Transaction<LegacyTables>;
}

import type { Kysely, Transaction } from "kysely";
import type { Db, Tx } from "../../platform/db/database.ts";

export type AccountKind = "current" | "savings" | "system";
export type AccountStatus = "active" | "frozen" | "closed";
export type HoldStatus = "placed" | "captured" | "released";

export interface LedgerTables {
  ledger_accounts: {
    id: string;
    iban: string | null;
    owner_customer_id: string | null;
    kind: AccountKind;
    system_code: string | null;
    shard: number | null;
    currency: string;
    status: AccountStatus;
    booked_minor: bigint;
    held_minor: bigint;
    overdraft_limit_minor: bigint;
    allow_negative: boolean;
    posting_seq: bigint;
    created_at: Date;
    updated_at: Date;
  };
  ledger_journal_entries: {
    id: string;
    kind: string;
    transfer_id: string | null;
    reference: string | null;
    created_at: Date;
  };
  ledger_postings: {
    id: string;
    entry_id: string;
    account_id: string;
    seq: bigint;
    amount_minor: bigint;
    currency: string;
    balance_after_minor: bigint;
    created_at: Date;
  };
  ledger_holds: {
    id: string;
    account_id: string;
    amount_minor: bigint;
    currency: string;
    status: HoldStatus;
    reference: string | null;
    entry_id: string | null;
    created_at: Date;
    updated_at: Date;
  };
}

/** The ledger's view of the database: its own tables and nothing else. */
export function ledgerDb(db: Db): Kysely<LedgerTables> {
  return db as unknown as Kysely<LedgerTables>;
}

export function ledgerTx(tx: Tx): Transaction<LedgerTables> {
  return tx as unknown as Transaction<LedgerTables>;
}

export type AccountRow = LedgerTables["ledger_accounts"];

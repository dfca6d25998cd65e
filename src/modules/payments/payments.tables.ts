import type { Kysely, Transaction } from "kysely";
import type { Db, Tx } from "../../platform/db/database.ts";

export type MovementKind = "transfer" | "deposit" | "withdrawal";

export interface PaymentTables {
  payments_transfers: {
    id: string;
    kind: MovementKind;
    status: "completed" | "rejected";
    rejection_reason: string | null;
    initiator_type: string;
    initiator_id: string;
    customer_id: string | null;
    from_account_id: string | null;
    to_account_id: string | null;
    to_iban: string | null;
    amount_minor: bigint;
    currency: string;
    reference: string | null;
    journal_entry_id: string | null;
    channel: string;
    device_id: string | null;
    request_id: string | null;
    created_at: Date;
  };
  payments_payees: {
    id: string;
    customer_id: string;
    name: string;
    iban: string;
    name_check: "match" | "close_match" | "no_match" | "not_applicable";
    created_at: Date;
    deleted_at: Date | null;
  };
}

export type PayeeRow = PaymentTables["payments_payees"];
export type TransferRow = PaymentTables["payments_transfers"];

export function paymentsDb(db: Db): Kysely<PaymentTables> {
  return db as unknown as Kysely<PaymentTables>;
}

export function paymentsTx(tx: Tx): Transaction<PaymentTables> {
  return tx as unknown as Transaction<PaymentTables>;
}

import type { Kysely, Transaction } from "kysely";
import type { Db, Tx } from "../../platform/db/database.ts";

export type MovementKind = "transfer" | "deposit" | "withdrawal";
export type TransferKind = MovementKind | "inbound_credit";

/**
 * received → (pending_review) → accepted → settled, or rejected / returned. Cash movements are
 * `completed` at once; a transfer inside the bank is settled in the transaction that accepts it.
 */
export type TransferStatus =
  | "completed"
  | "received"
  | "pending_review"
  | "accepted"
  | "settled"
  | "rejected"
  | "returned";

export interface PaymentTables {
  payments_transfers: {
    id: string;
    kind: TransferKind;
    status: TransferStatus;
    /** The reason code of a rejected or returned payment (ours, or the rail's ISO 20022 code). */
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
    hold_id: string | null;
    decision_id: string | null;
    external: boolean;
    /** JSON array of StatusStep. */
    status_history: string | null;
    updated_at: Date | null;
  };
  payments_rail_outbound: {
    transfer_id: string;
    end_to_end_id: string;
    message: string | null;
    status: "pending" | "sent" | "refused";
    attempts: number;
    next_attempt_at: Date;
    locked_until: Date | null;
    last_error: string | null;
    created_at: Date;
    sent_at: Date | null;
  };
  payments_rail_inbound: { message_id: string; message_type: string; received_at: Date };
  payments_inbound_credits: { end_to_end_id: string; transfer_id: string; received_at: Date };
  payments_scheduled_transfers: {
    id: string;
    customer_id: string;
    from_account_id: string;
    to_iban: string;
    amount_minor: bigint | string;
    currency: string;
    reference: string | null;
    frequency: "once" | "weekly" | "monthly";
    /** A date: written and read as YYYY-MM-DD. */
    next_run_on: string | Date | null;
    end_on: string | Date | null;
    /** The day of the month a monthly order keeps (from its first date). */
    anchor_day: number | null;
    status: "active" | "completed" | "cancelled";
    locked_until: Date | null;
    created_at: Date;
  };
  payments_scheduled_runs: {
    order_id: string;
    run_on: string | Date;
    transfer_id: string | null;
    status: "completed" | "rejected";
    reason: string | null;
    executed_at: Date;
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
export type ScheduledTransferRow = PaymentTables["payments_scheduled_transfers"];
export type ScheduledFrequency = "once" | "weekly" | "monthly";
export type TransferRow = PaymentTables["payments_transfers"];

export function paymentsDb(db: Db): Kysely<PaymentTables> {
  return db as unknown as Kysely<PaymentTables>;
}

export function paymentsTx(tx: Tx): Transaction<PaymentTables> {
  return tx as unknown as Transaction<PaymentTables>;
}

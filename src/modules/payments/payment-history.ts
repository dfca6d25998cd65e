import type { Db } from "../../platform/db/database.ts";
import { type AmountDto, toAmountDto } from "../../platform/money.ts";
import { paymentsDb, type TransferRow } from "./payments.tables.ts";

/** A customer's payment as the back office reads it: what, where to, from which channel, how it ended. */
export interface PaymentRecord {
  id: string;
  kind: string;
  status: string;
  rejectionReason: string | null;
  customerId: string | null;
  fromAccountId: string | null;
  toAccountId: string | null;
  toIban: string | null;
  amount: AmountDto;
  reference: string | null;
  /** The payee's account is at another bank (the money leaves through the payment rail). */
  external: boolean;
  decisionId: string | null;
  channel: string;
  deviceId: string | null;
  createdAt: Date;
  updatedAt: Date | null;
}

/** A page of history is never longer than this, whatever the caller asks for. */
const RECENT_MAX = 200;

/**
 * Read-only access to `payments_transfers` for other modules' investigations (the fraud cases):
 * the payments module stays the only owner of its table, and nothing here writes.
 */
export class PaymentHistory {
  readonly #db: Db;

  constructor(options: { db: Db }) {
    this.#db = options.db;
  }

  async transfer(transferId: string): Promise<PaymentRecord | undefined> {
    const row = await paymentsDb(this.#db)
      .selectFrom("payments_transfers")
      .selectAll()
      .where("id", "=", transferId)
      .executeTakeFirst();
    return row ? toPaymentRecord(row) : undefined;
  }

  /** The customer's most recent transfers (outgoing, any status), newest first. */
  async recentTransfersOf(customerId: string, limit: number): Promise<PaymentRecord[]> {
    const rows = await paymentsDb(this.#db)
      .selectFrom("payments_transfers")
      .selectAll()
      .where("customer_id", "=", customerId)
      .where("kind", "=", "transfer")
      .orderBy("created_at", "desc")
      .orderBy("id", "desc")
      .limit(Math.min(Math.max(limit, 1), RECENT_MAX))
      .execute();
    return rows.map(toPaymentRecord);
  }
}

function toPaymentRecord(row: TransferRow): PaymentRecord {
  // Columns of the payment lifecycle are read defensively: a row written before them has none.
  const lifecycle = row as Partial<Pick<TransferRow, "external" | "decision_id" | "updated_at">>;
  return {
    id: row.id,
    kind: row.kind,
    status: row.status,
    rejectionReason: row.rejection_reason,
    customerId: row.customer_id,
    fromAccountId: row.from_account_id,
    toAccountId: row.to_account_id,
    toIban: row.to_iban,
    amount: toAmountDto(BigInt(row.amount_minor), row.currency),
    reference: row.reference,
    external: lifecycle.external ?? false,
    decisionId: lifecycle.decision_id ?? null,
    channel: row.channel,
    deviceId: row.device_id,
    createdAt: row.created_at,
    updatedAt: lifecycle.updated_at ?? null,
  };
}

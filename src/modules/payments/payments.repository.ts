import type { RawBuilder } from "kysely";
import { bulkInsert, type ColumnType } from "../../platform/db/bulk.ts";
import type { Db, Tx } from "../../platform/db/database.ts";
import { paymentsDb, paymentsTx, type TransferRow } from "./payments.tables.ts";

const TRANSFER_COLUMNS = [
  ["id", "text"],
  ["kind", "text"],
  ["status", "text"],
  ["rejection_reason", "text"],
  ["initiator_type", "text"],
  ["initiator_id", "text"],
  ["customer_id", "text"],
  ["from_account_id", "text"],
  ["to_account_id", "text"],
  ["to_iban", "text"],
  ["amount_minor", "bigint"],
  ["currency", "text"],
  ["reference", "text"],
  ["journal_entry_id", "text"],
  ["channel", "text"],
  ["device_id", "text"],
  ["request_id", "text"],
  ["created_at", "timestamptz"],
  ["hold_id", "text"],
  ["decision_id", "text"],
  ["external", "boolean"],
  ["status_history", "text"],
  ["updated_at", "timestamptz"],
] as const satisfies ReadonlyArray<readonly [keyof TransferRow, ColumnType]>;

/** The only place the payments module's SQL lives. */
export class PaymentsRepository {
  readonly #db: Db;

  constructor(options: { db: Db }) {
    this.#db = options.db;
  }

  insertStatement(rows: TransferRow[]): RawBuilder<unknown> | undefined {
    if (rows.length === 0) return undefined;
    return bulkInsert("payments_transfers", TRANSFER_COLUMNS, rows);
  }

  async insert(tx: Tx, row: TransferRow): Promise<void> {
    await bulkInsert("payments_transfers", TRANSFER_COLUMNS, [row]).execute(tx);
  }

  async find(id: string): Promise<TransferRow | undefined> {
    const row = await paymentsDb(this.#db)
      .selectFrom("payments_transfers")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirst();
    return row ? normalize(row) : undefined;
  }

  /** The currencies of some transfers, read before a transaction that needs their clearing accounts. */
  async currencies(ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await paymentsDb(this.#db)
      .selectFrom("payments_transfers")
      .select("currency")
      .distinct()
      .where("id", "in", [...ids])
      .execute();
    return rows.map((row) => row.currency);
  }

  /** Locks one transfer for a state change (status reports, investigators' actions). */
  async lock(tx: Tx, id: string): Promise<TransferRow | undefined> {
    const row = await paymentsTx(tx)
      .selectFrom("payments_transfers")
      .selectAll()
      .where("id", "=", id)
      .forUpdate()
      .executeTakeFirst();
    return row ? normalize(row) : undefined;
  }

  /** Writes what a state change may touch; the rest of a transfer never changes. */
  async update(tx: Tx, row: TransferRow): Promise<void> {
    await paymentsTx(tx)
      .updateTable("payments_transfers")
      .set({
        status: row.status,
        rejection_reason: row.rejection_reason,
        journal_entry_id: row.journal_entry_id,
        to_account_id: row.to_account_id,
        hold_id: row.hold_id,
        status_history: row.status_history,
        updated_at: row.updated_at,
      })
      .where("id", "=", row.id)
      .execute();
  }

  /** Scoped by the customer: another customer's transfer is indistinguishable from none (BOLA). */
  async findForCustomer(id: string, customerId: string): Promise<TransferRow | undefined> {
    return paymentsDb(this.#db)
      .selectFrom("payments_transfers")
      .selectAll()
      .where("id", "=", id)
      .where("customer_id", "=", customerId)
      .where("kind", "=", "transfer")
      .executeTakeFirst()
      .then((row) => (row ? normalize(row) : undefined));
  }
}

/** bigint columns arrive as strings from PostgreSQL. */
function normalize(row: TransferRow): TransferRow {
  return { ...row, amount_minor: BigInt(row.amount_minor) };
}

import type { RawBuilder } from "kysely";
import { bulkInsert, type ColumnType } from "../../platform/db/bulk.ts";
import type { Db } from "../../platform/db/database.ts";
import { paymentsDb, type TransferRow } from "./payments.tables.ts";

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

  /** Scoped by the customer: another customer's transfer is indistinguishable from none (BOLA). */
  async findForCustomer(id: string, customerId: string): Promise<TransferRow | undefined> {
    return paymentsDb(this.#db)
      .selectFrom("payments_transfers")
      .selectAll()
      .where("id", "=", id)
      .where("customer_id", "=", customerId)
      .where("kind", "=", "transfer")
      .executeTakeFirst();
  }
}

import type { Db, Tx } from "../../platform/db/database.ts";
import { paymentsDb, paymentsTx, type TransferRow } from "./payments.tables.ts";

/** The only place the payments module's SQL lives. */
export class PaymentsRepository {
  readonly #db: Db;

  constructor(options: { db: Db }) {
    this.#db = options.db;
  }

  async insertMany(tx: Tx, rows: TransferRow[]): Promise<void> {
    if (rows.length === 0) return;
    await paymentsTx(tx).insertInto("payments_transfers").values(rows).execute();
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

import type { Db, Tx } from "../../platform/db/database.ts";
import type { CustomerTier } from "./customer.tables.ts";
import { type CustomerRow, customersDb, customersTx, type PostalAddress } from "./customer.tables.ts";

/** The columns a profile update may change; everything else is fixed after registration. */
export interface CustomerContactChanges {
  email?: string;
  phone?: string | null;
  preferred_language?: string | null;
  address?: PostalAddress | null;
}

/** The only place the customers module's SQL lives. */
export class CustomerRepository {
  readonly #db: Db;

  constructor(options: { db: Db }) {
    this.#db = options.db;
  }

  async insert(tx: Tx, row: CustomerRow): Promise<void> {
    await customersTx(tx)
      .insertInto("customers")
      .values({ ...row, address: row.address === null ? null : JSON.stringify(row.address) })
      .execute();
  }

  async findById(id: string): Promise<CustomerRow | undefined> {
    return customersDb(this.#db).selectFrom("customers").selectAll().where("id", "=", id).executeTakeFirst();
  }

  /** Locks the row, so concurrent updates of one profile apply one after the other. */
  async lockById(tx: Tx, id: string): Promise<CustomerRow | undefined> {
    return customersTx(tx)
      .selectFrom("customers")
      .selectAll()
      .where("id", "=", id)
      .forUpdate()
      .executeTakeFirst();
  }

  async update(tx: Tx, id: string, changes: CustomerContactChanges, at: Date): Promise<CustomerRow> {
    const { address, ...plain } = changes;
    return customersTx(tx)
      .updateTable("customers")
      .set({
        ...plain,
        ...(address === undefined ? {} : { address: address === null ? null : JSON.stringify(address) }),
        updated_at: at,
      })
      .where("id", "=", id)
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async setTier(tx: Tx, id: string, tier: CustomerTier, at: Date): Promise<void> {
    await customersTx(tx)
      .updateTable("customers")
      .set({ tier, updated_at: at })
      .where("id", "=", id)
      .execute();
  }

  async tiers(tx: Tx, ids: readonly string[]): Promise<Map<string, CustomerTier>> {
    if (ids.length === 0) return new Map();
    const rows = await customersTx(tx)
      .selectFrom("customers")
      .select(["id", "tier"])
      .where("id", "in", [...ids])
      .execute();
    return new Map(rows.map((row) => [row.id, row.tier]));
  }

  async exists(id: string): Promise<boolean> {
    const row = await customersDb(this.#db)
      .selectFrom("customers")
      .select("id")
      .where("id", "=", id)
      .executeTakeFirst();
    return row !== undefined;
  }
}

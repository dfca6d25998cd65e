import type { ColumnType, Generated, Kysely, Selectable, Transaction } from "kysely";
import type { Db, Tx } from "../../platform/db/database.ts";

export type CustomerStatus = "active";

export interface PostalAddress {
  line1: string;
  line2?: string;
  postalCode: string;
  city: string;
  /** ISO 3166-1 alpha-2. */
  country: string;
}

export interface CustomerTables {
  customers: {
    id: string;
    email: string;
    given_name: string;
    family_name: string;
    phone: string | null;
    preferred_language: string | null;
    /** jsonb: written as a JSON string, read back as an object. */
    address: ColumnType<PostalAddress | null, string | null, string | null>;
    status: CustomerStatus;
    /** Sets the transfer limits; the database default is "standard". */
    tier: Generated<CustomerTier>;
    created_at: Date;
    updated_at: Date;
  };
}

export const CUSTOMER_TIERS = ["basic", "standard", "premium"] as const;
export type CustomerTier = (typeof CUSTOMER_TIERS)[number];

export type CustomerRow = Selectable<CustomerTables["customers"]>;

/** The customers module's view of the database: its own table and nothing else. */
export function customersDb(db: Db): Kysely<CustomerTables> {
  return db as unknown as Kysely<CustomerTables>;
}

export function customersTx(tx: Tx): Transaction<CustomerTables> {
  return tx as unknown as Transaction<CustomerTables>;
}

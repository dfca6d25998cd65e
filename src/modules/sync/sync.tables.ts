import type { ColumnType, Generated, Kysely, Transaction } from "kysely";

/** jsonb columns are written as JSON strings and read back as values. */
type Json<T> = ColumnType<T, string, string>;

export type ChangeOp = "upsert" | "remove";

export interface SyncChangesTable {
  /** bigserial: read back as a string by both drivers. */
  seq: ColumnType<string, never, never>;
  customer_id: string;
  kind: string;
  op: ChangeOp;
  entity_id: string;
  data: Json<Record<string, unknown>>;
  event_id: string;
  recorded_at: ColumnType<Date, Date, Date>;
}

export interface SyncWatermarkTable {
  id: Generated<number>;
  pruned_through_seq: ColumnType<string, string, string>;
}

export interface SyncTables {
  sync_changes: SyncChangesTable;
  sync_watermark: SyncWatermarkTable;
}

export type SyncDb = Kysely<SyncTables>;
export type SyncTx = Transaction<SyncTables>;

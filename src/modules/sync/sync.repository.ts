import { sql } from "kysely";
import type { Db, Tx } from "../../platform/db/database.ts";
import { inTransaction } from "../../platform/db/database.ts";
import type { ChangeOp, SyncDb, SyncTx } from "./sync.tables.ts";

export interface NewChange {
  customerId: string;
  kind: string;
  op: ChangeOp;
  entityId: string;
  data: Record<string, unknown>;
}

export interface StoredChange {
  seq: bigint;
  customerId: string;
  kind: string;
  op: ChangeOp;
  entityId: string;
  data: Record<string, unknown>;
}

/** The only place the sync module's SQL lives; the handle is narrowed to its own tables. */
export class SyncRepository {
  readonly #db: SyncDb;

  constructor(db: Db) {
    this.#db = db as unknown as SyncDb;
  }

  /**
   * Appends in the caller's transaction. Each customer's entries are appended under a
   * transaction-scoped advisory lock on that customer (taken in id order, so two appends never
   * deadlock): the sequence value is drawn after the lock, so within one customer seq order is
   * commit order and no reader can skip an entry that commits late.
   */
  async append(tx: Tx, changes: NewChange[], eventId: string, at: Date): Promise<StoredChange[]> {
    if (changes.length === 0) return [];
    const db = tx as unknown as SyncTx;
    const customers = [...new Set(changes.map((change) => change.customerId))].sort();
    for (const customerId of customers) {
      await sql`select pg_advisory_xact_lock(hashtextextended(${`sync:${customerId}`}, 0))`.execute(db);
    }
    const stored: StoredChange[] = [];
    for (const customerId of customers) {
      const rows = await db
        .insertInto("sync_changes")
        .values(
          changes
            .filter((change) => change.customerId === customerId)
            .map((change) => ({
              customer_id: change.customerId,
              kind: change.kind,
              op: change.op,
              entity_id: change.entityId,
              data: JSON.stringify(change.data),
              event_id: eventId,
              recorded_at: at,
            })),
        )
        .returning(["seq", "customer_id", "kind", "op", "entity_id", "data"])
        .execute();
      stored.push(...rows.map(toStored));
    }
    return stored;
  }

  /** One customer's entries after `afterSeq`, oldest first. */
  async page(customerId: string, afterSeq: bigint, limit: number): Promise<StoredChange[]> {
    const rows = await this.#db
      .selectFrom("sync_changes")
      .select(["seq", "customer_id", "kind", "op", "entity_id", "data"])
      .where("customer_id", "=", customerId)
      .where("seq", ">", afterSeq.toString() as never)
      .orderBy("seq")
      .limit(limit)
      .execute();
    return rows.map(toStored);
  }

  /** The customer's latest seq, 0 when the log has nothing of theirs. */
  async headSeq(customerId: string): Promise<bigint> {
    const row = await this.#db
      .selectFrom("sync_changes")
      .select((eb) => eb.fn.max("seq").as("seq"))
      .where("customer_id", "=", customerId)
      .executeTakeFirst();
    return row?.seq ? BigInt(row.seq) : 0n;
  }

  async watermark(): Promise<bigint> {
    const row = await this.#db
      .selectFrom("sync_watermark")
      .select("pruned_through_seq")
      .where("id", "=", 1)
      .executeTakeFirst();
    return BigInt(row?.pruned_through_seq ?? "0");
  }

  /** Deletes up to `limit` entries recorded before `before` and raises the watermark past them. */
  async prune(before: Date, limit: number): Promise<number> {
    return inTransaction(this.#db as unknown as Db, async (tx) => {
      const result = await sql<{ seq: string }>`
        delete from sync_changes where seq in (
          select seq from sync_changes where recorded_at < ${before} order by seq limit ${limit})
        returning seq`.execute(tx);
      const seqs = result.rows.map((row) => BigInt(row.seq));
      if (seqs.length === 0) return 0;
      const highest = seqs.reduce((a, b) => (a > b ? a : b));
      await sql`update sync_watermark set pruned_through_seq = greatest(pruned_through_seq, ${highest.toString()}::bigint)
        where id = 1`.execute(tx);
      return seqs.length;
    });
  }
}

function toStored(row: {
  seq: string;
  customer_id: string;
  kind: string;
  op: ChangeOp;
  entity_id: string;
  data: Record<string, unknown>;
}): StoredChange {
  return {
    seq: BigInt(row.seq),
    customerId: row.customer_id,
    kind: row.kind,
    op: row.op,
    entityId: row.entity_id,
    data: typeof row.data === "string" ? JSON.parse(row.data) : row.data,
  };
}

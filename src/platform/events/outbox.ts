import { sql } from "kysely";
import type { Db, Tx } from "../db/database.ts";
import type { DomainEvent } from "./event.ts";

/**
 * The transactional outbox: events are rows written in the same transaction as the state change
 * they describe. A rolled-back transaction therefore never publishes, and a committed one always
 * will, whatever crashes in between.
 */
export async function appendToOutbox(tx: Tx, events: DomainEvent[]): Promise<void> {
  if (events.length === 0) return;
  await tx
    .insertInto("platform_outbox")
    .values(
      events.map((event) => ({
        id: event.id,
        type: event.type,
        aggregate_id: event.aggregateId,
        payload: JSON.stringify(event),
        occurred_at: event.occurredAt,
      })),
    )
    .execute();
}

export interface OutboxBatch {
  seqs: bigint[];
  events: DomainEvent[];
}

/**
 * Claims up to `limit` unpublished rows. `skip locked` lets several nodes relay at once without
 * handing the same row to two of them.
 */
export async function claimUnpublished(tx: Tx, limit: number, lockRows: boolean): Promise<OutboxBatch> {
  let query = tx
    .selectFrom("platform_outbox")
    .select(["seq", "payload"])
    .where("published_at", "is", null)
    .orderBy("seq")
    .limit(limit);
  if (lockRows) query = query.forUpdate().skipLocked();
  const rows = await query.execute();
  return {
    seqs: rows.map((row) => row.seq as bigint),
    events: rows.map((row) => row.payload as DomainEvent),
  };
}

export async function markPublished(tx: Tx, seqs: bigint[], at: Date): Promise<void> {
  if (seqs.length === 0) return;
  await tx.updateTable("platform_outbox").set({ published_at: at }).where("seq", "in", seqs).execute();
}

export interface OutboxLag {
  pending: number;
  oldestAgeS: number;
}

export async function outboxLag(db: Db, now: Date): Promise<OutboxLag> {
  const result = await sql<{ pending: string | number | bigint; oldest: Date | null }>`
    select count(*) as pending, min(occurred_at) as oldest
    from platform_outbox where published_at is null`.execute(db);
  const row = result.rows[0];
  const oldest = row?.oldest ? new Date(row.oldest) : undefined;
  return {
    pending: Number(row?.pending ?? 0),
    oldestAgeS: oldest ? Math.max(0, (now.getTime() - oldest.getTime()) / 1000) : 0,
  };
}

/** Published rows are kept for a while for diagnosis, then removed in bounded batches. */
export async function prunePublished(db: Db, olderThan: Date, limit: number): Promise<number> {
  const result = await sql`
    delete from platform_outbox where seq in (
      select seq from platform_outbox where published_at < ${olderThan} order by published_at limit ${limit})`.execute(
    db,
  );
  return Number(result.numAffectedRows ?? 0n);
}

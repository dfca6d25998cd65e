import { type RawBuilder, sql } from "kysely";
import type { Db, Tx } from "../db/database.ts";
import type { DomainEvent } from "./event.ts";

/**
 * The transactional outbox: events are written in the same transaction as the state change they
 * describe. A rolled-back transaction therefore never publishes, and a committed one always will,
 * whatever crashes in between. All events of one call share one row (see the migration).
 */
export async function appendToOutbox(tx: Tx, events: DomainEvent[]): Promise<void> {
  await outboxStatement(events)?.execute(tx);
}

/** The outbox insert as a statement, for callers that send their writes together (StatementBundle). */
export function outboxStatement(events: DomainEvent[]): RawBuilder<unknown> | undefined {
  if (events.length === 0) return undefined;
  return sql`insert into platform_outbox (events, event_count, created_at)
    values (${JSON.stringify(events)}::json, ${events.length}, ${events[0]!.occurredAt}::timestamptz)`;
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
    .select(["seq", "events"])
    .where("published_at", "is", null)
    .orderBy("seq")
    .limit(limit);
  if (lockRows) query = query.forUpdate().skipLocked();
  const rows = await query.execute();
  return {
    seqs: rows.map((row) => row.seq as bigint),
    events: rows.flatMap((row) => row.events as DomainEvent[]),
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
  const result = await sql<{ pending: string | number | bigint | null; oldest: Date | null }>`
    select sum(event_count) as pending, min(created_at) as oldest
    from platform_outbox where published_at is null`.execute(db);
  const row = result.rows[0];
  const oldest = row?.oldest ? new Date(row.oldest) : undefined;
  return {
    pending: Number(row?.pending ?? 0),
    oldestAgeS: oldest ? Math.max(0, (now.getTime() - oldest.getTime()) / 1000) : 0,
  };
}

export interface StoredEvent {
  seq: bigint;
  publishedAt: Date | null;
  event: DomainEvent;
}

/** Events in the outbox matching a filter, oldest first; for diagnosis and tests. */
export async function findOutboxEvents(
  db: Db,
  filter: { id?: string; type?: string; aggregateId?: string },
  limit = 1_000,
): Promise<StoredEvent[]> {
  const conditions = [
    filter.id === undefined ? sql`true` : sql`e.value->>'id' = ${filter.id}`,
    filter.type === undefined ? sql`true` : sql`e.value->>'type' = ${filter.type}`,
    filter.aggregateId === undefined ? sql`true` : sql`e.value->>'aggregateId' = ${filter.aggregateId}`,
  ];
  const result = await sql<{ seq: bigint; published_at: Date | null; event: DomainEvent }>`
    select o.seq, o.published_at, e.value as event
    from platform_outbox o cross join lateral json_array_elements(o.events) with ordinality as e(value, position)
    where ${sql.join(conditions, sql` and `)}
    order by o.seq, e.position
    limit ${limit}`.execute(db);
  return result.rows.map((row) => ({
    seq: BigInt(row.seq),
    publishedAt: row.published_at,
    event: row.event,
  }));
}

/**
 * Published rows are kept for a while for diagnosis, then removed in bounded batches, oldest
 * first along the primary key (rows are published roughly in seq order).
 */
export async function prunePublished(db: Db, olderThan: Date, limit: number): Promise<number> {
  const result = await sql`
    delete from platform_outbox where seq in (
      select seq from platform_outbox
      where published_at is not null and published_at < ${olderThan}
      order by seq limit ${limit})`.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}

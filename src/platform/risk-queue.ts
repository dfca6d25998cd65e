import { type RawBuilder, sql } from "kysely";
import { AppError } from "./errors.ts";

/**
 * Paging of a review queue ordered by risk: highest risk score first, then the oldest, then by id
 * (keyset paging, no offsets). The fraud investigators' and the compliance analysts' queues page
 * alike; each module keeps its own table and query, and shares the cursor and the page logic.
 */

/** Where a page of the queue ends: the sort key of its last case. */
export interface RiskQueueCursor {
  riskScore: number;
  openedAtMs: number;
  id: string;
}

/** The columns the queue sorts by, named alike in every module's case table. */
export interface RiskQueueRow {
  risk_score: number;
  opened_at: Date;
  id: string;
}

export interface RiskQueuePage<Dto> {
  items: Dto[];
  nextCursor: string | null;
}

/** Opaque to clients: base64url of the last case's sort key. */
export function encodeRiskQueueCursor(row: RiskQueueRow): string {
  return Buffer.from(`v1:${row.risk_score}:${row.opened_at.getTime()}:${row.id}`).toString("base64url");
}

/** `idPrefix` is the prefix of the queue's case ids (`cas`, `cmc`), so another queue's cursor is refused. */
export function decodeRiskQueueCursor(cursor: string, idPrefix: string): RiskQueueCursor {
  const pattern = new RegExp(`^v1:(\\d{1,3}):(\\d{1,15}):(${idPrefix}_[0-9a-f]{32})$`);
  const match = pattern.exec(Buffer.from(cursor, "base64url").toString());
  if (!match) throw new AppError("validation", "cursor is not a cursor this API issued.");
  return { riskScore: Number(match[1]), openedAtMs: Number(match[2]), id: match[3]! };
}

/** The condition "after `cursor`" in the queue's order, over the columns `risk_score`, `opened_at`, `id`. */
export function afterRiskQueueCursor(after: RiskQueueCursor): RawBuilder<boolean> {
  const at = new Date(after.openedAtMs);
  return sql<boolean>`(risk_score < ${after.riskScore} or (risk_score = ${after.riskScore} and
          (opened_at > ${at} or (opened_at = ${at} and id > ${after.id}))))`;
}

/**
 * One page of the queue: the limit clamped to 1…`limitMax`, one row more read than shown so that
 * the cursor is only given when there is a next page.
 */
export async function riskQueuePage<Row extends RiskQueueRow, Dto>(options: {
  page: { limit: number; cursor?: string | undefined };
  limitMax: number;
  idPrefix: string;
  load: (after: RiskQueueCursor | undefined, limit: number) => Promise<Row[]>;
  toDto: (row: Row) => Dto;
}): Promise<RiskQueuePage<Dto>> {
  const { page, limitMax } = options;
  const limit = Math.min(Math.max(page.limit, 1), limitMax);
  const after = page.cursor === undefined ? undefined : decodeRiskQueueCursor(page.cursor, options.idPrefix);
  const rows = await options.load(after, limit + 1);
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return {
    items: items.map(options.toDto),
    nextCursor: rows.length > limit && last ? encodeRiskQueueCursor(last) : null,
  };
}

import { sql } from "kysely";
import type { Db } from "./db/database.ts";

/**
 * Walks the hash chain of the audit trail (migration 0003_audit_chain) in chain order and reports
 * the first broken link. The database computes every hash (`platform_audit_record_hash`), so the
 * check recomputes each record's hash with the very function that sealed it: a record whose
 * content changed no longer matches its hash, a removed or reordered record breaks the link to
 * its successor, and a removed tail no longer reaches the chain head.
 */

export type AuditChainBreak =
  /** The record's content no longer matches the hash it was sealed with. */
  | "hash_mismatch"
  /** The record does not link to the hash of the record before it. */
  | "link_broken"
  /** A position is missing: a record was removed. */
  | "record_missing"
  /** The last record is not the one the chain head names: records were removed at the end. */
  | "head_mismatch";

export interface AuditChainReport {
  ok: boolean;
  recordsChecked: number;
  firstBroken?: { chainPosition: number; recordId: string | null; reason: AuditChainBreak };
}

interface ChainRow {
  chain_position: string | number;
  id: string;
  prev_hash: string;
  hash: string;
  recomputed: string;
}

const BATCH_SIZE = 2_000;

async function batchAfter(db: Db, position: number, size: number): Promise<ChainRow[]> {
  const result = await sql<ChainRow>`
    select chain_position, id, prev_hash, hash, platform_audit_record_hash(prev_hash, l) as recomputed
    from platform_audit_log l
    where chain_position > ${position}
    order by chain_position
    limit ${size}`.execute(db);
  return result.rows;
}

async function head(db: Db): Promise<{ position: number; hash: string }> {
  const result = await sql<{ chain_position: string | number; hash: string }>`
    select chain_position, hash from platform_audit_chain_head`.execute(db);
  const row = result.rows[0];
  if (!row) throw new Error("the audit chain head is missing");
  return { position: Number(row.chain_position), hash: row.hash };
}

function checkRow(
  row: ChainRow,
  expected: { position: number; prevHash: string },
): AuditChainReport["firstBroken"] {
  const position = Number(row.chain_position);
  const at = (reason: AuditChainBreak) => ({ chainPosition: position, recordId: row.id, reason });
  if (position !== expected.position)
    return { chainPosition: expected.position, recordId: null, reason: "record_missing" };
  if (row.prev_hash !== expected.prevHash) return at("link_broken");
  if (row.recomputed !== row.hash) return at("hash_mismatch");
  return undefined;
}

export async function verifyAuditChain(db: Db, batchSize = BATCH_SIZE): Promise<AuditChainReport> {
  const genesis = await sql<{ hash: string }>`select platform_audit_genesis_hash() as hash`.execute(db);
  let expected = { position: 1, prevHash: genesis.rows[0]!.hash };
  let checked = 0;
  for (;;) {
    const rows = await batchAfter(db, expected.position - 1, batchSize);
    for (const row of rows) {
      const broken = checkRow(row, expected);
      if (broken) return { ok: false, recordsChecked: checked, firstBroken: broken };
      checked++;
      expected = { position: expected.position + 1, prevHash: row.hash };
    }
    if (rows.length < batchSize) break;
  }
  const chainHead = await head(db);
  const lastPosition = expected.position - 1;
  if (chainHead.position !== lastPosition || chainHead.hash !== expected.prevHash) {
    const reason = chainHead.position > lastPosition ? "record_missing" : "head_mismatch";
    return {
      ok: false,
      recordsChecked: checked,
      firstBroken: { chainPosition: lastPosition + 1, recordId: null, reason },
    };
  }
  return { ok: true, recordsChecked: checked };
}

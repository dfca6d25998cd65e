import { createHash } from "node:crypto";
import { type RawBuilder, sql } from "kysely";
import type { Clock } from "./clock.ts";
import { unnestRows } from "./db/bulk.ts";
import type { Db, Tx } from "./db/database.ts";
import { AppError, assertInvariant } from "./errors.ts";

/**
 * Idempotency keys (architecture rule 7). A key is checked at the start of the transaction that
 * performs the command and recorded, with its response, before that transaction commits, so
 * "key done" and "effect done" commit or roll back together: a crash can never leave an effect
 * without its key, or a key without its effect.
 *
 * Same key + same request → the first response is replayed. Same key + different request → 422.
 * The same key while the first is still running on this node → 409 (InFlightKeys); on another
 * node, the primary key makes the later transaction fail to record it, roll back its effect, run
 * again and replay the first response (see IdempotencyRaceError).
 */
export interface StoredResponse {
  statusCode: number;
  body: unknown;
}

export interface IdempotencyClaim {
  scope: string;
  key: string;
  requestHash: string;
  /** The device that sent the command (the session's X-Device-Id), recorded with the key. */
  deviceId?: string | null | undefined;
}

/** A command recently completed under an Idempotency-Key, as a syncing device is told of it. */
export interface ProcessedCommand {
  scope: string;
  key: string;
  statusCode: number;
  /** The id of what the command created or changed, when its response named one. */
  resourceId: string | null;
  processedAt: Date;
}

export interface Completion {
  scope: string;
  key: string;
  response: StoredResponse;
}

export type ClaimOutcome =
  | { kind: "claimed" }
  | { kind: "replay"; response: StoredResponse }
  | { kind: "mismatch" };

export const IDEMPOTENCY_KEY_PATTERN = "^[A-Za-z0-9_.:-]{8,128}$";

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value as object)
        .sort()
        .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}

/** A digest of the request that the key protects; field order does not matter. */
export function requestHash(request: unknown): string {
  return createHash("sha256")
    .update(JSON.stringify(canonical(request)))
    .digest("hex");
}

const LOOKUP_COLUMNS = [
  ["scope", "text"],
  ["key", "text"],
] as const;

const RECORD_COLUMNS = [
  ["scope", "text"],
  ["key", "text"],
  ["request_hash", "text"],
  ["status_code", "integer"],
  ["response", "jsonb"],
  ["device_id", "text"],
] as const;

/**
 * The same key was recorded by a concurrent transaction. Carries PostgreSQL's code for a
 * serialization failure so that `inTransaction` retries it like one.
 */
export class IdempotencyRaceError extends Error {
  readonly code = "40001";
  constructor() {
    super("idempotency key recorded concurrently");
    this.name = "IdempotencyRaceError";
  }
}

export class IdempotencyStore {
  readonly #clock: Clock;
  readonly #retentionS: number;
  readonly #pending = new WeakMap<Tx, Map<string, IdempotencyClaim>>();

  constructor(options: { clock: Clock; retentionS: number }) {
    this.#clock = options.clock;
    this.#retentionS = options.retentionS;
  }

  /**
   * Checks many keys at once, without writing: a key seen before is replayed (same request) or
   * refused (different request); an unknown or expired key is "claimed" for this transaction and
   * must be recorded with `completeMany` before it commits.
   */
  async claimMany(tx: Tx, claims: IdempotencyClaim[]): Promise<ClaimOutcome[]> {
    if (claims.length === 0) return [];
    const lookup = claims.map((claim) => ({ scope: claim.scope, key: claim.key }));
    const rows = await sql<{
      scope: string;
      key: string;
      request_hash: string;
      status_code: number | null;
      response: unknown;
    }>`
      select k.scope, k.key, k.request_hash, k.status_code, k.response
      from platform_idempotency_keys k
      join (${unnestRows(LOOKUP_COLUMNS, lookup)}) as v on k.scope = v.scope and k.key = v.key
      where k.expires_at >= ${this.#clock.now()}`
      .execute(tx)
      .then((result) => result.rows);
    const existing = new Map(rows.map((row) => [`${row.scope}\u0000${row.key}`, row]));
    const pending = this.#pendingOf(tx);
    return claims.map((claim) => {
      const id = `${claim.scope}\u0000${claim.key}`;
      const row = existing.get(id);
      if (!row) {
        pending.set(id, claim);
        return { kind: "claimed" };
      }
      if (row.request_hash !== claim.requestHash) return { kind: "mismatch" };
      assertInvariant(row.status_code !== null, "idempotency key committed without a response");
      return { kind: "replay", response: { statusCode: row.status_code, body: row.response } };
    });
  }

  /** The stored response of a completed command, read outside any transaction (a cheap pre-check). */
  async lookup(db: Db, scope: string, key: string): Promise<StoredResponse | undefined> {
    const row = await db
      .selectFrom("platform_idempotency_keys")
      .select(["status_code", "response"])
      .where("scope", "=", scope)
      .where("key", "=", key)
      .executeTakeFirst();
    if (!row || row.status_code === null) return undefined;
    return { statusCode: row.status_code, body: row.response };
  }

  async claim(tx: Tx, claim: IdempotencyClaim): Promise<ClaimOutcome> {
    const [outcome] = await this.claimMany(tx, [claim]);
    assertInvariant(outcome, "claimMany returned no outcome");
    return outcome;
  }

  /**
   * Records the responses of keys claimed in this transaction, in one statement and in key order.
   * If another transaction recorded one of them meanwhile (the same key on another node), the
   * whole transaction is aborted as a serialization failure: `inTransaction` runs it again, and
   * the retry finds the key and replays the first response instead of executing twice.
   */
  async completeMany(tx: Tx, completions: Completion[]): Promise<void> {
    const record = this.recordStatement(tx, completions);
    if (!record) return;
    const result = await record.statement.execute(tx);
    this.assertRecorded((result.rows as unknown[]).length, record.expected);
  }

  /**
   * `completeMany` as a statement with RETURNING, for callers that send their writes together;
   * they must pass the returned row count to `assertRecorded`.
   */
  recordStatement(
    tx: Tx,
    completions: Completion[],
  ): { statement: RawBuilder<unknown>; expected: number } | undefined {
    if (completions.length === 0) return undefined;
    const pending = this.#pendingOf(tx);
    const now = this.#clock.now();
    const expiresAt = new Date(now.getTime() + this.#retentionS * 1000);
    const rows = completions
      .map((c) => {
        const claim = pending.get(`${c.scope}\u0000${c.key}`);
        assertInvariant(claim, "idempotency key completed without being claimed in this transaction");
        return {
          scope: c.scope,
          key: c.key,
          request_hash: claim.requestHash,
          status_code: c.response.statusCode,
          response: JSON.stringify(c.response.body),
          device_id: claim.deviceId ?? null,
        };
      })
      .sort((a, b) => (a.scope + a.key < b.scope + b.key ? -1 : 1));
    const statement = sql`
      insert into platform_idempotency_keys (scope, key, request_hash, status_code, response, device_id, created_at, expires_at)
      select v.scope, v.key, v.request_hash, v.status_code, v.response, v.device_id, ${now}::timestamptz, ${expiresAt}::timestamptz
      from (${unnestRows(RECORD_COLUMNS, rows)}) as v
      on conflict (scope, key) do update
        set request_hash = excluded.request_hash, status_code = excluded.status_code,
            response = excluded.response, device_id = excluded.device_id,
            created_at = excluded.created_at, expires_at = excluded.expires_at
        where platform_idempotency_keys.expires_at < ${now}::timestamptz
      returning key`;
    return { statement, expected: rows.length };
  }

  /**
   * If another transaction recorded one of the keys meanwhile (the same key on another node), the
   * whole transaction is aborted as a serialization failure: `inTransaction` runs it again, and
   * the retry finds the key and replays the first response instead of executing twice.
   */
  assertRecorded(recorded: number, expected: number): void {
    if (recorded !== expected) throw new IdempotencyRaceError();
  }

  /**
   * The commands one device completed since `since`, newest first, in the given scopes (each is
   * `<customer id>:<operation>`, so the caller's customer id bounds the read: BOLA-safe by key).
   */
  async recentForDevice(
    db: Db,
    query: { scopes: string[]; deviceId: string; since: Date; limit: number },
  ): Promise<ProcessedCommand[]> {
    if (query.scopes.length === 0) return [];
    const rows = await db
      .selectFrom("platform_idempotency_keys")
      .select([
        "scope",
        "key",
        "status_code",
        "created_at",
        sql<string | null>`coalesce(response->>'id', response->>'transferId', response->>'paymentId')`.as(
          "resource_id",
        ),
      ])
      .where("scope", "in", query.scopes)
      .where("device_id", "=", query.deviceId)
      .where("status_code", "is not", null)
      .where("created_at", ">=", query.since)
      .where("expires_at", ">=", this.#clock.now())
      .orderBy("created_at", "desc")
      .limit(query.limit)
      .execute();
    return rows.map((row) => ({
      scope: row.scope,
      key: row.key,
      statusCode: row.status_code,
      resourceId: row.resource_id,
      processedAt: new Date(row.created_at),
    }));
  }

  /** Removes expired keys in bounded batches; returns how many went. */
  async prune(db: Db, limit = 5_000): Promise<number> {
    const result = await sql`
      delete from platform_idempotency_keys where (scope, key) in (
        select scope, key from platform_idempotency_keys where expires_at < ${this.#clock.now()} limit ${limit})`.execute(
      db,
    );
    return Number(result.numAffectedRows ?? 0n);
  }

  /** Claims made in a transaction, remembered until it is over (the map dies with the tx). */
  #pendingOf(tx: Tx): Map<string, IdempotencyClaim> {
    let pending = this.#pending.get(tx);
    if (!pending) {
      pending = new Map();
      this.#pending.set(tx, pending);
    }
    return pending;
  }
}

/**
 * Keys being executed right now on this node. A second request with the same key while the first
 * runs gets 409 at once instead of queuing behind it.
 */
export class InFlightKeys {
  readonly #keys = new Set<string>();

  acquire(scope: string, key: string): () => void {
    const id = `${scope}\u0000${key}`;
    if (this.#keys.has(id)) {
      throw new AppError(
        "idempotency-key-in-flight",
        "A request with this Idempotency-Key is still being processed.",
      );
    }
    this.#keys.add(id);
    return () => this.#keys.delete(id);
  }
}

export function throwIfMismatch(outcome: ClaimOutcome): void {
  if (outcome.kind === "mismatch") {
    throw new AppError(
      "idempotency-key-reused",
      "This Idempotency-Key was already used with a different request.",
    );
  }
}

import { createHash } from "node:crypto";
import { sql } from "kysely";
import type { Clock } from "./clock.ts";
import type { Db, Tx } from "./db/database.ts";
import { AppError, assertInvariant } from "./errors.ts";

/**
 * Idempotency keys (architecture rule 7). A key is claimed and completed inside the transaction
 * that performs the command, so "key done" and "effect done" commit or roll back together: a
 * crash can never leave an effect without its key, or a key without its effect.
 *
 * Same key + same request → the first response is replayed. Same key + different request → 422.
 * The same key while the first is still running on this node → 409 (InFlightKeys); on another
 * node, PostgreSQL's unique index makes the second wait for the first and then replay it.
 */
export interface StoredResponse {
  statusCode: number;
  body: unknown;
}

export interface IdempotencyClaim {
  scope: string;
  key: string;
  requestHash: string;
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

export class IdempotencyStore {
  readonly #clock: Clock;
  readonly #retentionS: number;

  constructor(options: { clock: Clock; retentionS: number }) {
    this.#clock = options.clock;
    this.#retentionS = options.retentionS;
  }

  /**
   * Claims many keys at once, in a fixed order so two transactions claiming overlapping keys
   * cannot deadlock. An expired key is taken over as if it were new.
   */
  async claimMany(tx: Tx, claims: IdempotencyClaim[]): Promise<ClaimOutcome[]> {
    if (claims.length === 0) return [];
    const now = this.#clock.now();
    const expiresAt = new Date(now.getTime() + this.#retentionS * 1000);
    const ordered = [...claims].sort((a, b) => (a.scope + a.key < b.scope + b.key ? -1 : 1));
    const inserted = await tx
      .insertInto("platform_idempotency_keys")
      .values(
        ordered.map((claim) => ({
          scope: claim.scope,
          key: claim.key,
          request_hash: claim.requestHash,
          created_at: now,
          expires_at: expiresAt,
        })),
      )
      .onConflict((conflict) =>
        conflict
          .columns(["scope", "key"])
          .doUpdateSet({
            request_hash: sql`excluded.request_hash`,
            status_code: null,
            response: null,
            created_at: sql`excluded.created_at`,
            expires_at: sql`excluded.expires_at`,
          })
          .where("platform_idempotency_keys.expires_at", "<", now),
      )
      .returning(["scope", "key"])
      .execute();
    const claimed = new Set(inserted.map((row) => `${row.scope}\u0000${row.key}`));
    const existing = await this.#existing(
      tx,
      claims.filter((c) => !claimed.has(`${c.scope}\u0000${c.key}`)),
    );
    return claims.map((claim) => {
      const id = `${claim.scope}\u0000${claim.key}`;
      if (claimed.has(id)) return { kind: "claimed" };
      const row = existing.get(id);
      assertInvariant(row, "idempotency key neither claimed nor found");
      if (row.request_hash !== claim.requestHash) return { kind: "mismatch" };
      assertInvariant(row.status_code !== null, "idempotency key committed without a response");
      return { kind: "replay", response: { statusCode: row.status_code, body: row.response } };
    });
  }

  async claim(tx: Tx, claim: IdempotencyClaim): Promise<ClaimOutcome> {
    const [outcome] = await this.claimMany(tx, [claim]);
    assertInvariant(outcome, "claimMany returned no outcome");
    return outcome;
  }

  /** Stores the responses of many claimed keys in one statement. */
  async completeMany(tx: Tx, completions: Array<{ scope: string; key: string; response: StoredResponse }>) {
    if (completions.length === 0) return;
    const values = sql.join(
      completions.map(
        (c) =>
          sql`(${c.scope}, ${c.key}, ${c.response.statusCode}::integer, ${JSON.stringify(c.response.body)}::jsonb)`,
      ),
    );
    await sql`
      update platform_idempotency_keys as k
      set status_code = v.status_code, response = v.response
      from (values ${values}) as v(scope, key, status_code, response)
      where k.scope = v.scope and k.key = v.key`.execute(tx);
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

  async #existing(tx: Tx, claims: IdempotencyClaim[]) {
    const rows = new Map<string, { request_hash: string; status_code: number | null; response: unknown }>();
    for (const claim of claims) {
      const row = await tx
        .selectFrom("platform_idempotency_keys")
        .select(["request_hash", "status_code", "response"])
        .where("scope", "=", claim.scope)
        .where("key", "=", claim.key)
        .executeTakeFirst();
      if (row) rows.set(`${claim.scope}\u0000${claim.key}`, row);
    }
    return rows;
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

import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock, systemClock } from "../../src/platform/clock.ts";
import type { Db } from "../../src/platform/db/database.ts";
import { migrate } from "../../src/platform/db/migrations.ts";
import { AppError } from "../../src/platform/errors.ts";
import {
  type IdempotencyClaim,
  IdempotencyStore,
  InFlightKeys,
  requestHash,
  throwIfMismatch,
} from "../../src/platform/idempotency.ts";
import { databaseBackends, type FreshDatabase, platformMigrations } from "./databases.ts";

const RETENTION_S = 86_400;
let keySequence = 0;

/** A key no other test in this file uses, so tests sharing one database do not interfere. */
function uniqueKey(label: string): string {
  keySequence += 1;
  return `key-${label}-${keySequence}`;
}

function claimOf(scope: string, key: string, request: unknown): IdempotencyClaim {
  return { scope, key, requestHash: requestHash(request) };
}

describe.each(databaseBackends)("IdempotencyStore on $name", (backend) => {
  let fresh: FreshDatabase;
  let db: Db;
  const store = new IdempotencyStore({ clock: systemClock, retentionS: RETENTION_S });

  beforeAll(async () => {
    fresh = await backend.open();
    db = fresh.database.db;
    await migrate(fresh.database, platformMigrations());
  });

  afterAll(async () => {
    await fresh?.dispose();
  });

  /** Claims and, when the claim is fresh, completes it with `response`, all in one transaction. */
  async function execute(claim: IdempotencyClaim, response: { statusCode: number; body: unknown }) {
    return db.transaction().execute(async (tx) => {
      const outcome = await store.claim(tx, claim);
      if (outcome.kind === "claimed") {
        await store.completeMany(tx, [{ scope: claim.scope, key: claim.key, response }]);
      }
      return outcome;
    });
  }

  it("replays the stored response when the same key comes again with the same request", async () => {
    const request = { fromAccountId: "acc_1", amount: { amount: "125.50", currency: "EUR" } };
    const claim = claimOf("customer:cus_1:transfer", uniqueKey("replay"), request);
    const response = { statusCode: 201, body: { id: "trf_1", status: "completed", amount: "125.50" } };

    expect(await execute(claim, response)).toEqual({ kind: "claimed" });
    const again = await execute(claim, { statusCode: 500, body: { never: "stored" } });
    expect(again).toEqual({ kind: "replay", response });

    const rows = await db
      .selectFrom("platform_idempotency_keys")
      .selectAll()
      .where("key", "=", claim.key)
      .execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.status_code).toBe(201);
  });

  it("replays regardless of the order of the request's fields", async () => {
    const key = uniqueKey("order");
    const response = { statusCode: 201, body: { id: "trf_2" } };
    await execute(claimOf("scope-a", key, { a: 1, b: { c: 2, d: 3 } }), response);
    expect(await execute(claimOf("scope-a", key, { b: { d: 3, c: 2 }, a: 1 }), response)).toEqual({
      kind: "replay",
      response,
    });
  });

  it("reports a mismatch when the same key comes with a different request", async () => {
    const key = uniqueKey("mismatch");
    const response = { statusCode: 201, body: { id: "trf_3" } };
    await execute(claimOf("scope-a", key, { amount: "1.00" }), response);
    const outcome = await execute(claimOf("scope-a", key, { amount: "2.00" }), response);
    expect(outcome).toEqual({ kind: "mismatch" });

    let thrown: unknown;
    try {
      throwIfMismatch(outcome);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(AppError);
    expect((thrown as AppError).slug).toBe("idempotency-key-reused");
    expect((thrown as AppError).status).toBe(422);
    expect(() => throwIfMismatch({ kind: "claimed" })).not.toThrow();
    expect(() => throwIfMismatch({ kind: "replay", response })).not.toThrow();
  });

  it("keeps keys of different scopes apart", async () => {
    const key = uniqueKey("scopes");
    const response = { statusCode: 201, body: { id: "trf_4" } };
    expect(await execute(claimOf("customer:cus_a", key, { x: 1 }), response)).toEqual({ kind: "claimed" });
    expect(await execute(claimOf("customer:cus_b", key, { x: 2 }), response)).toEqual({ kind: "claimed" });
  });

  it("forgets a claim whose transaction rolled back, so the key can be claimed again", async () => {
    const claim = claimOf("scope-a", uniqueKey("rollback"), { amount: "1.00" });
    await expect(
      db.transaction().execute(async (tx) => {
        expect(await store.claim(tx, claim)).toEqual({ kind: "claimed" });
        throw new Error("the command failed");
      }),
    ).rejects.toThrow("the command failed");
    expect(await execute(claim, { statusCode: 201, body: {} })).toEqual({ kind: "claimed" });
  });

  it("answers claimMany per claim, in the caller's order, across calls", async () => {
    const [a, b, c] = [uniqueKey("many-a"), uniqueKey("many-b"), uniqueKey("many-c")];
    const responses = {
      a: { statusCode: 201, body: { id: "trf_a" } },
      b: { statusCode: 422, body: { problem: "insufficient-funds" } },
    };
    const first = await db.transaction().execute(async (tx) => {
      const outcomes = await store.claimMany(tx, [claimOf("s", b, { n: "b" }), claimOf("s", a, { n: "a" })]);
      await store.completeMany(tx, [
        { scope: "s", key: a, response: responses.a },
        { scope: "s", key: b, response: responses.b },
      ]);
      return outcomes;
    });
    expect(first).toEqual([{ kind: "claimed" }, { kind: "claimed" }]);

    const second = await db.transaction().execute(async (tx) => {
      const outcomes = await store.claimMany(tx, [
        claimOf("s", c, { n: "c" }),
        claimOf("s", a, { n: "a" }),
        claimOf("s", b, { n: "not b" }),
        claimOf("other-scope", a, { n: "a" }),
      ]);
      await store.completeMany(tx, [
        { scope: "s", key: c, response: { statusCode: 201, body: { id: "trf_c" } } },
        { scope: "other-scope", key: a, response: { statusCode: 201, body: { id: "trf_other" } } },
      ]);
      return outcomes;
    });
    expect(second).toEqual([
      { kind: "claimed" },
      { kind: "replay", response: responses.a },
      { kind: "mismatch" },
      { kind: "claimed" },
    ]);
    expect(await db.transaction().execute((tx) => store.claimMany(tx, []))).toEqual([]);
  });

  it("lets an expired key be claimed again, and only once it has expired", async () => {
    const clock = new ManualClock();
    const expiring = new IdempotencyStore({ clock, retentionS: RETENTION_S });
    const scope = `expiry-${uniqueKey("scope")}`;
    const key = uniqueKey("expiry");
    const response = { statusCode: 201, body: { id: "trf_old" } };
    const run = (request: unknown) =>
      db.transaction().execute(async (tx) => {
        const outcome = await expiring.claim(tx, claimOf(scope, key, request));
        if (outcome.kind === "claimed") await expiring.completeMany(tx, [{ scope, key, response }]);
        return outcome;
      });

    expect(await run({ amount: "1.00" })).toEqual({ kind: "claimed" });
    clock.advance(RETENTION_S * 1000);
    // Exactly at the expiry instant the key still holds.
    expect(await run({ amount: "1.00" })).toEqual({ kind: "replay", response });
    expect(await run({ amount: "9.99" })).toEqual({ kind: "mismatch" });
    clock.advance(1);
    expect(await run({ amount: "9.99" })).toEqual({ kind: "claimed" });

    const row = await db
      .selectFrom("platform_idempotency_keys")
      .selectAll()
      .where("scope", "=", scope)
      .where("key", "=", key)
      .executeTakeFirstOrThrow();
    expect(row.request_hash).toBe(requestHash({ amount: "9.99" }));
    expect(new Date(row.expires_at as string).getTime()).toBe(clock.now().getTime() + RETENTION_S * 1000);
    expect(await run({ amount: "9.99" })).toEqual({ kind: "replay", response });
  });

  it("prunes expired keys and keeps live ones", async () => {
    const clock = new ManualClock(new Date("2020-01-01T00:00:00Z"));
    const old = new IdempotencyStore({ clock, retentionS: RETENTION_S });
    const scope = `prune-${uniqueKey("scope")}`;
    await db.transaction().execute(async (tx) => {
      await old.claimMany(tx, [claimOf(scope, "old-key-1", {}), claimOf(scope, "old-key-2", {})]);
      await old.completeMany(tx, [
        { scope, key: "old-key-1", response: { statusCode: 201, body: {} } },
        { scope, key: "old-key-2", response: { statusCode: 201, body: {} } },
      ]);
    });
    clock.advance(RETENTION_S * 1000 - 1);
    expect(await old.prune(db)).toBe(0);
    clock.advance(2);
    expect(await old.prune(db, 1)).toBe(1);
    expect(await old.prune(db)).toBe(1);
    const left = await db
      .selectFrom("platform_idempotency_keys")
      .select("key")
      .where("scope", "=", scope)
      .execute();
    expect(left).toEqual([]);
  });
});

describe("InFlightKeys", () => {
  it("refuses a second acquire of the same key with 409 idempotency-key-in-flight until released", () => {
    const keys = new InFlightKeys();
    const release = keys.acquire("customer:cus_1", "key-0001");
    let thrown: unknown;
    try {
      keys.acquire("customer:cus_1", "key-0001");
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(AppError);
    expect((thrown as AppError).slug).toBe("idempotency-key-in-flight");
    expect((thrown as AppError).status).toBe(409);

    release();
    const releaseAgain = keys.acquire("customer:cus_1", "key-0001");
    releaseAgain();
  });

  it("keeps scopes apart", () => {
    const keys = new InFlightKeys();
    const first = keys.acquire("customer:cus_1", "key-0001");
    const second = keys.acquire("customer:cus_2", "key-0001");
    const third = keys.acquire("customer:cus_1", "key-0002");
    expect(() => keys.acquire("customer:cus_2", "key-0001")).toThrow(AppError);
    for (const release of [first, second, third]) release();
  });

  it("does not confuse scope and key that concatenate to the same text", () => {
    const keys = new InFlightKeys();
    const release = keys.acquire("ab", "c-key-0001");
    expect(() => keys.acquire("a", "bc-key-0001")).not.toThrow();
    release();
  });
});

/** A copy of `value` with the keys of every object inserted in an order decided by `seed`. */
function shuffled(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((item) => shuffled(item, seed));
  if (value === null || typeof value !== "object") return value;
  const entries = Object.entries(value as Record<string, unknown>);
  const weight = (key: string) => {
    let hash = seed;
    for (const char of key) hash = (Math.imul(hash, 31) + char.charCodeAt(0)) | 0;
    return hash;
  };
  entries.sort(([left], [right]) => weight(left) - weight(right));
  const copy: Record<string, unknown> = {};
  for (const [key, item] of entries) {
    Object.defineProperty(copy, key, {
      value: shuffled(item, seed),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return copy;
}

describe("requestHash", () => {
  it("does not depend on the order of keys, at any depth", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.integer(), (value, seed) => {
        expect(requestHash(shuffled(value, seed))).toBe(requestHash(value));
      }),
      { numRuns: 300 },
    );
  });

  it("changes when a field's value changes", () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), {
          maxKeys: 5,
        }),
        fc.string({ minLength: 1, maxLength: 8 }),
        fc.string(),
        fc.string(),
        (rest, field, before, after) => {
          fc.pre(before !== after);
          const left = { ...rest, [field]: before };
          const right = { ...rest, [field]: after };
          expect(requestHash(left)).not.toBe(requestHash(right));
        },
      ),
    );
  });

  it("tells an amount apart from the same digits as a number and from array order", () => {
    expect(requestHash({ amount: "1.00" })).not.toBe(requestHash({ amount: 1 }));
    expect(requestHash({ ids: ["a", "b"] })).not.toBe(requestHash({ ids: ["b", "a"] }));
    expect(requestHash({ a: 1, b: 2 })).toMatch(/^[0-9a-f]{64}$/);
  });
});

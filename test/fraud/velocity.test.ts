import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp } from "../../src/app.ts";
import { MemoryCache } from "../../src/platform/cache/cache.ts";
import { ManualClock } from "../../src/platform/clock.ts";
import { createTestApp, type TestApp, testConfig, usingPostgres } from "../helpers/test-app.ts";
import { fakeId, riskInput } from "./fraud.helpers.ts";

/**
 * Velocity counters: every attempt is counted once, in the shared cache, so that on several nodes
 * (sharing Redis and PostgreSQL, as in production) each node sees every node's attempts.
 */

/** Half a minute into every bucket: the previous buckets are empty, so the counts are exact. */
const clock = new ManualClock(new Date("2031-08-08T10:00:30Z"));
let app: TestApp;

beforeAll(async () => {
  app = await createTestApp({ clock });
});

afterAll(async () => {
  await app?.destroy();
});

async function features(node: Pick<TestApp, "services">, decisionId: string) {
  const decision = await node.services.fraud.getDecision(decisionId);
  if (!decision) throw new Error(`no decision ${decisionId}`);
  return decision.features;
}

describe("velocity on one node", () => {
  it("counts attempts and sums amounts per customer and currency, this attempt included", async () => {
    const customerId = fakeId("cus");
    const other = fakeId("cus");
    const pay = (who: string, amountMinor: bigint, currency = "EUR") =>
      app.services.fraud.assessPayment(
        riskInput(who, { toIban: "NL91ABNA0417164300", amountMinor, currency }),
      );
    await pay(customerId, 1_000n);
    await pay(customerId, 2_000n);
    await pay(other, 50_000n);
    await pay(customerId, 700n, "USD");
    const last = await pay(customerId, 3_000n);
    expect(await features(app, last.id)).toMatchObject({
      velocity_count_10m: 4,
      velocity_count_1h: 4,
      velocity_count_24h: 4,
      velocity_sum_10m_minor: 6_000,
      velocity_sum_24h_minor: 6_000,
    });
  });

  it("forgets attempts once they leave the window, and weighs the previous bucket by what is left of it", async () => {
    const customerId = fakeId("cus");
    const pay = () =>
      app.services.fraud.assessPayment(
        riskInput(customerId, { toIban: "NL91ABNA0417164300", amountMinor: 100n }),
      );
    for (let i = 0; i < 4; i++) await pay();
    // 10:15:30: the bucket of 10:00 is the previous one, 45% of it still inside the window (4 × 0.45 ≈ 2).
    clock.advance(15 * 60_000);
    const later = await pay();
    expect(await features(app, later.id)).toMatchObject({
      velocity_count_10m: 1 + 2,
      velocity_count_1h: 5,
      velocity_count_24h: 5,
    });
    clock.advance(2 * 86_400_000);
    const muchLater = await pay();
    expect(await features(app, muchLater.id)).toMatchObject({ velocity_count_10m: 1, velocity_count_24h: 1 });
  });
});

describe("velocity on two nodes", () => {
  // One embedded node has nothing to share: this needs PostgreSQL and Redis, as in production.
  const sharedServices = usingPostgres && Boolean(process.env.REDIS_URL);

  it.skipIf(!sharedServices)("counts every attempt once, whichever node decided it", async () => {
    const { url } = app.config.database;
    const { redisUrl } = app.config;
    if (!url || !redisUrl) throw new Error("needs DATABASE_URL and REDIS_URL");
    // The same database and cache prefix as node A; not started, so it relays no outbox rows.
    const nodeB = await buildApp({
      config: testConfig({
        DATABASE_URL: url,
        REDIS_URL: redisUrl,
        OMNICORE_CACHE_PREFIX: app.config.cachePrefix,
      }),
      clock,
    });
    try {
      const customerId = fakeId("cus");
      const attempts = Array.from({ length: 24 }, (_, index) => ({
        node: index % 2 === 0 ? app : nodeB,
        input: riskInput(customerId, { toIban: "NL91ABNA0417164300", amountMinor: 1_000n }),
      }));
      const decisions = await Promise.all(
        attempts.map(({ node, input }) => node.services.fraud.assessPayment(input)),
      );
      const counts = await Promise.all(
        decisions.map(async (decision) => (await features(app, decision.id)).velocity_count_10m as number),
      );
      // Each attempt saw its own increment: 1…24, none twice, none missing.
      expect([...counts].sort((a, b) => a - b)).toEqual(Array.from({ length: 24 }, (_, index) => index + 1));
      const next = await nodeB.services.fraud.assessPayment(
        riskInput(customerId, { toIban: "NL91ABNA0417164300", amountMinor: 1_000n }),
      );
      expect(await features(nodeB, next.id)).toMatchObject({
        velocity_count_10m: 25,
        velocity_sum_10m_minor: 25_000,
      });
    } finally {
      await nodeB.close();
    }
  });
});

describe("the cache's counters for sums", () => {
  it("adds amounts with a time-to-live and reads several keys at once", async () => {
    const cache = new MemoryCache({ nowMs: () => clock.now().getTime() });
    expect(await cache.incrementBy("sum", 1_500, 60)).toBe(1_500);
    expect(await cache.incrementBy("sum", 250, 60)).toBe(1_750);
    expect(await cache.increment("count", 60)).toBe(1);
    expect(await cache.getMany(["sum", "missing", "count"])).toEqual(["1750", undefined, "1"]);
    await expect(cache.incrementBy("sum", 0.5, 60)).rejects.toThrow(RangeError);
    clock.advance(61_000);
    expect(await cache.getMany(["sum", "count"])).toEqual([undefined, undefined]);
  });
});

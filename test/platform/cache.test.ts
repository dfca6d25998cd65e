import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cache, MemoryCache } from "../../src/platform/cache/cache.ts";
import { RedisCache } from "../../src/platform/cache/redis-cache.ts";
import { waitFor } from "./wait.ts";

/** One cache under test, plus how to let a 1-second time-to-live run out on it. */
interface CacheFixture {
  cache: Cache;
  /** Another instance with its own namespace, to show that namespaces do not leak. */
  openSibling(): Promise<{ cache: Cache; dispose(): Promise<void> }>;
  /** Lets a key set with a 1-second time-to-live expire, however this implementation keeps time. */
  letOneSecondPass(key: string): Promise<void>;
  dispose(): Promise<void>;
}

interface Implementation {
  name: string;
  create(): Promise<CacheFixture>;
}

const memory: Implementation = {
  name: "MemoryCache",
  async create() {
    let nowMs = Date.UTC(2026, 0, 1);
    const cache = new MemoryCache({ nowMs: () => nowMs });
    return {
      cache,
      async openSibling() {
        const sibling = new MemoryCache({ nowMs: () => nowMs });
        return { cache: sibling, dispose: () => sibling.close() };
      },
      async letOneSecondPass() {
        nowMs += 1_000;
      },
      dispose: () => cache.close(),
    };
  },
};

function redisImplementation(url: string): Implementation {
  const open = () => {
    const cache = new RedisCache({ url, prefix: `test_cache_${randomBytes(6).toString("hex")}:` });
    return {
      cache,
      async dispose() {
        await cache.clearPrefix();
        await cache.close();
      },
    };
  };
  return {
    name: "RedisCache",
    async create() {
      const { cache, dispose } = open();
      return {
        cache,
        openSibling: async () => open(),
        // Redis keeps its own time: poll until the key is gone, up to 30 times 100 ms.
        letOneSecondPass: (key) =>
          waitFor(async () => (await cache.get(key)) === undefined, 30, 100, `${key} expiry`),
        dispose,
      };
    },
  };
}

const implementations: Implementation[] = [memory];
if (process.env.REDIS_URL) implementations.push(redisImplementation(process.env.REDIS_URL));

describe.each(implementations)("$name", (implementation) => {
  let fixture: CacheFixture;
  let cache: Cache;
  let sequence = 0;
  const key = (label: string) => `${label}:${++sequence}`;

  beforeAll(async () => {
    fixture = await implementation.create();
    cache = fixture.cache;
  });
  afterAll(async () => {
    await fixture?.dispose();
  });

  it("answers ping", async () => {
    await expect(cache.ping()).resolves.toBeUndefined();
  });

  it("returns undefined for a key never set", async () => {
    expect(await cache.get(key("missing"))).toBeUndefined();
  });

  it("returns what was set, and the latest value after an overwrite", async () => {
    const name = key("set");
    await cache.set(name, "first", 60);
    expect(await cache.get(name)).toBe("first");
    await cache.set(name, "second", 60);
    expect(await cache.get(name)).toBe("second");
  });

  it("keeps values exactly, including empty and non-ASCII text", async () => {
    const values = ["", " ", "ünïcødé ✓", "line\nbreak", "x".repeat(10_000)];
    for (const value of values) {
      const name = key("exact");
      await cache.set(name, value, 60);
      expect(await cache.get(name)).toBe(value);
    }
  });

  it("forgets a deleted key, and deleting a missing key is harmless", async () => {
    const name = key("delete");
    await cache.set(name, "value", 60);
    await cache.delete(name);
    expect(await cache.get(name)).toBeUndefined();
    await expect(cache.delete(key("never-set"))).resolves.toBeUndefined();
  });

  it("expires a value once its time-to-live has passed", async () => {
    const name = key("ttl");
    await cache.set(name, "short-lived", 1);
    expect(await cache.get(name)).toBe("short-lived");
    await fixture.letOneSecondPass(name);
    expect(await cache.get(name)).toBeUndefined();
  });

  it("lets a set restart the time-to-live of a key", async () => {
    const name = key("reset");
    await cache.set(name, "short", 1);
    await cache.set(name, "long", 3_600);
    const marker = key("marker");
    await cache.set(marker, "short", 1);
    await fixture.letOneSecondPass(marker);
    expect(await cache.get(name)).toBe("long");
  });

  it("counts with increment, creating the counter at 1", async () => {
    const name = key("counter");
    expect(await cache.increment(name, 60)).toBe(1);
    expect(await cache.increment(name, 60)).toBe(2);
    expect(await cache.increment(name, 60)).toBe(3);
    expect(await cache.get(name)).toBe("3");
  });

  it("counts concurrent increments without losing any", async () => {
    const name = key("concurrent");
    const results = await Promise.all(Array.from({ length: 50 }, () => cache.increment(name, 60)));
    expect([...results].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, index) => index + 1));
  });

  it("expires a counter with the time-to-live it was created with, not extended by later increments", async () => {
    const name = key("window");
    expect(await cache.increment(name, 1)).toBe(1);
    expect(await cache.increment(name, 3_600)).toBe(2);
    await fixture.letOneSecondPass(name);
    expect(await cache.get(name)).toBeUndefined();
    // A new window starts from 1 again.
    expect(await cache.increment(name, 60)).toBe(1);
  });

  it("restarts a deleted counter at 1", async () => {
    const name = key("reset-counter");
    await cache.increment(name, 60);
    await cache.increment(name, 60);
    await cache.delete(name);
    expect(await cache.increment(name, 60)).toBe(1);
  });

  it("does not share keys with another instance's namespace", async () => {
    const sibling = await fixture.openSibling();
    try {
      const name = key("namespaced");
      await cache.set(name, "mine", 60);
      expect(await sibling.cache.get(name)).toBeUndefined();
      expect(await sibling.cache.increment(name, 60)).toBe(1);
      expect(await cache.get(name)).toBe("mine");
    } finally {
      await sibling.dispose();
    }
  });
});

describe("MemoryCache with an injected clock", () => {
  it("keeps a value until the last millisecond of its time-to-live", async () => {
    let nowMs = 1_000_000;
    const cache = new MemoryCache({ nowMs: () => nowMs });
    await cache.set("flag", "on", 2);
    nowMs += 1_999;
    expect(await cache.get("flag")).toBe("on");
    nowMs += 1;
    expect(await cache.get("flag")).toBeUndefined();
  });

  it("keeps a counter's window from its first increment", async () => {
    let nowMs = 0;
    const cache = new MemoryCache({ nowMs: () => nowMs });
    expect(await cache.increment("attempts", 10)).toBe(1);
    nowMs += 6_000;
    expect(await cache.increment("attempts", 10)).toBe(2);
    nowMs += 3_999;
    expect(await cache.increment("attempts", 10)).toBe(3);
    nowMs += 1;
    expect(await cache.get("attempts")).toBeUndefined();
    expect(await cache.increment("attempts", 10)).toBe(1);
  });

  it("is empty after close", async () => {
    const cache = new MemoryCache();
    await cache.set("a", "1", 60);
    await cache.close();
    expect(await cache.get("a")).toBeUndefined();
  });
});

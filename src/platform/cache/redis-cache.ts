import { Redis } from "ioredis";
import { type Cache, CacheUnavailableError } from "./cache.ts";

/** The production cache: Redis through ioredis, shared by every node. */
export class RedisCache implements Cache {
  readonly kind = "redis" as const;
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(options: { url: string; prefix: string }) {
    this.#prefix = options.prefix;
    this.#redis = new Redis(options.url, {
      lazyConnect: false,
      maxRetriesPerRequest: 2,
      enableOfflineQueue: true,
    });
    // Connection errors surface on the commands that fail and in /ready; an unhandled 'error'
    // event would otherwise crash the process during a Redis restart.
    this.#redis.on("error", () => undefined);
  }

  async get(key: string): Promise<string | undefined> {
    return unavailableOnFailure(async () => (await this.#redis.get(this.#prefix + key)) ?? undefined);
  }

  async set(key: string, value: string, ttlS: number): Promise<void> {
    await unavailableOnFailure(() =>
      this.#redis.set(this.#prefix + key, value, "EX", Math.max(1, Math.ceil(ttlS))),
    );
  }

  async delete(key: string): Promise<void> {
    await unavailableOnFailure(() => this.#redis.del(this.#prefix + key));
  }

  async increment(key: string, ttlS: number): Promise<number> {
    return this.incrementBy(key, 1, ttlS);
  }

  async incrementBy(key: string, amount: number, ttlS: number): Promise<number> {
    if (!Number.isSafeInteger(amount)) throw new RangeError("incrementBy takes a safe integer");
    const fullKey = this.#prefix + key;
    const [[, count]] = (await unavailableOnFailure(() =>
      this.#redis
        .multi()
        .incrby(fullKey, amount)
        .expire(fullKey, Math.max(1, Math.ceil(ttlS)), "NX")
        .exec(),
    )) as [[Error | null, number]];
    return count;
  }

  async getMany(keys: readonly string[]): Promise<Array<string | undefined>> {
    if (keys.length === 0) return [];
    const values = await unavailableOnFailure(() => this.#redis.mget(keys.map((key) => this.#prefix + key)));
    return values.map((value) => value ?? undefined);
  }

  async ping(): Promise<void> {
    await this.#redis.ping();
  }

  /** Removes every key under this cache's prefix; used by tests to leave Redis as they found it. */
  async clearPrefix(): Promise<void> {
    let cursor = "0";
    do {
      const [next, keys] = await this.#redis.scan(cursor, "MATCH", `${this.#prefix}*`, "COUNT", 500);
      cursor = next;
      if (keys.length > 0) await this.#redis.del(...keys);
    } while (cursor !== "0");
  }

  async close(): Promise<void> {
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }
}

/** A Redis failure is an outage of a dependency (503), not a bug in the request (500). */
async function unavailableOnFailure<T>(command: () => Promise<T>): Promise<T> {
  try {
    return await command();
  } catch (error) {
    throw new CacheUnavailableError(error);
  }
}

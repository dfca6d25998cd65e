import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from "@fastify/rate-limit";
import type { Cache } from "../../platform/cache/cache.ts";

const KEY_PREFIX = "rate-limit:";

/**
 * A store for @fastify/rate-limit over our `Cache`, so that with Redis every node counts against
 * the same limit. The window starts with a key's first request and ends when its counter expires
 * (Cache.increment sets the time-to-live only on creation). The cache does not say how much of
 * the window is left, so the whole window is reported: Retry-After may overstate, never understate.
 */
export function cacheRateLimitStore(cache: Cache): FastifyRateLimitStoreCtor {
  return class CacheRateLimitStore implements FastifyRateLimitStore {
    incr(
      key: string,
      callback: (error: Error | null, result?: { current: number; ttl: number }) => void,
      timeWindowMs: number,
    ): void {
      cache.increment(KEY_PREFIX + key, Math.max(1, Math.ceil(timeWindowMs / 1000))).then(
        (current) => callback(null, { current, ttl: timeWindowMs }),
        (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
      );
    }

    /** Routes are told apart by their `groupId`, which the plugin appends to the key. */
    child(): FastifyRateLimitStore {
      return this;
    }
  };
}

/**
 * A small cache and counter store: rate limits, deny-lists of revoked sessions, short-lived
 * flags. In memory by default (one node), Redis when `REDIS_URL` is set (shared by all nodes).
 * Keys are namespaced by the configured prefix inside each implementation.
 */
export interface Cache {
  readonly kind: "memory" | "redis";
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlS: number): Promise<void>;
  delete(key: string): Promise<void>;
  /** Increments a counter, creating it with the given time-to-live; returns the new value. */
  increment(key: string, ttlS: number): Promise<number>;
  /** Adds `amount` (an integer) to a counter, creating it with the given time-to-live; returns the new value. */
  incrementBy(key: string, amount: number, ttlS: number): Promise<number>;
  /** Reads several keys in one round trip; a missing key is undefined at its position. */
  getMany(keys: readonly string[]): Promise<Array<string | undefined>>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The shared cache did not answer: requests that need it fail closed, as 503. */
export class CacheUnavailableError extends Error {
  constructor(cause: unknown) {
    super("The cache is unavailable", { cause });
    this.name = "CacheUnavailableError";
  }
}

interface Entry {
  value: string;
  expiresAtMs: number;
}

/** Bounded so that a flood of distinct keys cannot exhaust the heap (architecture rule 11). */
const MEMORY_CACHE_ENTRIES_MAX = 1_000_000;

export class MemoryCache implements Cache {
  readonly kind = "memory" as const;
  readonly #entries = new Map<string, Entry>();
  readonly #now: () => number;

  constructor(options: { nowMs?: () => number } = {}) {
    this.#now = options.nowMs ?? Date.now;
  }

  async get(key: string): Promise<string | undefined> {
    return this.#live(key)?.value;
  }

  async set(key: string, value: string, ttlS: number): Promise<void> {
    this.#write(key, value, ttlS);
  }

  async delete(key: string): Promise<void> {
    this.#entries.delete(key);
  }

  async increment(key: string, ttlS: number): Promise<number> {
    return this.#add(key, 1, ttlS);
  }

  async incrementBy(key: string, amount: number, ttlS: number): Promise<number> {
    if (!Number.isSafeInteger(amount)) throw new RangeError("incrementBy takes a safe integer");
    return this.#add(key, amount, ttlS);
  }

  async getMany(keys: readonly string[]): Promise<Array<string | undefined>> {
    return keys.map((key) => this.#live(key)?.value);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.#entries.clear();
  }

  #add(key: string, amount: number, ttlS: number): number {
    // Read and write with no await in between: concurrent increments (parallel login attempts
    // against a rate limit) must each see the count the previous one left.
    const entry = this.#live(key);
    if (!entry) {
      this.#write(key, String(amount), ttlS);
      return amount;
    }
    const next = Number(entry.value) + amount;
    entry.value = String(next);
    return next;
  }

  #live(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry && entry.expiresAtMs <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  #write(key: string, value: string, ttlS: number): void {
    if (this.#entries.size >= MEMORY_CACHE_ENTRIES_MAX) this.#evictExpiredOrOldest();
    this.#entries.set(key, { value, expiresAtMs: this.#now() + ttlS * 1000 });
  }

  #evictExpiredOrOldest(): void {
    const now = this.#now();
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAtMs <= now) this.#entries.delete(key);
    }
    if (this.#entries.size >= MEMORY_CACHE_ENTRIES_MAX) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
  }
}

/**
 * Pluggable persistence. The SDK keeps everything it must not lose (the outbox, the synced state,
 * the sync cursor) as JSON values under a few keys, so an adapter only needs get / set / delete.
 * Implementations: MemoryStorage here, FileStorage in `@omnicore/sdk/node`, IndexedDbStorage in
 * `@omnicore/sdk/indexeddb`.
 */
export interface KeyValueStorage {
  get<T>(key: string): Promise<T | undefined>;
  /** Must be durable when the promise resolves: the outbox relies on it before it sends. */
  set<T>(key: string, value: T): Promise<void>;
  delete(key: string): Promise<void>;
}

export class MemoryStorage implements KeyValueStorage {
  readonly #values = new Map<string, string>();

  async get<T>(key: string): Promise<T | undefined> {
    const text = this.#values.get(key);
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }

  async set<T>(key: string, value: T): Promise<void> {
    // Stored as JSON so callers never share mutable objects with the store, as with a real one.
    this.#values.set(key, JSON.stringify(value));
  }

  async delete(key: string): Promise<void> {
    this.#values.delete(key);
  }
}

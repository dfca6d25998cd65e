import type { KeyValueStorage } from "./storage.ts";

/** One change-log entry, as GET /v1/sync items and /v1/events/stream events carry it. */
export interface SyncItem {
  /** The change-log seq, a decimal bigint (a string on the wire). */
  seq: number | string;
  kind: string;
  op: "upsert" | "remove";
  data: { id?: string; [field: string]: unknown };
}

/** What the client last learnt from the server, readable offline. */
export interface SyncedState {
  cursor: string | null;
  /**
   * The highest change-log seq the synced pages covered (the cursor is opaque, this is not): the
   * event stream resumes right after it. Null before the first item.
   */
  seq: string | null;
  /** The ETag the server gave for its answer to `cursor`, sent back as If-None-Match. */
  etag: string | null;
  /** kind → id → the entity's latest snapshot. */
  entities: Record<string, Record<string, unknown>>;
  syncedAtMs: number | null;
}

const STORAGE_KEY = "omnicore.state";
/** Stream entries kept in memory above the synced seq, to lay over sync pages that lag behind them. */
const LIVE_ITEMS_MAX = 1_000;

export function emptyState(): SyncedState {
  return { cursor: null, seq: null, etag: null, entities: {}, syncedAtMs: null };
}

/** The seq as a bigint; throws on anything that is not a non-negative integer. */
export function seqOf(value: number | string): bigint {
  if (typeof value === "number" ? !Number.isSafeInteger(value) || value < 0 : !/^\d{1,20}$/.test(value)) {
    throw new TypeError(`not a change-log seq: ${String(value)}`);
  }
  return BigInt(value);
}

/** The highest seq among `from` and the items, as a string (null when there is none). */
export function highestSeq(from: string | null, items: SyncItem[]): string | null {
  let highest = from === null ? undefined : BigInt(from);
  for (const item of items) {
    const seq = seqOf(item.seq);
    if (highest === undefined || seq > highest) highest = seq;
  }
  return highest === undefined ? null : highest.toString();
}

/** Applies changes in order; pure, so a page is applied to a copy and stored in one write. */
export function applyItems(state: SyncedState, items: SyncItem[]): SyncedState {
  const entities: Record<string, Record<string, unknown>> = {};
  for (const [kind, byId] of Object.entries(state.entities)) entities[kind] = { ...byId };
  for (const item of items) {
    const id = item.data.id;
    if (typeof id !== "string") continue;
    const byId = entities[item.kind] ?? {};
    entities[item.kind] = byId;
    if (item.op === "remove") delete byId[id];
    else byId[id] = item.data;
  }
  return { ...state, entities };
}

/**
 * The synced state with its storage; reads never touch the network. Every write goes through one
 * lock, computed from the latest state, so the sync engine and the stream follower never undo each
 * other's writes.
 */
export class OfflineState {
  readonly #storage: KeyValueStorage;
  #state: SyncedState = emptyState();
  #lock: Promise<unknown> = Promise.resolve();
  /** Stream entries newer than the synced seq; re-applied over each sync page that does not reach them. */
  #live: SyncItem[] = [];

  constructor(storage: KeyValueStorage) {
    this.#storage = storage;
  }

  async load(): Promise<void> {
    const stored = await this.#storage.get<Partial<SyncedState>>(STORAGE_KEY);
    // States stored by an older SDK lack `seq` and `etag`.
    this.#state = stored ? { ...emptyState(), ...stored } : emptyState();
  }

  get snapshot(): SyncedState {
    return this.#state;
  }

  list<T = Record<string, unknown>>(kind: string): T[] {
    return Object.values(this.#state.entities[kind] ?? {}) as T[];
  }

  get<T = Record<string, unknown>>(kind: string, id: string): T | undefined {
    return this.#state.entities[kind]?.[id] as T | undefined;
  }

  /** Replaces the whole state in one write. */
  replace(state: SyncedState): Promise<void> {
    return this.#update(() => state);
  }

  /**
   * Stores what a sync page produced (entities, cursor, seq and ETag in one write). Stream entries
   * newer than its seq are applied on top, so a page that lags behind the stream never shows an
   * older balance; the ones it covers are forgotten.
   */
  commitSynced(next: SyncedState | ((current: SyncedState) => SyncedState)): Promise<void> {
    return this.#update((current) => {
      const synced = typeof next === "function" ? next(current) : next;
      if (synced.seq !== null) {
        const floor = BigInt(synced.seq);
        this.#live = this.#live.filter((item) => seqOf(item.seq) > floor);
      }
      return this.#live.length > 0 ? applyItems(synced, this.#live) : synced;
    });
  }

  /** Applies stream entries (one write); the sync cursor does not move, the next sync still covers them. */
  applyLive(items: SyncItem[]): Promise<void> {
    return this.#update((current) => {
      const floor = current.seq === null ? undefined : BigInt(current.seq);
      // An entry the synced state already covers is older than what the state holds.
      const fresh = items.filter((item) => floor === undefined || seqOf(item.seq) > floor);
      this.#live.push(...fresh);
      if (this.#live.length > LIVE_ITEMS_MAX) this.#live.splice(0, this.#live.length - LIVE_ITEMS_MAX);
      return fresh.length > 0 ? applyItems(current, fresh) : current;
    });
  }

  #update(change: (current: SyncedState) => SyncedState): Promise<void> {
    const run = this.#lock.then(async () => {
      const next = change(this.#state);
      if (next === this.#state) return;
      await this.#storage.set(STORAGE_KEY, next);
      this.#state = next;
    });
    this.#lock = run.catch(() => undefined);
    return run;
  }
}

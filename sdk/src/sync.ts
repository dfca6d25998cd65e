import { ApiProblemError, isProblem, NetworkError, type ProblemDetails, problemSlug } from "./errors.ts";
import {
  applyItems,
  emptyState,
  highestSeq,
  type OfflineState,
  type SyncedState,
  type SyncItem,
} from "./offline-state.ts";
import type { Outbox, ProcessedCommand } from "./outbox.ts";

/** The body of GET /v1/sync. */
export interface SyncPage {
  /** The items are the current state (the answer to a request without a cursor), not changes. */
  snapshot: boolean;
  items: SyncItem[];
  /** Opaque; sent back as `cursor`. */
  nextCursor: string;
  hasMore: boolean;
  processedCommands: ProcessedCommand[];
}

export interface SyncResult {
  pages: number;
  items: number;
  /** The stored cursor was expired (or malformed) and the client started again from a snapshot. */
  resynced: boolean;
  /** The server answered 304 to the stored ETag: nothing changed, nothing was written. */
  notModified: boolean;
}

/** The server's one answer for "this cursor cannot be served, sync again without one". */
export function isResyncProblem(status: number, problem: ProblemDetails | undefined): boolean {
  return status === 410 && problemSlug(problem) === "sync-cursor-expired";
}

function isSyncPage(body: unknown): body is SyncPage {
  const page = body as SyncPage | undefined;
  return (
    typeof page === "object" &&
    page !== null &&
    Array.isArray(page.items) &&
    typeof page.nextCursor === "string" &&
    typeof page.hasMore === "boolean"
  );
}

export interface SyncEngineOptions {
  baseUrl: string;
  send: (request: Request) => Promise<Response>;
  state: OfflineState;
  outbox: Outbox;
  pageLimit: number;
  /** Upper bound on pages in one sync call (architecture rule 11). */
  pagesMax: number;
  now: () => number;
  onResync: () => void;
}

/**
 * Delta sync: pulls pages from the stored cursor and stores each page with its cursor, seq and
 * ETag in one write. The ETag of the answer for the stored cursor goes back as If-None-Match; a
 * 304 ends the sync without a write.
 */
export class SyncEngine {
  readonly #options: SyncEngineOptions;
  #running: Promise<SyncResult> | undefined;

  constructor(options: SyncEngineOptions) {
    this.#options = options;
  }

  sync(): Promise<SyncResult> {
    if (!this.#running) {
      this.#running = this.#run().finally(() => {
        this.#running = undefined;
      });
    }
    return this.#running;
  }

  async #run(): Promise<SyncResult> {
    const { state, outbox, pagesMax } = this.#options;
    /** During a resync the new state is built aside; the old one stays readable until it is complete. */
    let rebuilding: SyncedState | undefined;
    let items = 0;
    for (let pages = 1; pages <= pagesMax; pages++) {
      const base = rebuilding ?? state.snapshot;
      const cursor = base.cursor;
      const response = await this.#options.send(this.#request(cursor, cursor === null ? null : base.etag));
      const resynced = rebuilding !== undefined;
      if (response.status === 304) return { pages, items, resynced, notModified: true };
      const body: unknown = await response.json().catch(() => undefined);
      const problem = isProblem(body) ? body : undefined;
      if (isResyncProblem(response.status, problem) && cursor !== null) {
        rebuilding = emptyState();
        this.#options.onResync();
        continue;
      }
      if (!response.ok)
        throw new ApiProblemError(problem ?? { type: "about:blank", status: response.status });
      if (!isSyncPage(body))
        throw new NetworkError("GET /v1/sync answered something that is not a sync page");
      const page = body;
      items += page.items.length;
      const etag = response.headers.get("etag");
      const next = (from: SyncedState): SyncedState => {
        // A snapshot is the whole state: it replaces what was there rather than adding to it.
        const start = page.snapshot ? emptyState() : from;
        return {
          ...applyItems(start, page.items),
          cursor: page.nextCursor,
          seq: highestSeq(start.seq, page.items),
          // Only an answer that left the cursor where it was can be asked again with the same cursor.
          etag: !page.hasMore && page.nextCursor === cursor ? etag : null,
          syncedAtMs: page.hasMore ? from.syncedAtMs : this.#options.now(),
        };
      };
      if (rebuilding) {
        rebuilding = next(rebuilding);
        if (!page.hasMore || pages === pagesMax) await state.commitSynced(rebuilding);
      } else {
        await state.commitSynced(next);
      }
      await outbox.applyProcessed(page.processedCommands ?? []);
      if (!page.hasMore) return { pages, items, resynced, notModified: false };
    }
    return { pages: pagesMax, items, resynced: rebuilding !== undefined, notModified: false };
  }

  #request(cursor: string | null, etag: string | null): Request {
    const url = new URL("/v1/sync", this.#options.baseUrl);
    if (cursor) url.searchParams.set("cursor", cursor);
    url.searchParams.set("limit", String(this.#options.pageLimit));
    const headers = new Headers();
    if (etag) headers.set("if-none-match", etag);
    return new Request(url, { method: "GET", headers });
  }
}

import { ApiProblemError, isProblem, NetworkError, problemSlug, SessionEndedError } from "./errors.ts";
import { type OfflineState, type SyncItem, seqOf } from "./offline-state.ts";
import { backoffDelayMs, DEFAULT_RETRY_POLICY, type Scheduler } from "./retry.ts";
import { DEFAULT_SSE_LIMITS, type SseEvent, type SseLimits, SseParser } from "./sse.ts";
import type { TokenManager } from "./tokens.ts";

/** What the follower is doing, for the app's connection indicator. */
export type StreamStatus =
  | { status: "open"; lastSeq: string | null }
  | { status: "reconnecting"; attempt: number; delayMs: number; error: unknown }
  | { status: "resyncing" }
  | { status: "closed"; reason: "closed" | "session-ended" | "failed"; error?: unknown };

export interface FollowOptions {
  /** Resume after this seq; default: the synced state's seq (so nothing since the last sync is missed), else now. */
  after?: string;
  /** The first reconnect waits up to this (full jitter), doubling per failure; the server's `retry:` replaces it. Default 3 s. */
  reconnectBaseDelayMs?: number;
  /** Default 30 s. */
  reconnectMaxDelayMs?: number;
  /** Consecutive failed connections (none delivered an entry) before the follower gives up. Default 100. */
  failuresMax?: number;
  /** No byte (not even a heartbeat) for this long counts as a cut. Default 45 s (three server heartbeats). */
  idleTimeoutMs?: number;
  limits?: Partial<SseLimits>;
}

export interface StreamFollowerOptions {
  baseUrl: string;
  fetch: typeof fetch;
  tokens: TokenManager;
  scheduler: Scheduler;
  state: OfflineState;
  /** A full sync, run after a 410; the follower then resumes from the state it leaves. */
  resync: () => Promise<unknown>;
  onChange: (item: SyncItem) => void;
  onStatus: (status: StreamStatus) => void;
  follow: FollowOptions;
}

/** The running follower that `client.follow()` returns. */
export interface StreamHandle {
  /** The seq of the last entry applied and emitted (null before the first). */
  readonly lastSeq: string | null;
  readonly stats: Readonly<StreamStats>;
  /** Resolves once the follower has stopped (closed, session ended, or given up). */
  readonly done: Promise<void>;
  /** Stops following; when the promise resolves no further entry is applied or emitted. */
  close(): Promise<void>;
}

export interface StreamStats {
  /** Connections answered 200. */
  connections: number;
  /** Entries at or below the last seq seen, dropped (a resumed stream that repeated itself). */
  duplicatesDropped: number;
  /** Events whose data was not a change-log entry, skipped (the next sync covers them). */
  malformedSkipped: number;
  resyncs: number;
}

const RESYNCS_IN_A_ROW_MAX = 2;

/** The server refused in a way another attempt cannot fix (400, 403, 404, a 410 of another kind). */
export class StreamRefusedError extends ApiProblemError {}

/**
 * Follows GET /v1/events/stream with fetch (EventSource cannot send an Authorization header):
 * bearer token from the token manager (refreshed once after a 401), `Last-Event-ID` = the last seq
 * seen, reconnects after a cut with backoff and full jitter through the scheduler, drops entries
 * at or below the last seq seen, and on 410 `sync-cursor-expired` runs a full sync and resumes
 * from the state it leaves. Entries are applied to the offline state (one write per network chunk,
 * awaited before reading on, so nothing piles up) without moving the sync cursor, then emitted.
 */
export class StreamFollower implements StreamHandle {
  readonly #options: StreamFollowerOptions;
  readonly #limits: SseLimits;
  readonly #stop = new AbortController();
  readonly stats: StreamStats = { connections: 0, duplicatesDropped: 0, malformedSkipped: 0, resyncs: 0 };
  readonly done: Promise<void>;
  #lastSeen: bigint | undefined;
  /** Connect without Last-Event-ID (start at the server's head): nothing synced yet to resume after. */
  #fromHead: boolean;
  #baseDelayMs: number;
  #progressed = false;
  #opened = false;

  constructor(options: StreamFollowerOptions) {
    this.#options = options;
    this.#limits = { ...DEFAULT_SSE_LIMITS, ...options.follow.limits };
    this.#baseDelayMs = options.follow.reconnectBaseDelayMs ?? 3_000;
    const after = options.follow.after ?? options.state.snapshot.seq ?? undefined;
    this.#lastSeen = after === undefined ? undefined : seqOf(after);
    this.#fromHead = after === undefined;
    this.done = this.#loop();
  }

  get lastSeq(): string | null {
    return this.#lastSeen?.toString() ?? null;
  }

  async close(): Promise<void> {
    this.#stop.abort();
    await this.done;
  }

  get #closed(): boolean {
    return this.#stop.signal.aborted;
  }

  async #loop(): Promise<void> {
    const failuresMax = this.#options.follow.failuresMax ?? 100;
    let failures = 0;
    let resyncsInARow = 0;
    let end: StreamStatus = { status: "closed", reason: "closed" };
    try {
      while (!this.#closed) {
        let outcome: "ended" | "resync";
        try {
          outcome = await this.#connect();
        } catch (error) {
          if (this.#closed) break;
          if (error instanceof SessionEndedError) {
            end = { status: "closed", reason: "session-ended", error };
            break;
          }
          if (error instanceof StreamRefusedError) {
            end = { status: "closed", reason: "failed", error };
            break;
          }
          failures = this.#progressed ? 1 : failures + 1;
          if (failures > failuresMax) {
            end = { status: "closed", reason: "failed", error };
            break;
          }
          await this.#pause(failures - 1, error);
          continue;
        }
        if (this.#opened) resyncsInARow = 0;
        if (outcome === "ended") {
          // The server ended the stream (its bounded lifetime): come back after its retry delay.
          failures = 0;
          await this.#pause(0, undefined);
          continue;
        }
        if (++resyncsInARow > RESYNCS_IN_A_ROW_MAX) {
          end = { status: "closed", reason: "failed", error: new Error("the stream kept answering 410") };
          break;
        }
        this.#options.onStatus({ status: "resyncing" });
        try {
          await this.#options.resync();
          this.stats.resyncs++;
          this.#resumeFromState();
        } catch (error) {
          if (error instanceof SessionEndedError) {
            end = { status: "closed", reason: "session-ended", error };
            break;
          }
          resyncsInARow--;
          failures++;
          if (failures > failuresMax) {
            end = { status: "closed", reason: "failed", error };
            break;
          }
          await this.#pause(failures - 1, error);
        }
      }
    } finally {
      this.#stop.abort();
      this.#options.onStatus(end);
    }
  }

  /** After a resync: resume after the new state's seq (never below what was already seen). */
  #resumeFromState(): void {
    const seq = this.#options.state.snapshot.seq;
    if (seq === null) {
      this.#fromHead = true;
      return;
    }
    const synced = seqOf(seq);
    if (this.#lastSeen === undefined || synced > this.#lastSeen) this.#lastSeen = synced;
    this.#fromHead = false;
  }

  async #pause(attempt: number, error: unknown): Promise<void> {
    if (this.#closed) return;
    const maxDelayMs = this.#options.follow.reconnectMaxDelayMs ?? 30_000;
    const policy = {
      ...DEFAULT_RETRY_POLICY,
      baseDelayMs: Math.min(this.#baseDelayMs, maxDelayMs),
      maxDelayMs,
    };
    const delayMs = backoffDelayMs(policy, attempt, this.#options.scheduler.random);
    this.#options.onStatus({ status: "reconnecting", attempt: attempt + 1, delayMs, error });
    // A scheduler may ignore the signal: close() must not wait for its sleep.
    let wake: () => void = () => undefined;
    const stopped = new Promise<void>((resolve) => {
      wake = resolve;
      this.#stop.signal.addEventListener("abort", wake, { once: true });
    });
    try {
      await Promise.race([this.#options.scheduler.sleep(delayMs, this.#stop.signal), stopped]);
    } finally {
      this.#stop.signal.removeEventListener("abort", wake);
    }
  }

  /** One connection: resolves "ended" when the server ends it, "resync" on 410; throws on a cut. */
  async #connect(): Promise<"ended" | "resync"> {
    this.#progressed = false;
    this.#opened = false;
    const connection = new AbortController();
    const abort = () => connection.abort();
    this.#stop.signal.addEventListener("abort", abort, { once: true });
    const idleTimeoutMs = this.#options.follow.idleTimeoutMs ?? 45_000;
    let idle: ReturnType<typeof setTimeout> | undefined;
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(abort, idleTimeoutMs);
    };
    try {
      touch();
      const response = await this.#open(connection.signal);
      if (response.status === 410) {
        const body: unknown = await response.json().catch(() => undefined);
        const problem = isProblem(body) ? body : { type: "about:blank", status: 410 };
        if (problemSlug(problem) === "sync-cursor-expired") return "resync";
        throw new StreamRefusedError(problem);
      }
      if (!response.ok) {
        const body: unknown = await response.json().catch(() => undefined);
        const problem = isProblem(body) ? body : { type: "about:blank", status: response.status };
        // Too many streams (429), a 401 even with a fresh token, the server or a gateway failing: try again later.
        if ([401, 408, 429].includes(response.status) || response.status >= 500) {
          throw new NetworkError(`the event stream answered ${response.status}`, {
            cause: new ApiProblemError(problem),
          });
        }
        throw new StreamRefusedError(problem);
      }
      if (!response.body || !response.headers.get("content-type")?.startsWith("text/event-stream")) {
        await response.body?.cancel().catch(() => undefined);
        throw new NetworkError("the event stream answered something that is not text/event-stream");
      }
      this.stats.connections++;
      this.#opened = true;
      this.#options.onStatus({ status: "open", lastSeq: this.lastSeq });
      return await this.#read(response.body, touch);
    } catch (error) {
      if (this.#closed) return "ended";
      if (error instanceof Error && error.name === "AbortError") {
        throw new NetworkError("the event stream went quiet", { cause: error });
      }
      throw error;
    } finally {
      clearTimeout(idle);
      this.#stop.signal.removeEventListener("abort", abort);
      connection.abort();
    }
  }

  async #open(signal: AbortSignal): Promise<Response> {
    const { tokens } = this.#options;
    const token = await tokens.accessToken();
    const response = await this.#request(token, signal);
    if (response.status !== 401) return response;
    // A 401 means the token was refused: refresh once (single flight with every other request).
    await response.body?.cancel().catch(() => undefined);
    return this.#request(await tokens.afterRejection(token), signal);
  }

  async #request(token: string, signal: AbortSignal): Promise<Response> {
    const headers = new Headers({
      authorization: `Bearer ${token}`,
      accept: "text/event-stream",
      "cache-control": "no-cache",
    });
    if (!this.#fromHead && this.#lastSeen !== undefined)
      headers.set("last-event-id", this.#lastSeen.toString());
    try {
      return await this.#options.fetch(new URL("/v1/events/stream", this.#options.baseUrl), {
        method: "GET",
        headers,
        signal,
      });
    } catch (error) {
      if (this.#closed || (error as Error).name === "AbortError") throw error;
      throw new NetworkError(`GET /v1/events/stream failed: ${(error as Error).message}`, { cause: error });
    }
  }

  async #read(body: ReadableStream<Uint8Array>, touch: () => void): Promise<"ended"> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    const parser = new SseParser(this.#limits);
    try {
      for (;;) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (error) {
          if (this.#closed) return "ended";
          throw new NetworkError(`the event stream was cut: ${(error as Error).message}`, { cause: error });
        }
        if (chunk.done) return "ended";
        touch();
        const events = parser.feed(decoder.decode(chunk.value, { stream: true }));
        if (parser.retryMs !== undefined) this.#baseDelayMs = parser.retryMs;
        await this.#deliver(events);
        if (this.#closed) return "ended";
      }
    } finally {
      reader.cancel().catch(() => undefined);
    }
  }

  /** Applies the new entries of one chunk in one write, then emits them; the last seq moves only once stored. */
  async #deliver(events: SseEvent[]): Promise<void> {
    let highest = this.#lastSeen;
    const fresh: SyncItem[] = [];
    for (const event of events) {
      const item = this.#entry(event);
      if (!item) continue;
      const seq = seqOf(item.seq);
      if (highest !== undefined && seq <= highest) {
        this.stats.duplicatesDropped++;
        continue;
      }
      highest = seq;
      fresh.push(item);
    }
    if (fresh.length === 0) return;
    await this.#options.state.applyLive(fresh);
    this.#lastSeen = highest;
    this.#fromHead = false;
    this.#progressed = true;
    for (const item of fresh) {
      // A listener may close the follower: nothing is emitted after that.
      if (this.#closed) return;
      this.#options.onChange(item);
    }
  }

  #entry(event: SseEvent): SyncItem | undefined {
    try {
      const item = JSON.parse(event.data) as SyncItem;
      if (
        typeof item === "object" &&
        item !== null &&
        typeof item.kind === "string" &&
        (item.op === "upsert" || item.op === "remove") &&
        typeof item.data === "object" &&
        item.data !== null
      ) {
        seqOf(item.seq);
        return item;
      }
    } catch {
      // Counted below.
    }
    this.stats.malformedSkipped++;
    return undefined;
  }
}

import type { ServerResponse } from "node:http";
import type { Logger } from "../../platform/logger.ts";
import type { StoredChange, SyncRepository } from "./sync.repository.ts";

export interface StreamOptions {
  repository: SyncRepository;
  logger: Logger;
  heartbeatS: number;
  connectionsPerCustomerMax: number;
  maxDurationS: number;
}

/** Entries read per query while a stream catches up; the stream loops until it is current. */
const STREAM_PAGE_MAX = 500;

interface Connection {
  customerId: string;
  response: ServerResponse;
  lastSeq: bigint;
  pumping: Promise<void> | undefined;
  again: boolean;
  closed: boolean;
  timers: NodeJS.Timeout[];
}

/** One server-sent event per log entry: `id` is the seq, so Last-Event-ID resumes exactly after it. */
export function formatEvent(change: StoredChange): string {
  const body = JSON.stringify({
    seq: change.seq.toString(),
    kind: change.kind,
    op: change.op,
    data: change.data,
  });
  return `id: ${change.seq}\nevent: ${change.kind}\ndata: ${body}\n\n`;
}

/**
 * The open event streams of this node. A stream never trusts a notification for content: a wake
 * (from the bus, on whichever node the entry was appended) or a heartbeat makes it read its
 * customer's log after the last seq it sent, in seq order, so it has no gaps and no duplicates
 * even when notifications are lost or doubled.
 */
export class StreamHub {
  readonly #options: StreamOptions;
  readonly #connections = new Map<string, Set<Connection>>();
  #closing = false;

  constructor(options: StreamOptions) {
    this.#options = options;
  }

  hasRoom(customerId: string): boolean {
    return (
      !this.#closing &&
      (this.#connections.get(customerId)?.size ?? 0) < this.#options.connectionsPerCustomerMax
    );
  }

  /** Connections open on this node (all customers); for tests and metrics. */
  get size(): number {
    let total = 0;
    for (const set of this.#connections.values()) total += set.size;
    return total;
  }

  /**
   * Takes over `response` (headers already written by the caller) until the client goes away, or
   * until `stillAuthorized` (asked at every heartbeat) says the caller's token expired or its session
   * was revoked: the client then reconnects with a fresh token, or not at all.
   */
  open(
    customerId: string,
    response: ServerResponse,
    lastSeq: bigint,
    stillAuthorized: () => Promise<boolean>,
  ): void {
    const connection: Connection = {
      customerId,
      response,
      lastSeq,
      pumping: undefined,
      again: false,
      closed: false,
      timers: [],
    };
    let set = this.#connections.get(customerId);
    if (!set) {
      set = new Set();
      this.#connections.set(customerId, set);
    }
    set.add(connection);
    const heartbeat = setInterval(() => {
      void this.#beat(connection, stillAuthorized);
    }, this.#options.heartbeatS * 1000);
    // A bounded lifetime: the client reconnects with Last-Event-ID and loses nothing.
    const lifetime = setTimeout(() => response.end(), this.#options.maxDurationS * 1000);
    heartbeat.unref();
    lifetime.unref();
    connection.timers.push(heartbeat, lifetime);
    response.on("close", () => this.#forget(connection));
    response.on("error", () => this.#forget(connection));
    this.#pump(connection);
  }

  async #beat(connection: Connection, stillAuthorized: () => Promise<boolean>): Promise<void> {
    if (connection.closed) return;
    if (!(await stillAuthorized())) {
      connection.response.end();
      this.#forget(connection);
      return;
    }
    if (connection.closed) return;
    connection.response.write(": heartbeat\n\n");
    // A lost notification costs at most one heartbeat interval.
    this.#pump(connection);
  }

  wake(customerId: string): void {
    for (const connection of this.#connections.get(customerId) ?? []) this.#pump(connection);
  }

  /** Ends every stream (app.close, before HTTP waits for open connections) and waits for their reads. */
  async closeAll(): Promise<void> {
    this.#closing = true;
    const pending: Promise<void>[] = [];
    for (const set of this.#connections.values()) {
      for (const connection of set) {
        if (connection.pumping) pending.push(connection.pumping);
        connection.response.end();
        this.#forget(connection);
      }
    }
    await Promise.allSettled(pending);
  }

  #forget(connection: Connection): void {
    if (connection.closed) return;
    connection.closed = true;
    for (const timer of connection.timers) clearTimeout(timer);
    const set = this.#connections.get(connection.customerId);
    set?.delete(connection);
    if (set?.size === 0) this.#connections.delete(connection.customerId);
  }

  /** One read loop per connection at a time; a wake during a read makes it read once more. */
  #pump(connection: Connection): void {
    if (connection.closed) return;
    if (connection.pumping) {
      connection.again = true;
      return;
    }
    connection.pumping = this.#drain(connection)
      .catch((error) => {
        this.#options.logger.warn({ err: error }, "event stream read failed; retrying at the next heartbeat");
      })
      .finally(() => {
        connection.pumping = undefined;
      });
  }

  async #drain(connection: Connection): Promise<void> {
    do {
      connection.again = false;
      for (;;) {
        if (connection.closed) return;
        const page = await this.#options.repository.page(
          connection.customerId,
          connection.lastSeq,
          STREAM_PAGE_MAX,
        );
        for (const change of page) {
          if (connection.closed) return;
          const flushed = connection.response.write(formatEvent(change));
          connection.lastSeq = change.seq;
          if (!flushed) await drained(connection.response);
        }
        if (page.length < STREAM_PAGE_MAX) break;
      }
    } while (connection.again && !connection.closed);
  }
}

function drained(response: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.off("drain", done);
      response.off("close", done);
      resolve();
    };
    response.on("drain", done);
    response.on("close", done);
  });
}

import { createHash } from "node:crypto";
import type { SyncConfig } from "../../config.ts";
import { systemContext } from "../../platform/context.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { AppError } from "../../platform/errors.ts";
import type { EventBus } from "../../platform/events/bus.ts";
import type { EventDispatcher } from "../../platform/events/dispatcher.ts";
import type { DomainEvent } from "../../platform/events/event.ts";
import { appendToOutbox } from "../../platform/events/outbox.ts";
import type { IdempotencyStore } from "../../platform/idempotency.ts";
import {
  CHANGE_LOG_CONSUMER,
  CHANGE_LOG_EVENT_TYPES,
  changesFor,
  SYNC_CHANGED_EVENT,
} from "./change-log.projection.ts";
import { type StoredChange, SyncRepository } from "./sync.repository.ts";
import type { SyncSources } from "./sync.sources.ts";
import { StreamHub } from "./sync.stream.ts";

export interface SyncServiceOptions extends ServiceDependencies {
  dispatcher: EventDispatcher;
  bus: EventBus;
  sources: SyncSources;
  idempotency: IdempotencyStore;
  config: SyncConfig;
}

export interface SyncItem {
  seq: string;
  kind: string;
  op: "upsert" | "remove";
  data: Record<string, unknown>;
}

export interface ProcessedCommandDto {
  idempotencyKey: string;
  /** `transfer`, `legacy-payment`, `open-account`: the operation the key was scoped to. */
  command: string;
  statusCode: number;
  resourceId: string | null;
  processedAt: string;
}

export interface SyncPage {
  /** True for a first sync: the items are the current state, not changes; replace the local store. */
  snapshot: boolean;
  items: SyncItem[];
  nextCursor: string;
  hasMore: boolean;
  processedCommands: ProcessedCommandDto[];
}

/** Delta pages hold at most this many log entries (before compaction). */
export const SYNC_PAGE_MAX = 500;
/** The newest notifications in a snapshot (the centre pages further back). */
const SNAPSHOT_NOTIFICATIONS_MAX = 20;
/** Recent payments in a snapshot. */
const SNAPSHOT_TRANSFERS_MAX = 50;
/** Operations whose Idempotency-Keys a device is told about (scopes are `<customer>:<operation>`). */
const COMMAND_SCOPES = ["transfer", "legacy-payment", "open-account"] as const;
const CURSOR_VERSION = "s1";

/**
 * Commands completed this long before the newest one a device was told of are listed again: a
 * command's time is taken just before its transaction commits, so one that commits a little later
 * than a sync read is not missed. Listing a key twice is harmless; the client clears it once.
 */
const COMMANDS_OVERLAP_MS = 5_000;

export interface SyncCursor {
  seq: bigint;
  /** The newest processed command the device was told of (ms since the epoch), 0 for none. */
  commandsSinceMs: number;
}

export function encodeSyncCursor(seq: bigint, commandsSinceMs = 0): string {
  const commands = commandsSinceMs > 0 ? `:${commandsSinceMs}` : "";
  return Buffer.from(`${CURSOR_VERSION}:${seq}${commands}`).toString("base64url");
}

/** The position a cursor names, or undefined when it is not one of ours. */
const INT8_MAX = 2n ** 63n - 1n;

export function decodeSyncCursor(cursor: string): SyncCursor | undefined {
  const match = /^s1:(\d{1,19})(?::(\d{1,15}))?$/.exec(Buffer.from(cursor, "base64url").toString());
  if (!match) return undefined;
  const seq = BigInt(match[1]!);
  // Beyond bigint: not a seq the database could ever have issued.
  if (seq > INT8_MAX) return undefined;
  return { seq, commandsSinceMs: match[2] ? Number(match[2]) : 0 };
}

/** A validator for ETag: the same page for the same caller gives the same tag. */
export function etagOf(page: SyncPage): string {
  return `W/"${createHash("sha256").update(JSON.stringify(page)).digest("base64url").slice(0, 27)}"`;
}

function toItem(change: StoredChange): SyncItem {
  return { seq: change.seq.toString(), kind: change.kind, op: change.op, data: change.data };
}

/** Only the latest entry per entity survives; the cursor still moves past all of them. */
export function compact(changes: StoredChange[]): StoredChange[] {
  const latest = new Map<string, StoredChange>();
  for (const change of changes) latest.set(`${change.kind}\u0000${change.entityId}`, change);
  return [...latest.values()].sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
}

/**
 * Delta sync and the real-time stream: a per-customer change log fed by events (snapshots read
 * through the other modules' public faces), paged by an opaque cursor over its global seq.
 */
export class SyncService {
  readonly #options: SyncServiceOptions;
  readonly #repository: SyncRepository;
  readonly streams: StreamHub;
  #unlisten: (() => void) | undefined;

  constructor(options: SyncServiceOptions) {
    this.#options = options;
    this.#repository = new SyncRepository(options.db);
    this.streams = new StreamHub({
      repository: this.#repository,
      logger: options.logger,
      heartbeatS: options.config.streamHeartbeatS,
      connectionsPerCustomerMax: options.config.streamConnectionsPerCustomerMax,
      maxDurationS: options.config.streamMaxDurationS,
    });
  }

  /** Subscribes the change-log consumer (before start) and this node's stream wake-ups. */
  async init(): Promise<void> {
    this.#options.dispatcher.onPrepared(
      CHANGE_LOG_CONSUMER,
      CHANGE_LOG_EVENT_TYPES,
      (event) => changesFor(event, this.#options.sources),
      (tx, event, changes) => this.#append(tx, event, changes),
    );
    this.#unlisten = this.#options.bus.listen([SYNC_CHANGED_EVENT], (event) => {
      const customerId = event.data.customerId;
      if (typeof customerId === "string") this.streams.wake(customerId);
    });
  }

  async #append(
    tx: Parameters<SyncRepository["append"]>[0],
    event: DomainEvent,
    changes: Awaited<ReturnType<typeof changesFor>>,
  ): Promise<void> {
    const stored = await this.#repository.append(tx, changes, event.id, this.#options.clock.now());
    const lastByCustomer = new Map<string, bigint>();
    for (const change of stored) lastByCustomer.set(change.customerId, change.seq);
    const context = systemContext(CHANGE_LOG_CONSUMER, event.requestId);
    await appendToOutbox(
      tx,
      [...lastByCustomer].map(([customerId, seq]) =>
        this.#options.events.create(context, SYNC_CHANGED_EVENT, customerId, {
          customerId,
          seq: seq.toString(),
        }),
      ),
    );
  }

  /** What changed for the caller since `cursor` (or a snapshot without one), with the device's commands. */
  async sync(
    customerId: string,
    deviceId: string | undefined,
    request: { cursor?: string | undefined; limit: number },
  ): Promise<SyncPage> {
    const limit = Math.min(Math.max(request.limit, 1), SYNC_PAGE_MAX);
    const position = request.cursor === undefined ? undefined : await this.#cursor(request.cursor);
    const sinceMs = position?.commandsSinceMs ?? 0;
    const processedCommands = await this.#processedCommands(customerId, deviceId, sinceMs);
    const newestMs = Math.max(
      sinceMs,
      ...processedCommands.map((command) => Date.parse(command.processedAt)),
    );
    if (!position) {
      const { headSeq, ...snapshot } = await this.#snapshot(customerId);
      return { ...snapshot, nextCursor: encodeSyncCursor(headSeq, newestMs), processedCommands };
    }
    const rows = await this.#repository.page(customerId, position.seq, limit + 1);
    const page = rows.slice(0, limit);
    // An empty page keeps the seq: a later seq of other customers could be passed safely only
    // under the caller's lock, and it would change the ETag with every other customer's activity.
    const lastSeq = page.at(-1)?.seq ?? position.seq;
    return {
      snapshot: false,
      items: compact(page).map(toItem),
      nextCursor: encodeSyncCursor(lastSeq, newestMs),
      hasMore: rows.length > limit,
      processedCommands,
    };
  }

  /** The seq after which a stream resumes: Last-Event-ID when given, else the caller's head. */
  async streamStart(customerId: string, lastEventId: string | undefined): Promise<bigint> {
    if (lastEventId === undefined) return this.#repository.headSeq(customerId);
    const seq = /^\d{1,19}$/.test(lastEventId) ? BigInt(lastEventId) : -1n;
    if (seq < 0n || seq > INT8_MAX) throw new AppError("validation", "Last-Event-ID is not a seq.");
    if (seq < (await this.#repository.watermark())) throw expired();
    return seq;
  }

  async #cursor(cursor: string): Promise<SyncCursor> {
    const position = decodeSyncCursor(cursor);
    if (position === undefined) {
      throw new AppError(
        "sync-cursor-expired",
        "The cursor is not one this API issued: resync from a snapshot.",
      );
    }
    if (position.seq < (await this.#repository.watermark())) throw expired();
    return position;
  }

  /**
   * The current state, bounded: accounts, payees, the newest notifications, recent payments, then the newest transactions
   * across accounts up to the snapshot's size. Its cursor is the caller's head read first, so an
   * entry appended while the snapshot is read is delivered again by the next delta (upserts are
   * idempotent), never lost.
   */
  async #snapshot(
    customerId: string,
  ): Promise<Omit<SyncPage, "processedCommands" | "nextCursor"> & { headSeq: bigint }> {
    const { sources, config } = this.#options;
    // Not below the watermark: a customer whose entries were all pruned still gets a usable cursor.
    // Safe, as every entry still to commit draws a seq above anything pruned long ago.
    const [own, watermark] = await Promise.all([
      this.#repository.headSeq(customerId),
      this.#repository.watermark(),
    ]);
    const head = own > watermark ? own : watermark;
    const seq = head.toString();
    const items: SyncItem[] = [];
    const budget = config.snapshotItemsMax;
    const push = (kind: string, data: Record<string, unknown>) => {
      if (items.length < budget) items.push({ seq, kind, op: "upsert", data });
    };
    const accounts = await sources.accounts(customerId);
    for (const account of accounts) push("account", account);
    for (const payee of await sources.payees(customerId)) push("payee", payee);
    for (const notification of await sources.recentNotifications(customerId, SNAPSHOT_NOTIFICATIONS_MAX))
      push("notification", notification);
    for (const id of await sources.recentTransferIds(customerId, SNAPSHOT_TRANSFERS_MAX)) {
      const transfer = await sources.transfer(customerId, id);
      if (transfer) push("transfer", transfer);
    }
    const room = Math.max(budget - items.length, 0);
    const transactions: Record<string, unknown>[] = [];
    for (const account of accounts) {
      if (room === 0) break;
      transactions.push(...(await sources.transactions(customerId, String(account.id), Math.min(room, 200))));
    }
    transactions.sort((a, b) => String(b.bookedAt).localeCompare(String(a.bookedAt)));
    for (const transaction of transactions) push("transaction", transaction);
    const more = await this.#repository.page(customerId, head, 1);
    return { snapshot: true, items, headSeq: head, hasMore: more.length > 0 };
  }

  /** The device's commands completed after the cursor's (with an overlap), within the window. */
  async #processedCommands(
    customerId: string,
    deviceId: string | undefined,
    sinceMs: number,
  ): Promise<ProcessedCommandDto[]> {
    const { config, clock, idempotency, db } = this.#options;
    if (!deviceId || config.commandsMax === 0) return [];
    const windowStartMs = clock.now().getTime() - config.commandsWindowS * 1000;
    const commands = await idempotency.recentForDevice(db, {
      scopes: COMMAND_SCOPES.map((operation) => `${customerId}:${operation}`),
      deviceId,
      since: new Date(Math.max(windowStartMs, sinceMs - COMMANDS_OVERLAP_MS)),
      limit: config.commandsMax,
    });
    return commands.map((command) => ({
      idempotencyKey: command.key,
      command: command.scope.slice(customerId.length + 1),
      statusCode: command.statusCode,
      resourceId: command.resourceId,
      processedAt: command.processedAt.toISOString(),
    }));
  }

  /** Removes entries older than the retention window, in one bounded batch; returns how many went. */
  prune(): Promise<number> {
    const { clock, config } = this.#options;
    const before = new Date(clock.now().getTime() - config.retentionDays * 86_400_000);
    return this.#repository.prune(before, config.pruneBatchMax);
  }

  async close(): Promise<void> {
    this.#unlisten?.();
    await this.streams.closeAll();
  }
}

function expired(): AppError {
  return new AppError(
    "sync-cursor-expired",
    "The change log no longer reaches back to this cursor: resync from a snapshot (no cursor).",
  );
}

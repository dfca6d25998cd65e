import createClient, { type Client } from "openapi-fetch";
import { ApiProblemError, isProblem, NetworkError } from "./errors.ts";
import { Emitter } from "./events.ts";
import type { paths } from "./generated/openapi.ts";
import { OfflineState, type SyncItem } from "./offline-state.ts";
import { type CommandOutcome, Outbox, type OutboxCommand } from "./outbox.ts";
import { DEFAULT_RETRY_POLICY, defaultScheduler, type RetryPolicy, type Scheduler } from "./retry.ts";
import { type KeyValueStorage, MemoryStorage } from "./storage.ts";
import { type FollowOptions, StreamFollower, type StreamHandle, type StreamStatus } from "./stream.ts";
import { SyncEngine, type SyncResult } from "./sync.ts";
import {
  MemorySecureStore,
  type SecureStore,
  type SessionEndReason,
  TokenManager,
  type TokensResponse,
} from "./tokens.ts";
import { createTransport } from "./transport.ts";

type JsonBody<Path extends keyof paths, Method extends keyof paths[Path]> = paths[Path][Method] extends {
  requestBody?: { content: { "application/json": infer Body } };
}
  ? Body
  : never;

export type TransferBody = JsonBody<"/v1/transfers", "post">;
export type ScheduledTransferBody = JsonBody<"/v1/scheduled-transfers", "post">;
export type PayeeBody = JsonBody<"/v1/payees", "post">;
export type LegacyPaymentBody = JsonBody<"/v1/legacy-accounts/{id}/payments", "post">;

export interface ClientEvents extends Record<string, unknown> {
  /** The session is over: signed out by the app, or the server refused the refresh token (reuse). */
  "session-ended": { reason: SessionEndReason };
  "command-queued": { command: OutboxCommand };
  /** A queued command's fate: accepted, rejected with a reason, or waiting for step-up. */
  "command-outcome": CommandOutcome;
  synced: SyncResult;
  /** The sync cursor was too old; the client is rebuilding its state from a snapshot. */
  resync: Record<string, never>;
  /** A change-log entry from the event stream (`follow`), already applied to `state`. */
  change: SyncItem;
  /** The event stream's connection: open, reconnecting, resyncing, closed. */
  stream: StreamStatus;
}

export interface OmnicoreClientOptions {
  baseUrl: string;
  /** Where the outbox and the synced state live; memory unless given. */
  storage?: KeyValueStorage;
  secureStore?: SecureStore;
  fetch?: typeof fetch;
  retry?: Partial<RetryPolicy>;
  scheduler?: Partial<Scheduler>;
  /** Default 30 s. */
  refreshBeforeExpiryMs?: number;
  syncPageLimit?: number;
  syncPagesMax?: number;
  outboxCapacity?: number;
  newIdempotencyKey?: () => string;
  /**
   * Names this installation at sign-in (`X-Device-Id`); the server reports the device's processed
   * commands in the sync response only for a session opened with one. Default: a random id made
   * on the first sign-in and kept in `storage`.
   */
  deviceId?: string;
  /** `X-Channel` at sign-in ("mobile", "web"...); the server's default when absent. */
  channel?: string;
}

const DEVICE_KEY = "omnicore.device";

export type LoginResult =
  | { kind: "signed-in" }
  | { kind: "mfa-required"; challengeId: string; factors: unknown };

/** The Omnicore client: a typed API, a session, a durable outbox and an offline copy of the account. */
export class OmnicoreClient {
  /** The typed API (openapi-fetch over the SDK's transport): `client.api.GET("/v1/accounts")`. */
  readonly api: Client<paths>;
  readonly events = new Emitter<ClientEvents>();
  readonly state: OfflineState;
  readonly outbox: Outbox;
  readonly tokens: TokenManager;
  /** The SDK's fetch: bearer token, refresh, retries. */
  readonly send: (request: Request) => Promise<Response>;
  readonly #baseUrl: string;
  readonly #sync: SyncEngine;
  readonly #options: OmnicoreClientOptions;
  readonly #storage: KeyValueStorage;
  readonly #fetch: typeof fetch;
  readonly #scheduler: Scheduler;
  #follower: StreamFollower | undefined;
  #followerStopped = false;

  private constructor(options: OmnicoreClientOptions) {
    const scheduler: Scheduler = { ...defaultScheduler, ...options.scheduler };
    const fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    const storage = options.storage ?? new MemoryStorage();
    this.#options = options;
    this.#storage = storage;
    this.#fetch = fetchImpl;
    this.#scheduler = scheduler;
    this.#baseUrl = options.baseUrl;
    this.tokens = new TokenManager({
      baseUrl: options.baseUrl,
      fetch: fetchImpl,
      secureStore: options.secureStore ?? new MemorySecureStore(),
      scheduler,
      refreshBeforeExpiryMs: options.refreshBeforeExpiryMs ?? 30_000,
      onSessionEnded: (reason) => this.events.emit("session-ended", { reason }),
    });
    this.send = createTransport({
      fetch: fetchImpl,
      tokens: this.tokens,
      policy: { ...DEFAULT_RETRY_POLICY, ...options.retry },
      scheduler,
    });
    this.api = createClient<paths>({ baseUrl: options.baseUrl, fetch: this.send });
    this.state = new OfflineState(storage);
    this.outbox = new Outbox({
      storage,
      send: this.send,
      baseUrl: options.baseUrl,
      now: scheduler.now,
      newKey: options.newIdempotencyKey ?? (() => globalThis.crypto.randomUUID()),
      onOutcome: (outcome) => this.events.emit("command-outcome", outcome),
      capacity: options.outboxCapacity ?? 200,
    });
    this.#sync = new SyncEngine({
      baseUrl: options.baseUrl,
      send: this.send,
      state: this.state,
      outbox: this.outbox,
      pageLimit: options.syncPageLimit ?? 200,
      pagesMax: options.syncPagesMax ?? 50,
      now: scheduler.now,
      onResync: () => this.events.emit("resync", {}),
    });
  }

  /** Builds a client and loads what was stored (synced state; the outbox is read on demand). */
  static async create(options: OmnicoreClientOptions): Promise<OmnicoreClient> {
    const client = new OmnicoreClient(options);
    await client.state.load();
    return client;
  }

  isSignedIn(): Promise<boolean> {
    return this.tokens.hasSession();
  }

  /** Password sign-in; a new device may be asked for a second factor (`completeMfa`). */
  async login(email: string, password: string): Promise<LoginResult> {
    const response = await this.#anonymousPost("/v1/auth/login", { email, password });
    return this.#signedIn(response);
  }

  async completeMfa(
    challengeId: string,
    answer: { totp?: string; recoveryCode?: string },
  ): Promise<LoginResult> {
    const response = await this.#anonymousPost("/v1/auth/login/mfa", { challengeId, ...answer });
    return this.#signedIn(response);
  }

  /** Ends the session on the server when it can be reached, and locally in any case. */
  async logout(): Promise<void> {
    await this.#follower?.close();
    const token = this.tokens.currentAccessToken();
    if (token) {
      await this.send(
        new Request(new URL("/v1/auth/logout", this.#baseUrl), {
          method: "POST",
          headers: { authorization: `Bearer ${token}` },
        }),
      ).catch(() => undefined);
    }
    await this.tokens.end("logout");
  }

  /** Queues a transfer (persisted with its idempotency key) and tries to deliver the queue. */
  transfer(body: TransferBody): Promise<OutboxCommand> {
    return this.#queue("transfer", "/v1/transfers", body);
  }

  scheduleTransfer(body: ScheduledTransferBody): Promise<OutboxCommand> {
    return this.#queue("scheduled-transfer", "/v1/scheduled-transfers", body);
  }

  addPayee(body: PayeeBody): Promise<OutboxCommand> {
    return this.#queue("payee", "/v1/payees", body);
  }

  payFromLegacyAccount(accountId: string, body: LegacyPaymentBody): Promise<OutboxCommand> {
    return this.#queue(
      "legacy-payment",
      `/v1/legacy-accounts/${encodeURIComponent(accountId)}/payments`,
      body,
    );
  }

  /** Delivers queued commands in order; call it when the network comes back. */
  flush() {
    return this.outbox.flush();
  }

  /** Pulls changes since the stored cursor (GET /v1/sync); settles commands the server reports processed. */
  async sync(): Promise<SyncResult> {
    const result = await this.#sync.sync();
    this.events.emit("synced", result);
    return result;
  }

  /**
   * Follows the real-time event stream (GET /v1/events/stream): each entry is applied to `state`
   * (the sync cursor does not move) and emitted as `change`. Resumes after the synced state's seq,
   * so call `sync()` first; reconnects after cuts, resyncs on 410. One follower per client: a
   * second call returns the running one.
   */
  follow(options: FollowOptions = {}): StreamHandle {
    if (this.#follower && !this.#followerStopped) return this.#follower;
    this.#followerStopped = false;
    const follower = new StreamFollower({
      baseUrl: this.#baseUrl,
      fetch: this.#fetch,
      tokens: this.tokens,
      scheduler: this.#scheduler,
      state: this.state,
      resync: () => this.sync(),
      onChange: (item) => this.events.emit("change", item),
      onStatus: (status) => this.events.emit("stream", status),
      follow: options,
    });
    this.#follower = follower;
    void follower.done.then(() => {
      if (this.#follower === follower) this.#followerStopped = true;
    });
    return follower;
  }

  /**
   * Stores the caller's accounts (GET /v1/accounts) as `account` entities: the offline balances
   * for a server without /v1/sync, and a cheap refresh of balances alone.
   */
  async refreshAccounts(): Promise<void> {
    const { data, error, response } = await this.api.GET("/v1/accounts");
    if (!data)
      throw new ApiProblemError(isProblem(error) ? error : { type: "about:blank", status: response.status });
    const current = this.state.snapshot;
    const accounts = Object.fromEntries(data.items.map((account) => [account.id, account]));
    await this.state.replace({ ...current, entities: { ...current.entities, account: accounts } });
  }

  async #queue(kind: OutboxCommand["kind"], path: string, body: unknown): Promise<OutboxCommand> {
    const command = await this.outbox.enqueue(kind, path, body);
    this.events.emit("command-queued", { command });
    // Best effort: offline, the command simply stays queued for the next flush.
    void this.outbox.flush().catch(() => undefined);
    return command;
  }

  async #deviceId(): Promise<string> {
    if (this.#options.deviceId) return this.#options.deviceId;
    const stored = await this.#storage.get<string>(DEVICE_KEY);
    if (stored) return stored;
    const made = globalThis.crypto.randomUUID();
    await this.#storage.set(DEVICE_KEY, made);
    return made;
  }

  async #anonymousPost(path: string, body: unknown): Promise<Response> {
    const headers = new Headers({
      "content-type": "application/json",
      "x-device-id": await this.#deviceId(),
    });
    if (this.#options.channel) headers.set("x-channel", this.#options.channel);
    return this.send(
      new Request(new URL(path, this.#baseUrl), {
        method: "POST",
        headers,
        body: JSON.stringify(body),
      }),
    );
  }

  async #signedIn(response: Response): Promise<LoginResult> {
    const body: unknown = await response.json().catch(() => undefined);
    if (response.ok) {
      await this.tokens.accept(body as TokensResponse);
      return { kind: "signed-in" };
    }
    if (isProblem(body) && response.status === 401 && typeof body.challengeId === "string") {
      return { kind: "mfa-required", challengeId: body.challengeId, factors: body.factors };
    }
    if (isProblem(body)) throw new ApiProblemError(body);
    throw new NetworkError(`sign-in answered ${response.status}`);
  }
}

import type { ConnectorFactory, ConnectorFailure } from "../../platform/connectors/index.ts";
import {
  type BreakerState,
  CONNECTOR_DEFAULTS,
  HttpConnector,
  type HttpConnectorDefinition,
} from "../../platform/connectors/index.ts";

/**
 * The legacy core's contract as this module needs it (see simulators/legacy-core/README.md), as a
 * port: the mirror, the sender and reconciliation depend on `LegacyCorePort`, not on HTTP. Amounts
 * are whole minor units as decimal strings on the wire and bigint here.
 */

export const LEGACY_CONNECTOR_NAME = "legacy-core";

export interface CoreAccount {
  id: string;
  iban: string;
  currency: string;
  ownerRef: string;
  status: string;
  bookedMinor: string;
  availableMinor: string;
}

export interface CorePosting {
  postingId: string;
  accountId: string;
  amountMinor: string;
  currency: string;
  reference: string;
  bookedAt: string;
  businessDate: string;
  balanceAfterMinor: string;
}

export type CoreChange =
  | ({ seq: number; kind: "posting" } & CorePosting)
  | ({ seq: number; kind: "balance"; at: string } & Omit<CoreAccount, "id"> & { accountId: string });

export interface ChangesPage {
  changes: CoreChange[];
  nextSeq: number;
  hasMore: boolean;
}

export interface CoreExport {
  asOf: string;
  businessDate: string;
  lastSeq: number;
  accounts: CoreAccount[];
  postings: CorePosting[];
}

export type PostingOutcome =
  | { kind: "posted"; bookedAt: string; balanceAfterMinor: string }
  | { kind: "rejected"; reason: string }
  /** Nothing is known about the posting: send it again later with the same id. */
  | { kind: "retry"; reason: string };

export type ReadResult<T> = { ok: true; value: T } | { ok: false; gone: boolean; reason: string };

export interface LegacyCorePort {
  changes(after: number, limit: number): Promise<ReadResult<ChangesPage>>;
  export(asOf?: Date): Promise<ReadResult<CoreExport>>;
  post(posting: {
    postingId: string;
    accountId: string;
    amountMinor: bigint;
    currency: string;
    reference: string;
  }): Promise<PostingOutcome>;
  /** closed = healthy; open or half-open = the core is failing and calls are being refused. */
  state(): BreakerState;
}

export interface LegacyCoreClientOptions {
  baseUrl: string;
  apiKey?: string | undefined;
  timeoutMs: number;
  /** The longest backoff of the sender: an open circuit lets a trial call through after at most this. */
  retryBackoffMaxMs: number;
  connectors?: ConnectorFactory;
  fetch?: typeof globalThis.fetch;
}

/**
 * The connector keeps no body of a failed answer (bodies carry personal data). A posting the core
 * refuses is not a failure of the core, though: its 422 carries the outcome, `{status:"rejected",
 * reason}`, which is the answer to the call. This transport hands exactly that answer on as a 200
 * with the outcome; everything else passes unchanged.
 */
function rejectionAware(inner: typeof globalThis.fetch): typeof globalThis.fetch {
  return async (input, init) => {
    const response = await inner(input, init);
    if (response.status !== 422 || !String(input).includes("/postings")) return response;
    const text = await response.text();
    try {
      const body = JSON.parse(text) as { status?: unknown; reason?: unknown };
      if (body.status === "rejected" && typeof body.reason === "string") {
        return new Response(JSON.stringify({ status: "rejected", reason: body.reason }), {
          status: 200,
          headers: { "content-type": "application/json" },
        });
      }
    } catch {
      // Not the core's rejection: left as the 422 it was.
    }
    return new Response(text, { status: 422, headers: response.headers });
  };
}

function describe(failure: ConnectorFailure): string {
  return failure.status === undefined ? failure.code : `${failure.code} (${failure.status})`;
}

export class LegacyCoreClient implements LegacyCorePort {
  readonly #connector: HttpConnector;
  readonly #headers: Record<string, string>;

  constructor(options: LegacyCoreClientOptions) {
    const defaults = options.connectors?.defaults ?? CONNECTOR_DEFAULTS;
    const definition: HttpConnectorDefinition = {
      name: LEGACY_CONNECTOR_NAME,
      baseUrl: options.baseUrl,
      timeoutMs: options.timeoutMs,
      // One attempt per call: the feed worker polls again and the posting outbox retries durably
      // with its own backoff; retrying inside a call would only hold the worker up.
      retry: { attemptsMax: 1 },
      breaker: { halfOpenAfterMs: Math.min(options.retryBackoffMaxMs, defaults.breakerHalfOpenAfterMs) },
      fetch: rejectionAware(options.fetch ?? globalThis.fetch),
    };
    this.#connector = options.connectors
      ? options.connectors.http(definition)
      : HttpConnector.pinnedTo(definition);
    this.#headers = options.apiKey ? { "x-api-key": options.apiKey } : {};
  }

  state(): BreakerState {
    return this.#connector.state;
  }

  async changes(after: number, limit: number): Promise<ReadResult<ChangesPage>> {
    return this.#get<ChangesPage>(`/changes?after=${after}&limit=${limit}`);
  }

  async export(asOf?: Date): Promise<ReadResult<CoreExport>> {
    return this.#get<CoreExport>(asOf ? `/export?asOf=${encodeURIComponent(asOf.toISOString())}` : "/export");
  }

  async post(posting: {
    postingId: string;
    accountId: string;
    amountMinor: bigint;
    currency: string;
    reference: string;
  }): Promise<PostingOutcome> {
    const result = await this.#connector.request({
      method: "POST",
      path: "/postings",
      headers: { ...this.#headers, "content-type": "application/json" },
      body: JSON.stringify({ ...posting, amountMinor: posting.amountMinor.toString() }),
      // The posting id is the core's idempotency key; the header says so to the connector too.
      idempotencyKey: posting.postingId,
      read: "text",
    });
    if (!result.ok) return { kind: "retry", reason: describe(result.failure) };
    const body = parse<{ status?: string; reason?: string; bookedAt?: string; balanceAfterMinor?: string }>(
      result.value.text,
    );
    if (body?.status === "posted" && body.bookedAt && body.balanceAfterMinor) {
      return { kind: "posted", bookedAt: body.bookedAt, balanceAfterMinor: body.balanceAfterMinor };
    }
    if (body?.status === "rejected" && body.reason) return { kind: "rejected", reason: body.reason };
    return { kind: "retry", reason: "invalid-response" };
  }

  async #get<T>(path: string): Promise<ReadResult<T>> {
    const result = await this.#connector.request({
      method: "GET",
      path,
      headers: this.#headers,
      read: "text",
    });
    if (!result.ok) {
      return { ok: false, gone: result.failure.status === 410, reason: describe(result.failure) };
    }
    const value = parse<T>(result.value.text);
    return value === undefined ? { ok: false, gone: false, reason: "invalid-response" } : { ok: true, value };
  }
}

function parse<T>(text: string | undefined): T | undefined {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

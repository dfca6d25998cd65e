import type { ConnectorObserver } from "./connector.metrics.ts";
import {
  type ConnectorFailure,
  type ConnectorResult,
  connectorFailure,
  failureForStatus,
} from "./connector-failure.ts";
import {
  type AttemptResult,
  type BreakerSettings,
  type BreakerState,
  ConnectorPolicy,
  type PolicySettings,
} from "./connector-policy.ts";
import { OutboundPolicy } from "./outbound-policy.ts";

/**
 * A named port to another system over HTTP(S). Every call goes through the connector's policy
 * (per-attempt timeout, retry of idempotent calls with backoff and jitter, circuit breaker,
 * bulkhead) and the outbound allow-list, and answers a `ConnectorResult`: a failure is a typed
 * value, never a thrown string. A module wraps its connector in a client that speaks the other
 * system's contract (see the payment rail's and the KYC provider's clients).
 *
 * Nothing here logs, and no failure carries a URL, a header or a body.
 */

/** Connector settings that have a project-wide default (`OMNICORE_CONNECTOR_*`). */
export interface ConnectorDefaults {
  /** Attempts per idempotent call, the first included. */
  attemptsMax: number;
  retryBackoffInitialMs: number;
  retryBackoffMaxMs: number;
  /** Consecutive failed attempts that open the circuit. */
  breakerFailuresMax: number;
  /** How long an open circuit refuses calls before it lets a trial call through. */
  breakerHalfOpenAfterMs: number;
  /** Calls in flight at once per connector and node, and calls waiting for a slot. */
  concurrencyMax: number;
  queueMax: number;
}

/** What the KYC client shipped with before the framework; the defaults keep its behaviour. */
export const CONNECTOR_DEFAULTS: ConnectorDefaults = {
  attemptsMax: 3,
  retryBackoffInitialMs: 100,
  retryBackoffMaxMs: 2_000,
  breakerFailuresMax: 5,
  breakerHalfOpenAfterMs: 30_000,
  concurrencyMax: 16,
  queueMax: 64,
};

export interface HttpConnectorDefinition {
  /** Kebab-case, unique per app: the `connector` label of its metrics and its `/ready` entry. */
  name: string;
  baseUrl: string;
  /** Upper bound on one attempt, connection and whole answer included. */
  timeoutMs: number;
  /**
   * Whether an open circuit takes this node out of the load balancer. Default false: every node
   * shares the same external system, so failing readiness everywhere would turn one provider's
   * outage into a whole-bank outage. `/ready` reports the connector as degraded instead.
   */
  required?: boolean;
  retry?: { attemptsMax?: number; backoffInitialMs?: number; backoffMaxMs?: number };
  breaker?:
    | { failuresMax?: number; halfOpenAfterMs?: number }
    | { sampling: { threshold: number; durationMs: number; minimumRps: number }; halfOpenAfterMs?: number };
  bulkhead?: { concurrencyMax?: number; queueMax?: number };
  /** Larger answers are refused unread (`invalid-response`). Default 1 MiB. */
  responseBodyMaxBytes?: number;
  fetch?: typeof globalThis.fetch;
  /** Jitter source; injected so tests are deterministic. */
  random?: () => number;
}

/** Where a connector lives: the registry passes the configured values; without one, see `pinnedTo`. */
export interface ConnectorEnvironment {
  outbound: OutboundPolicy;
  defaults: ConnectorDefaults;
  observer?: ConnectorObserver;
  onStateChange?: (connector: string, state: BreakerState) => void;
}

export type HttpMethod = "GET" | "HEAD" | "OPTIONS" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface HttpRequest {
  method: HttpMethod;
  /** Appended to the base URL; starts with exactly one `/`. */
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Sent as `Idempotency-Key`; it is what makes a POST or PATCH safe to retry. */
  idempotencyKey?: string;
  /** `false` never retries this call, whatever its method. */
  retry?: boolean;
  /** `text` reads the 2xx body (bounded); `none` discards it and frees the connection. */
  read: "text" | "none";
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  /** The body of a 2xx answer when `read: "text"`. */
  text: string | undefined;
}

export interface ConnectorHealth {
  name: string;
  required: boolean;
  state: BreakerState;
}

/** RFC 9110 §9.2.2: repeating these has the same effect as sending them once. */
const IDEMPOTENT_METHODS: ReadonlySet<HttpMethod> = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);
const RESPONSE_BODY_MAX_BYTES = 1_048_576;

function policySettings(definition: HttpConnectorDefinition, defaults: ConnectorDefaults): PolicySettings {
  const given = definition.breaker ?? {};
  const halfOpenAfterMs = given.halfOpenAfterMs ?? defaults.breakerHalfOpenAfterMs;
  const breaker: BreakerSettings =
    "sampling" in given
      ? { kind: "sampling", ...given.sampling, halfOpenAfterMs }
      : {
          kind: "consecutive",
          failuresMax: given.failuresMax ?? defaults.breakerFailuresMax,
          halfOpenAfterMs,
        };
  const backoffInitialMs = definition.retry?.backoffInitialMs ?? defaults.retryBackoffInitialMs;
  return {
    timeoutMs: definition.timeoutMs,
    attemptsMax: definition.retry?.attemptsMax ?? defaults.attemptsMax,
    backoffInitialMs,
    backoffMaxMs: Math.max(backoffInitialMs, definition.retry?.backoffMaxMs ?? defaults.retryBackoffMaxMs),
    breaker,
    concurrencyMax: definition.bulkhead?.concurrencyMax ?? defaults.concurrencyMax,
    queueMax: definition.bulkhead?.queueMax ?? defaults.queueMax,
  };
}

export class HttpConnector {
  readonly name: string;
  readonly required: boolean;
  readonly #baseUrl: string;
  readonly #fetch: typeof globalThis.fetch;
  readonly #policy: ConnectorPolicy;
  readonly #outbound: OutboundPolicy;
  readonly #observer: ConnectorObserver | undefined;
  readonly #responseBodyMaxBytes: number;

  constructor(definition: HttpConnectorDefinition, environment: ConnectorEnvironment) {
    if (!/^[a-z][a-z0-9-]{0,62}$/.test(definition.name)) throw new Error("a connector name is kebab-case");
    this.name = definition.name;
    this.required = definition.required ?? false;
    this.#baseUrl = new URL(definition.baseUrl).toString().replace(/\/+$/, "");
    this.#fetch = definition.fetch ?? globalThis.fetch;
    this.#outbound = environment.outbound;
    this.#observer = environment.observer;
    this.#responseBodyMaxBytes = definition.responseBodyMaxBytes ?? RESPONSE_BODY_MAX_BYTES;
    const { observer, onStateChange } = environment;
    this.#policy = new ConnectorPolicy({
      settings: policySettings(definition, environment.defaults),
      ...(definition.random ? { random: definition.random } : {}),
      ...(onStateChange ? { onStateChange: (state) => onStateChange(this.name, state) } : {}),
      ...(observer ? { onRetry: () => observer.retried(this.name) } : {}),
    });
  }

  /**
   * A connector without a registry (tests, tools): the built-in defaults, no metrics, and an
   * outbound policy that trusts exactly its own base URL.
   */
  static pinnedTo(definition: HttpConnectorDefinition, defaults = CONNECTOR_DEFAULTS): HttpConnector {
    return new HttpConnector(definition, { outbound: OutboundPolicy.pinnedTo(definition.baseUrl), defaults });
  }

  get state(): BreakerState {
    return this.#policy.state;
  }

  health(): ConnectorHealth {
    return { name: this.name, required: this.required, state: this.#policy.state };
  }

  async request(request: HttpRequest): Promise<ConnectorResult<HttpAnswer>> {
    const startedMs = performance.now();
    const result = await this.#send(request);
    this.#observer?.callFinished(
      this.name,
      result.ok ? "ok" : result.failure.code,
      (performance.now() - startedMs) / 1_000,
    );
    return result;
  }

  async #send(request: HttpRequest): Promise<ConnectorResult<HttpAnswer>> {
    // A path like "//elsewhere" would be a protocol-relative URL to another host.
    if (!request.path.startsWith("/") || request.path.startsWith("//")) {
      throw new Error("a connector path starts with exactly one /");
    }
    if (request.idempotencyKey !== undefined && request.idempotencyKey.length === 0) {
      throw new Error("an Idempotency-Key must not be empty");
    }
    const url = new URL(`${this.#baseUrl}${request.path}`);
    const refused = this.#outbound.check(url);
    if (refused) return { ok: false, failure: refused };
    const idempotent =
      request.retry !== false &&
      (IDEMPOTENT_METHODS.has(request.method) || request.idempotencyKey !== undefined);
    return this.#policy.execute((signal) => this.#attempt(url, request, signal), { idempotent });
  }

  /** One attempt; every outcome, transient or not, is a value. */
  async #attempt(url: URL, request: HttpRequest, signal: AbortSignal): Promise<AttemptResult<HttpAnswer>> {
    const headers: Record<string, string> = { ...request.headers };
    if (request.idempotencyKey !== undefined) headers["idempotency-key"] = request.idempotencyKey;
    let response: Response;
    try {
      response = await this.#fetch(url.href, {
        method: request.method,
        headers,
        ...(request.body === undefined ? {} : { body: request.body }),
        signal,
        // A redirect would lead to a host the allow-list never saw; it is refused instead.
        redirect: "manual",
      });
    } catch {
      return transportFailure(signal);
    }
    const { status } = response;
    if (status < 200 || status >= 300) {
      // The body is not needed; cancelling it frees the connection for the next call.
      await response.body?.cancel().catch(() => undefined);
      if (status >= 300 && status < 400) return failed(connectorFailure("invalid-response", status));
      return failed(failureForStatus(status));
    }
    if (request.read === "none") {
      await response.body?.cancel().catch(() => undefined);
      return { ok: true, value: { status, headers: response.headers, text: undefined } };
    }
    try {
      const text = await readBounded(response, this.#responseBodyMaxBytes);
      if (text === undefined) return failed(connectorFailure("invalid-response", status));
      return { ok: true, value: { status, headers: response.headers, text } };
    } catch {
      return transportFailure(signal);
    }
  }
}

function failed(failure: ConnectorFailure): AttemptResult<never> {
  return { ok: false, failure };
}

/** A timeout aborts the signal; whatever fetch threw then, it is reported as the timeout. */
function transportFailure(signal: AbortSignal): AttemptResult<never> {
  return failed(connectorFailure(signal.aborted ? "timeout" : "network"));
}

/** The body as text, or `undefined` when it is larger than `maxBytes` (then left unread). */
async function readBounded(response: Response, maxBytes: number): Promise<string | undefined> {
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    return undefined;
  }
  if (!response.body) return "";
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return text + decoder.decode();
    bytes += value.byteLength;
    if (bytes > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    text += decoder.decode(value, { stream: true });
  }
}

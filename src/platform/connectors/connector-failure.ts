/**
 * The closed set of ways a call to another system can fail. Each is a value a caller switches on;
 * none carries a response body, a URL query or a request field, because the requests connectors
 * carry are full of personal data and credentials, and failures end up in logs and metrics.
 */
export const CONNECTOR_FAILURE_CODES = [
  /** An attempt took longer than the connector's per-attempt timeout. */
  "timeout",
  /** The system could not be reached (DNS, connection refused or reset, TLS handshake). */
  "network",
  /** The system answered 5xx, 408 or 429: it is there, but cannot serve us right now. */
  "unavailable",
  /** Too many recent failures: the circuit is open and the system was not called at all. */
  "circuit-open",
  /** Every concurrent slot and every queue place of this connector was taken: not called. */
  "bulkhead-full",
  /** Any other 4xx: the system understood the call and refused it; the same call fails again. */
  "refused",
  /** The target host is not on the outbound allow-list: refused before any connection. */
  "host-not-allowed",
  /** Plain `http:` to a host that is not loopback, while plaintext is not allowed. */
  "plaintext-not-allowed",
  /** An answer outside the contract: a redirect, a body too large, a body that does not parse. */
  "invalid-response",
] as const;

export type ConnectorFailureCode = (typeof CONNECTOR_FAILURE_CODES)[number];

export interface ConnectorFailure {
  code: ConnectorFailureCode;
  /** Whether the same call may succeed later without anything changing on our side. */
  retryable: boolean;
  /** The HTTP status, when the system answered one. */
  status?: number;
}

export type ConnectorResult<T> = { ok: true; value: T } | { ok: false; failure: ConnectorFailure };

/** Failures that say the system is unhealthy: they are retried (when allowed) and trip the breaker. */
const TRANSIENT: ReadonlySet<ConnectorFailureCode> = new Set(["timeout", "network", "unavailable"]);
/** Failures where waiting helps: the transient ones and our own protective refusals. */
const RETRYABLE: ReadonlySet<ConnectorFailureCode> = new Set([
  "timeout",
  "network",
  "unavailable",
  "circuit-open",
  "bulkhead-full",
]);

export function isTransient(code: ConnectorFailureCode): boolean {
  return TRANSIENT.has(code);
}

export function connectorFailure(code: ConnectorFailureCode, status?: number): ConnectorFailure {
  return status === undefined
    ? { code, retryable: RETRYABLE.has(code) }
    : { code, retryable: RETRYABLE.has(code), status };
}

/**
 * 408 and 429 are the system telling us to come back later, not that the call is wrong, so they
 * count as unavailable like 5xx; every other 4xx would fail the same way again.
 */
export function failureForStatus(status: number): ConnectorFailure {
  if (status >= 500 || status === 408 || status === 429) return connectorFailure("unavailable", status);
  return connectorFailure("refused", status);
}

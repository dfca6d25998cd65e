import type { ConnectorFactory, ConnectorFailure } from "../../../platform/connectors/index.ts";
import {
  CONNECTOR_DEFAULTS,
  HttpConnector,
  type HttpConnectorDefinition,
} from "../../../platform/connectors/index.ts";

/**
 * The outbound side of the payment rail: submits pacs.008 messages through the `payment-rail`
 * connector. Every call carries an `Idempotency-Key`, so a submission whose answer was lost can
 * be retried without paying twice; the result says whether a retry is worth it. The rail's
 * verdict on the payment itself arrives later as a signed pacs.002 webhook.
 */

export const RAIL_CONNECTOR_NAME = "payment-rail";

export interface RailClientOptions {
  baseUrl: string;
  /** Upper bound on one submission, connection and answer included. */
  timeoutMs: number;
  /**
   * The longest wait of the rail outbox between two sends of a message. An open circuit lets a
   * trial call through after at most this long, so the breaker never holds back a recovered rail
   * longer than the outbox itself would.
   */
  retryBackoffMaxMs?: number;
  /** The app's connectors (allow-list, metrics, `/ready`); without it, a connector pinned to `baseUrl`. */
  connectors?: ConnectorFactory;
  fetch?: typeof globalThis.fetch;
}

export type RailSubmitFailure =
  | "timeout"
  | "network"
  | "rejected"
  | "unavailable"
  | "circuit-open"
  | "bulkhead-full"
  | "host-not-allowed"
  | "plaintext-not-allowed"
  | "invalid-response";

export type RailSubmitResult =
  | { accepted: true; status: number }
  | { accepted: false; retryable: boolean; reason: RailSubmitFailure; status?: number };

/**
 * Only a 4xx is final: the rail read the message and refused it. Everything else keeps the
 * message queued: after a timeout or an odd answer the rail may have taken the payment, and our
 * own refusals (open circuit, full bulkhead, a host off the allow-list) sent nothing, so giving
 * up would refund a payment for a reason that is not the payment's.
 */
function toSubmitResult(failure: ConnectorFailure): RailSubmitResult {
  const reason: RailSubmitFailure = failure.code === "refused" ? "rejected" : failure.code;
  return {
    accepted: false,
    retryable: failure.code !== "refused",
    reason,
    ...(failure.status === undefined ? {} : { status: failure.status }),
  };
}

export class RailClient {
  readonly #connector: HttpConnector;

  constructor(options: RailClientOptions) {
    if (!(options.timeoutMs > 0)) throw new Error("RailClient timeoutMs must be positive");
    const definition: HttpConnectorDefinition = {
      name: RAIL_CONNECTOR_NAME,
      baseUrl: options.baseUrl,
      timeoutMs: options.timeoutMs,
      // One attempt per send: the rail outbox already retries every message durably, with its
      // own backoff; retrying here as well would hold up the rest of the send batch.
      retry: { attemptsMax: 1 },
      ...(options.retryBackoffMaxMs === undefined
        ? {}
        : {
            breaker: {
              halfOpenAfterMs: Math.min(
                options.retryBackoffMaxMs,
                (options.connectors?.defaults ?? CONNECTOR_DEFAULTS).breakerHalfOpenAfterMs,
              ),
            },
          }),
      ...(options.fetch ? { fetch: options.fetch } : {}),
    };
    this.#connector = options.connectors
      ? options.connectors.http(definition)
      : HttpConnector.pinnedTo(definition);
  }

  async submitCreditTransfer(xml: string, idempotencyKey: string): Promise<RailSubmitResult> {
    if (idempotencyKey.length === 0) throw new Error("an Idempotency-Key is required");
    const result = await this.#connector.request({
      method: "POST",
      path: "/v1/pacs008",
      headers: { "content-type": "application/xml" },
      body: xml,
      idempotencyKey,
      read: "none",
    });
    if (!result.ok) return toSubmitResult(result.failure);
    return { accepted: true, status: result.value.status };
  }
}

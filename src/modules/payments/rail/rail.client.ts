/**
 * The outbound side of the payment rail: submits pacs.008 messages. Every call carries an
 * `Idempotency-Key`, so a submission whose answer was lost can be retried without paying twice;
 * the result says whether a retry is worth it. The rail's verdict on the payment itself arrives
 * later as a signed pacs.002 webhook.
 */

export interface RailClientOptions {
  baseUrl: string;
  /** Upper bound on one submission, connection and answer included. */
  timeoutMs: number;
  fetch?: typeof globalThis.fetch;
}

export type RailSubmitFailure = "timeout" | "network" | "rejected" | "unavailable";

export type RailSubmitResult =
  | { accepted: true; status: number }
  | { accepted: false; retryable: boolean; reason: RailSubmitFailure; status?: number };

/**
 * 408 and 429 are the rail telling us to come back later, not that the message is wrong, so they
 * are retried like 5xx; every other 4xx would fail the same way again.
 */
function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

export class RailClient {
  readonly #baseUrl: string;
  readonly #timeoutMs: number;
  readonly #fetch: typeof globalThis.fetch;

  constructor(options: RailClientOptions) {
    if (!(options.timeoutMs > 0)) throw new Error("RailClient timeoutMs must be positive");
    this.#baseUrl = new URL(options.baseUrl).toString().replace(/\/+$/, "");
    this.#timeoutMs = options.timeoutMs;
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  async submitCreditTransfer(xml: string, idempotencyKey: string): Promise<RailSubmitResult> {
    if (idempotencyKey.length === 0) throw new Error("an Idempotency-Key is required");
    let response: Response;
    try {
      response = await this.#fetch(`${this.#baseUrl}/v1/pacs008`, {
        method: "POST",
        headers: { "content-type": "application/xml", "idempotency-key": idempotencyKey },
        body: xml,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      const timedOut =
        error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
      return { accepted: false, retryable: true, reason: timedOut ? "timeout" : "network" };
    }
    // The body is not needed; cancelling it frees the connection for the next submission.
    await response.body?.cancel().catch(() => undefined);
    if (response.ok) return { accepted: true, status: response.status };
    const retryable = isRetryableStatus(response.status);
    return {
      accepted: false,
      retryable,
      reason: retryable ? "unavailable" : "rejected",
      status: response.status,
    };
  }
}

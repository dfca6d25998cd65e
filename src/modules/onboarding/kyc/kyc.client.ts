import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  type IPolicy,
  retry,
  TaskCancelledError,
  TimeoutStrategy,
  timeout,
  wrap,
} from "cockatiel";
import { Compile } from "typebox/compile";
import {
  KycSubmissionResponseSchema,
  type KycVerificationRequest,
  KycVerificationResourceSchema,
} from "./kyc.schemas.ts";
import { type KycResult, toKycResult } from "./kyc-result.ts";

/**
 * The outbound side of the KYC provider: submits an applicant for verification and reads a
 * verification back (the polling fallback when its webhook does not arrive). Each attempt has a
 * timeout; network failures, timeouts and 5xx/408/429 are retried with backoff; a circuit breaker
 * stops calling a provider that keeps failing, so onboarding fails fast instead of piling up.
 * Submissions carry an `Idempotency-Key`, so a retried POST never opens a second verification.
 *
 * Nothing here logs, and no failure carries a response body or an applicant's field: the
 * requests are full of personal data (names, dates of birth, document numbers).
 */

export interface KycClientOptions {
  baseUrl: string;
  /** Sent in `x-api-key` on every call. */
  apiKey: string;
  /** Upper bound on one attempt, connection and answer included. */
  timeoutMs: number;
  /** Attempts per call, the first included (1 = no retry). */
  attemptsMax?: number;
  retryBackoffMs?: number;
  retryBackoffMaxMs?: number;
  /** Consecutive failed attempts that open the circuit. */
  breakerFailuresMax?: number;
  /** How long an open circuit refuses calls before it lets one through to test the provider. */
  breakerHalfOpenAfterMs?: number;
  fetch?: typeof globalThis.fetch;
}

export type KycFailureCode =
  /** An attempt took longer than `timeoutMs`. */
  | "timeout"
  /** The provider could not be reached. */
  | "network"
  /** The provider answered 5xx, 408 or 429. */
  | "unavailable"
  /** Too many recent failures: not called at all, for `breakerHalfOpenAfterMs`. */
  | "circuit-open"
  /** 401 or 403: our API key is wrong; retrying cannot help. */
  | "unauthorized"
  | "not-found"
  /** 409 or 422: this Idempotency-Key was used with another request. */
  | "conflict"
  /** Any other 4xx: the request is wrong. */
  | "rejected"
  /** A 2xx whose body is not what the contract says. */
  | "invalid-response";

export interface KycFailure {
  code: KycFailureCode;
  /** Whether the same call may succeed later (a workflow step retries these). */
  retryable: boolean;
  status?: number;
}

export type KycSubmitResult = { ok: true; verificationId: string } | { ok: false; failure: KycFailure };

export type KycPollResult =
  | { ok: true; pending: true; verificationId: string; reference: string }
  | { ok: true; pending: false; result: KycResult }
  | { ok: false; failure: KycFailure };

export type KycCircuitState = "closed" | "open" | "half-open";

/** Far larger than any answer of the provider; a larger one is refused unparsed. */
const RESPONSE_MAX_CHARS = 65_536;
const IDEMPOTENCY_KEY_MAX_LENGTH = 255;
const submissionResponse = Compile(KycSubmissionResponseSchema);
const verificationResource = Compile(KycVerificationResourceSchema);

/** A failure worth another attempt; thrown inside the policy so that retry and breaker see it. */
class TransientFailure extends Error {
  readonly failure: KycFailure;
  constructor(failure: KycFailure) {
    super(`KYC provider: ${failure.code}`);
    this.failure = failure;
  }
}

function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

function finalFailure(status: number): KycFailure {
  if (status === 401 || status === 403) return { code: "unauthorized", retryable: false, status };
  if (status === 404) return { code: "not-found", retryable: false, status };
  if (status === 409 || status === 422) return { code: "conflict", retryable: false, status };
  return { code: "rejected", retryable: false, status };
}

function whole(name: string, value: number, minimum: number, maximum: number): number {
  if (!Number.isInteger(value) || value < minimum || value > maximum) {
    throw new Error(`KycClient ${name} must be a whole number from ${minimum} to ${maximum}`);
  }
  return value;
}

type Answer = { status: number; body: unknown } | { status: number; failure: KycFailure };

export class KycClient {
  readonly #baseUrl: string;
  readonly #apiKey: string;
  readonly #fetch: typeof globalThis.fetch;
  readonly #policy: IPolicy;
  readonly #breaker: ReturnType<typeof circuitBreaker>;

  constructor(options: KycClientOptions) {
    if (options.apiKey.length === 0) throw new Error("KycClient apiKey must not be empty");
    this.#baseUrl = new URL(options.baseUrl).toString().replace(/\/+$/, "");
    this.#apiKey = options.apiKey;
    this.#fetch = options.fetch ?? globalThis.fetch;
    const timeoutMs = whole("timeoutMs", options.timeoutMs, 1, 120_000);
    const retryBackoffMs = whole("retryBackoffMs", options.retryBackoffMs ?? 100, 1, 60_000);
    const transient = handleWhen(
      (error) => error instanceof TransientFailure || error instanceof TaskCancelledError,
    );
    const retryPolicy = retry(transient, {
      maxAttempts: whole("attemptsMax", options.attemptsMax ?? 3, 1, 10) - 1,
      backoff: new ExponentialBackoff({
        initialDelay: retryBackoffMs,
        maxDelay: whole("retryBackoffMaxMs", options.retryBackoffMaxMs ?? 2_000, retryBackoffMs, 600_000),
      }),
    });
    this.#breaker = circuitBreaker(transient, {
      breaker: new ConsecutiveBreaker(whole("breakerFailuresMax", options.breakerFailuresMax ?? 5, 1, 1_000)),
      halfOpenAfter: whole("breakerHalfOpenAfterMs", options.breakerHalfOpenAfterMs ?? 30_000, 1, 3_600_000),
    });
    // Retry outermost: every attempt passes the breaker and has its own timeout; once the circuit
    // opens, BrokenCircuitError is not transient, so the remaining retries are skipped.
    this.#policy = wrap(retryPolicy, this.#breaker, timeout(timeoutMs, TimeoutStrategy.Aggressive));
  }

  /**
   * Submits an applicant. The Idempotency-Key defaults to the reference: a retry of the same
   * submission (a lost answer, a workflow step run again) gets the same verification back. Send
   * a new key (e.g. `<application id>:<attempt>`) to verify corrected data under the same reference.
   */
  async submitVerification(
    request: KycVerificationRequest,
    options: { idempotencyKey?: string } = {},
  ): Promise<KycSubmitResult> {
    const key = options.idempotencyKey ?? request.reference;
    if (key.length === 0 || key.length > IDEMPOTENCY_KEY_MAX_LENGTH) {
      throw new Error("an Idempotency-Key of 1 to 255 characters is required");
    }
    const answer = await this.#call("/v1/verifications", {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": key },
      body: JSON.stringify(request),
    });
    if ("failure" in answer) return { ok: false, failure: answer.failure };
    if (!submissionResponse.Check(answer.body)) return invalidResponse(answer.status);
    return { ok: true, verificationId: answer.body.verificationId };
  }

  /** Reads a verification: pending, or decided with the same `KycResult` its webhook carries. */
  async getVerification(verificationId: string): Promise<KycPollResult> {
    if (!/^[A-Za-z0-9_.:-]{1,100}$/.test(verificationId)) throw new Error("not a verification id");
    const answer = await this.#call(`/v1/verifications/${encodeURIComponent(verificationId)}`, {
      method: "GET",
    });
    if ("failure" in answer) return { ok: false, failure: answer.failure };
    if (!verificationResource.Check(answer.body)) return invalidResponse(answer.status);
    const resource = answer.body;
    if (resource.verificationId !== verificationId) return invalidResponse(answer.status);
    const result = toKycResult(resource);
    if (result === "invalid") return invalidResponse(answer.status);
    if (result === "pending") {
      return { ok: true, pending: true, verificationId, reference: resource.reference };
    }
    return { ok: true, pending: false, result };
  }

  /** For health checks and metrics. */
  circuitState(): KycCircuitState {
    const state = this.#breaker.state;
    if (state === CircuitState.Closed) return "closed";
    return state === CircuitState.HalfOpen ? "half-open" : "open";
  }

  async #call(path: string, init: RequestInit): Promise<Answer> {
    try {
      return await this.#policy.execute(({ signal }) => this.#attempt(path, init, signal));
    } catch (error) {
      if (error instanceof TransientFailure) return { status: 0, failure: error.failure };
      if (error instanceof TaskCancelledError) {
        return { status: 0, failure: { code: "timeout", retryable: true } };
      }
      if (error instanceof BrokenCircuitError) {
        return { status: 0, failure: { code: "circuit-open", retryable: true } };
      }
      throw error;
    }
  }

  /** One attempt: throws TransientFailure for what is worth retrying, answers everything else. */
  async #attempt(path: string, init: RequestInit, signal: AbortSignal): Promise<Answer> {
    let response: Response;
    try {
      response = await this.#fetch(`${this.#baseUrl}${path}`, {
        ...init,
        headers: {
          ...(init.headers as Record<string, string>),
          accept: "application/json",
          "x-api-key": this.#apiKey,
        },
        signal,
      });
    } catch {
      // A timeout aborts the signal; the policy reports it as a timeout, whatever fetch threw.
      if (signal.aborted) throw new TaskCancelledError("KYC provider timed out");
      throw new TransientFailure({ code: "network", retryable: true });
    }
    if (isRetryableStatus(response.status)) {
      await response.body?.cancel().catch(() => undefined);
      throw new TransientFailure({ code: "unavailable", retryable: true, status: response.status });
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => undefined);
      return { status: response.status, failure: finalFailure(response.status) };
    }
    return { status: response.status, body: await jsonBody(response) };
  }
}

async function jsonBody(response: Response): Promise<unknown> {
  try {
    const text = await response.text();
    return text.length > RESPONSE_MAX_CHARS ? undefined : (JSON.parse(text) as unknown);
  } catch {
    return undefined;
  }
}

function invalidResponse(status: number): { ok: false; failure: KycFailure } {
  return { ok: false, failure: { code: "invalid-response", retryable: false, status } };
}

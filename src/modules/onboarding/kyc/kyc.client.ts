import { Compile } from "typebox/compile";
import {
  type BreakerState,
  type ConnectorFactory,
  type ConnectorFailure,
  HttpConnector,
  type HttpConnectorDefinition,
  type HttpRequest,
} from "../../../platform/connectors/index.ts";
import {
  KycSubmissionResponseSchema,
  type KycVerificationRequest,
  KycVerificationResourceSchema,
} from "./kyc.schemas.ts";
import { type KycResult, toKycResult } from "./kyc-result.ts";

/**
 * The outbound side of the KYC provider: submits an applicant for verification and reads a
 * verification back (the polling fallback when its webhook does not arrive). Calls go through
 * the `kyc-provider` connector: each attempt has a timeout; network failures, timeouts and
 * 5xx/408/429 are retried with backoff; a circuit breaker stops calling a provider that keeps
 * failing, so onboarding fails fast instead of piling up. Submissions carry an
 * `Idempotency-Key`, so a retried POST never opens a second verification.
 *
 * Nothing here logs, and no failure carries a response body or an applicant's field: the
 * requests are full of personal data (names, dates of birth, document numbers).
 */

export const KYC_CONNECTOR_NAME = "kyc-provider";

export interface KycClientOptions {
  baseUrl: string;
  /** Sent in `x-api-key` on every call. */
  apiKey: string;
  /** Upper bound on one attempt, connection and answer included. */
  timeoutMs: number;
  /** Attempts per call, the first included (1 = no retry). Default: the connector default. */
  attemptsMax?: number;
  retryBackoffMs?: number;
  retryBackoffMaxMs?: number;
  /** Consecutive failed attempts that open the circuit. */
  breakerFailuresMax?: number;
  /** How long an open circuit refuses calls before it lets one through to test the provider. */
  breakerHalfOpenAfterMs?: number;
  /** The app's connectors (allow-list, metrics, `/ready`); without it, a connector pinned to `baseUrl`. */
  connectors?: ConnectorFactory;
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
  /** Too many calls to the provider in flight on this node: not called. */
  | "bulkhead-full"
  /** The provider's host is not on the outbound allow-list, or plaintext to it is not allowed. */
  | "host-not-allowed"
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

export type KycCircuitState = BreakerState;

/** Far larger than any answer of the provider; a larger one is refused unparsed. */
const RESPONSE_MAX_BYTES = 65_536;
const IDEMPOTENCY_KEY_MAX_LENGTH = 255;
const submissionResponse = Compile(KycSubmissionResponseSchema);
const verificationResource = Compile(KycVerificationResourceSchema);

function refusalFailure(status: number): KycFailure {
  if (status === 401 || status === 403) return { code: "unauthorized", retryable: false, status };
  if (status === 404) return { code: "not-found", retryable: false, status };
  if (status === 409 || status === 422) return { code: "conflict", retryable: false, status };
  return { code: "rejected", retryable: false, status };
}

/** The connector's failure in the provider's terms; the codes and `retryable` are unchanged. */
function toKycFailure(failure: ConnectorFailure): KycFailure {
  if (failure.code === "refused") return refusalFailure(failure.status ?? 400);
  const code: KycFailureCode = failure.code === "plaintext-not-allowed" ? "host-not-allowed" : failure.code;
  return {
    code,
    retryable: failure.retryable,
    ...(failure.status === undefined ? {} : { status: failure.status }),
  };
}

type Answer = { status: number; body: unknown } | { status: number; failure: KycFailure };

export class KycClient {
  readonly #apiKey: string;
  readonly #connector: HttpConnector;

  constructor(options: KycClientOptions) {
    if (options.apiKey.length === 0) throw new Error("KycClient apiKey must not be empty");
    this.#apiKey = options.apiKey;
    const definition: HttpConnectorDefinition = {
      name: KYC_CONNECTOR_NAME,
      baseUrl: options.baseUrl,
      timeoutMs: options.timeoutMs,
      retry: {
        ...(options.attemptsMax === undefined ? {} : { attemptsMax: options.attemptsMax }),
        ...(options.retryBackoffMs === undefined ? {} : { backoffInitialMs: options.retryBackoffMs }),
        ...(options.retryBackoffMaxMs === undefined ? {} : { backoffMaxMs: options.retryBackoffMaxMs }),
      },
      breaker: {
        ...(options.breakerFailuresMax === undefined ? {} : { failuresMax: options.breakerFailuresMax }),
        ...(options.breakerHalfOpenAfterMs === undefined
          ? {}
          : { halfOpenAfterMs: options.breakerHalfOpenAfterMs }),
      },
      responseBodyMaxBytes: RESPONSE_MAX_BYTES,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    };
    this.#connector = options.connectors
      ? options.connectors.http(definition)
      : HttpConnector.pinnedTo(definition);
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
    const answer = await this.#call({
      method: "POST",
      path: "/v1/verifications",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(request),
      idempotencyKey: key,
    });
    if ("failure" in answer) return { ok: false, failure: answer.failure };
    if (!submissionResponse.Check(answer.body)) return invalidResponse(answer.status);
    return { ok: true, verificationId: answer.body.verificationId };
  }

  /** Reads a verification: pending, or decided with the same `KycResult` its webhook carries. */
  async getVerification(verificationId: string): Promise<KycPollResult> {
    if (!/^[A-Za-z0-9_.:-]{1,100}$/.test(verificationId)) throw new Error("not a verification id");
    const answer = await this.#call({
      method: "GET",
      path: `/v1/verifications/${encodeURIComponent(verificationId)}`,
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
    return this.#connector.state;
  }

  async #call(request: Omit<HttpRequest, "read">): Promise<Answer> {
    const result = await this.#connector.request({
      ...request,
      headers: { ...request.headers, accept: "application/json", "x-api-key": this.#apiKey },
      read: "text",
    });
    if (!result.ok) return { status: result.failure.status ?? 0, failure: toKycFailure(result.failure) };
    return { status: result.value.status, body: parseJson(result.value.text) };
  }
}

function parseJson(text: string | undefined): unknown {
  try {
    return text === undefined ? undefined : (JSON.parse(text) as unknown);
  } catch {
    return undefined;
  }
}

function invalidResponse(status: number): { ok: false; failure: KycFailure } {
  return { ok: false, failure: { code: "invalid-response", retryable: false, status } };
}

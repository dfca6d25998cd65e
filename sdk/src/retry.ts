import { NetworkError, problemSlug } from "./errors.ts";

/** How the transport retries; every number has an upper bound (architecture rule 11). */
export interface RetryPolicy {
  /** Attempts in total, the first one included. */
  attemptsMax: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Per-attempt timeout: an answer slower than this counts as lost. */
  attemptTimeoutMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  attemptsMax: 5,
  baseDelayMs: 200,
  maxDelayMs: 10_000,
  attemptTimeoutMs: 15_000,
};

/** Injected so tests are deterministic: they never wait on wall-clock time. */
export interface Scheduler {
  /** Resolves after `ms`, or early once `signal` aborts (a scheduler may ignore the signal). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  random(): number;
  now(): number;
}

export const defaultScheduler: Scheduler = {
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener("abort", done, { once: true });
    }),
  random: Math.random,
  now: Date.now,
};

/** Exponential backoff with full jitter: uniform in [0, min(max, base · 2^attempt)). */
export function backoffDelayMs(policy: RetryPolicy, attempt: number, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.floor(random() * ceiling);
}

/**
 * A request may be sent again only when sending it twice cannot do a thing twice: reads, and
 * commands that carry an Idempotency-Key (the server returns the first result for the same key).
 */
export function isIdempotent(method: string, headers: Headers): boolean {
  const upper = method.toUpperCase();
  if (upper === "GET" || upper === "HEAD" || upper === "OPTIONS") return true;
  return headers.has("idempotency-key");
}

const RETRYABLE_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

/** Whether an answer is a transient one worth another attempt (for an idempotent request). */
export function isRetryableResponse(status: number, problemType: string | undefined): boolean {
  if (RETRYABLE_STATUSES.has(status)) return true;
  // The first request with this key is still running on the server: ask again for its result.
  return (
    status === 409 &&
    problemSlug(problemType ? { type: problemType } : undefined) === "idempotency-key-in-flight"
  );
}

/** A fully buffered request, so it can be sent any number of times. */
export interface PreparedRequest {
  method: string;
  url: string;
  headers: Headers;
  body: ArrayBuffer | undefined;
}

export async function prepare(request: Request): Promise<PreparedRequest> {
  const method = request.method.toUpperCase();
  const body = method === "GET" || method === "HEAD" ? undefined : await request.arrayBuffer();
  return {
    method,
    url: request.url,
    headers: new Headers(request.headers),
    body: body && body.byteLength > 0 ? body : undefined,
  };
}

const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/**
 * Sends once with a timeout and reads the whole body inside the attempt, so a connection cut in
 * the middle of a response is a failed attempt (retryable) rather than an error later in the app.
 */
export async function sendOnce(
  fetchImpl: typeof fetch,
  prepared: PreparedRequest,
  timeoutMs: number,
): Promise<Response> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const response = await fetchImpl(prepared.url, {
      method: prepared.method,
      headers: prepared.headers,
      ...(prepared.body ? { body: prepared.body } : {}),
      signal: controller.signal,
    });
    const body = NULL_BODY_STATUSES.has(response.status) ? null : await response.arrayBuffer();
    return new Response(body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  } catch (error) {
    throw new NetworkError(`${prepared.method} ${prepared.url} failed: ${(error as Error).message}`, {
      cause: error,
    });
  } finally {
    clearTimeout(timer);
  }
}

/** The problem type of a buffered response, if it is problem+json. */
export async function peekProblemType(response: Response): Promise<string | undefined> {
  if (!response.headers.get("content-type")?.includes("json")) return undefined;
  try {
    const body = (await response.clone().json()) as { type?: unknown };
    return typeof body.type === "string" ? body.type : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs `attempt` under the policy: idempotent requests are retried on network failures and
 * transient answers with backoff and jitter; anything else gets exactly one attempt.
 */
export async function withRetries(
  prepared: PreparedRequest,
  policy: RetryPolicy,
  scheduler: Scheduler,
  attempt: () => Promise<Response>,
): Promise<Response> {
  const retryable = isIdempotent(prepared.method, prepared.headers);
  const attemptsMax = retryable ? Math.max(1, policy.attemptsMax) : 1;
  for (let index = 0; ; index++) {
    const last = index + 1 >= attemptsMax;
    try {
      const response = await attempt();
      if (last || !isRetryableResponse(response.status, await peekProblemType(response))) return response;
    } catch (error) {
      if (last || !(error instanceof NetworkError)) throw error;
    }
    await scheduler.sleep(backoffDelayMs(policy, index, scheduler.random));
  }
}

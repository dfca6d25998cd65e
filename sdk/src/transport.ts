import { problemSlug } from "./errors.ts";
import {
  type PreparedRequest,
  peekProblemType,
  prepare,
  type RetryPolicy,
  type Scheduler,
  sendOnce,
  withRetries,
} from "./retry.ts";
import type { TokenManager } from "./tokens.ts";

/** Endpoints that take no bearer token (the server rejects one on them or ignores it). */
const ANONYMOUS_PATHS = [
  "/v1/auth/login",
  "/v1/auth/login/mfa",
  "/v1/auth/register",
  "/v1/auth/refresh",
  "/v1/auth/passkeys/",
];

function isAnonymous(url: string): boolean {
  const path = new URL(url).pathname;
  return ANONYMOUS_PATHS.some((prefix) => (prefix.endsWith("/") ? path.startsWith(prefix) : path === prefix));
}

function withBearer(prepared: PreparedRequest, token: string | undefined): PreparedRequest {
  if (!token) return prepared;
  const headers = new Headers(prepared.headers);
  headers.set("authorization", `Bearer ${token}`);
  return { ...prepared, headers };
}

/** A 401 that a fresh access token can fix (not a request for a second factor). */
async function isTokenRejection(response: Response): Promise<boolean> {
  if (response.status !== 401) return false;
  const slug = problemSlug({ type: (await peekProblemType(response)) ?? "" });
  return slug !== "step-up-required" && slug !== "mfa-required";
}

export interface TransportOptions {
  fetch: typeof fetch;
  tokens: TokenManager;
  policy: RetryPolicy;
  scheduler: Scheduler;
}

/**
 * The SDK's fetch: bearer token (refreshed before expiry, and once after a 401), retries with
 * backoff for idempotent requests, whole bodies read inside each attempt.
 */
export function createTransport(options: TransportOptions): (request: Request) => Promise<Response> {
  const { tokens, policy, scheduler } = options;
  return async (request) => {
    const prepared = await prepare(request);
    const authenticated = !isAnonymous(prepared.url) && !prepared.headers.has("authorization");
    return withRetries(prepared, policy, scheduler, async () => {
      const token = authenticated ? await tokens.accessToken() : undefined;
      const response = await sendOnce(options.fetch, withBearer(prepared, token), policy.attemptTimeoutMs);
      if (!token || !(await isTokenRejection(response))) return response;
      // A 401 means the handler did not run, so sending again with a fresh token is safe for any request.
      const fresh = await tokens.afterRejection(token);
      return sendOnce(options.fetch, withBearer(prepared, fresh), policy.attemptTimeoutMs);
    });
  };
}

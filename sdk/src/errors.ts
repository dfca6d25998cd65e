/** The errors the SDK raises; every one has a stable `code` an app can branch on. */

/** The problem types the SDK reacts to, as the server names them (RFC 9457 `type`). */
export const PROBLEM_BASE_URI = "https://omnicore.dev/problems/";

export interface ProblemDetails {
  type: string;
  title?: string;
  status: number;
  detail?: string;
  requestId?: string;
  [extension: string]: unknown;
}

/** The last segment of a problem type URI: `https://omnicore.dev/problems/step-up-required` → `step-up-required`. */
export function problemSlug(problem: Pick<ProblemDetails, "type"> | undefined): string | undefined {
  if (!problem?.type) return undefined;
  return problem.type.startsWith(PROBLEM_BASE_URI)
    ? problem.type.slice(PROBLEM_BASE_URI.length)
    : problem.type;
}

export function isProblem(value: unknown): value is ProblemDetails {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as ProblemDetails).type === "string" &&
    typeof (value as ProblemDetails).status === "number"
  );
}

/** The server answered with a problem+json body. */
export class ApiProblemError extends Error {
  readonly code = "api-problem";
  readonly problem: ProblemDetails;
  constructor(problem: ProblemDetails) {
    super(`${problem.status} ${problemSlug(problem)}: ${problem.detail ?? problem.title ?? ""}`);
    this.name = "ApiProblemError";
    this.problem = problem;
  }
  get slug(): string | undefined {
    return problemSlug(this.problem);
  }
}

/** No answer reached the client (offline, connection cut, timeout); the request may or may not have run. */
export class NetworkError extends Error {
  readonly code = "network";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NetworkError";
  }
}

/** There is no session (never signed in, signed out, or the server ended it). */
export class SessionEndedError extends Error {
  readonly code = "session-ended";
  constructor(message = "Not signed in.") {
    super(message);
    this.name = "SessionEndedError";
  }
}

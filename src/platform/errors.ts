/**
 * The closed set of problem types a client can receive. The slug is the stable part of the
 * RFC 9457 `type` URI; clients switch on it, so a slug is never renamed once published.
 */
export const PROBLEM_TYPES = {
  validation: { status: 400, title: "The request is not valid" },
  unauthorized: { status: 401, title: "Authentication is required" },
  forbidden: { status: 403, title: "This action is not allowed" },
  "not-found": { status: 404, title: "The resource does not exist" },
  "method-not-allowed": { status: 405, title: "Method not allowed" },
  conflict: { status: 409, title: "The request conflicts with the current state" },
  "idempotency-key-in-flight": { status: 409, title: "A request with this Idempotency-Key is in progress" },
  "idempotency-key-reused": {
    status: 422,
    title: "This Idempotency-Key was used with a different request",
  },
  "step-up-required": {
    status: 401,
    title: "This operation needs strong authentication of exactly what is being approved",
  },
  "mfa-required": { status: 401, title: "A second factor is needed to finish signing in" },
  "mfa-enrolment-required": { status: 401, title: "A second factor must be enrolled to sign in" },
  "factor-locked": { status: 423, title: "Too many failed attempts: this factor is locked for a while" },
  "challenge-invalid": {
    status: 422,
    title: "The challenge is unknown, expired, used or for another operation",
  },
  "factor-rejected": { status: 422, title: "The second factor was not accepted" },
  "password-rejected": { status: 422, title: "The password does not meet the password policy" },
  "email-taken": { status: 409, title: "This e-mail address is already registered" },
  "insufficient-funds": { status: 422, title: "Insufficient funds" },
  "limit-exceeded": { status: 422, title: "The transfer exceeds a transfer limit" },
  "currency-mismatch": { status: 422, title: "The currencies do not match" },
  "account-not-active": { status: 422, title: "The account is not active" },
  "account-not-found": { status: 422, title: "No account of this bank has that IBAN" },
  "same-account": { status: 422, title: "Source and destination are the same account" },
  "invalid-amount": { status: 422, title: "The amount is not valid" },
  "invalid-iban": { status: 422, title: "The IBAN is not valid" },
  "payment-blocked": { status: 422, title: "The payment was refused by the bank's fraud checks" },
  "external-transfers-unavailable": {
    status: 422,
    title: "Payments to other banks are not available: no payment rail is configured",
  },
  "webhook-signature-invalid": {
    status: 401,
    title: "The webhook's signature is missing, wrong or outside the allowed time window",
  },
  "compliance-case-closed": {
    status: 409,
    title: "The compliance case is not in a state that allows this action",
  },
  "application-exists": { status: 409, title: "An onboarding application is already in progress" },
  "application-not-editable": { status: 409, title: "The application can no longer change" },
  "application-incomplete": { status: 422, title: "The application is missing sections or consents" },
  "application-not-reviewable": { status: 409, title: "The application is not waiting for a review" },
  "kyc-unavailable": { status: 503, title: "Identity verification is not available" },
  "payload-too-large": { status: 413, title: "The request body is too large" },
  "rate-limited": { status: 429, title: "Too many requests" },
  "legacy-exposure-exceeded": {
    status: 503,
    title:
      "The legacy core is unavailable and this payment would take the account's unposted payments over the exposure limit",
  },
  "service-unavailable": { status: 503, title: "The service is temporarily unavailable" },
  "security-alerts-required": {
    status: 422,
    title: "Security alerts cannot be switched off: at least one channel must stay on",
  },
  "sync-cursor-expired": {
    status: 410,
    title: "The sync cursor is malformed or older than the change log keeps: resync from a snapshot",
  },
  internal: { status: 500, title: "An unexpected error occurred" },
} as const satisfies Record<string, { status: number; title: string }>;

export type ProblemSlug = keyof typeof PROBLEM_TYPES;

export const PROBLEM_BASE_URI = "https://omnicore.dev/problems/";

/**
 * An expected failure that reaches the client as problem+json. Services return these as values
 * where the caller must branch on them, and throw them from thin handlers.
 */
export class AppError extends Error {
  readonly slug: ProblemSlug;
  readonly status: number;
  readonly extensions: Record<string, unknown>;
  constructor(slug: ProblemSlug, detail?: string, extensions: Record<string, unknown> = {}) {
    super(detail ?? PROBLEM_TYPES[slug].title);
    this.name = "AppError";
    this.slug = slug;
    this.status = PROBLEM_TYPES[slug].status;
    this.extensions = extensions;
  }
}

/** A broken invariant: never shown to a client in detail, always aborts the transaction. */
export class InvariantViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvariantViolation";
  }
}

export function assertInvariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InvariantViolation(message);
}

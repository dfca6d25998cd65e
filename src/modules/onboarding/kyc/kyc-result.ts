import type { KycOutcome, KycVerificationResource } from "./kyc.schemas.ts";

/**
 * The provider's decision on one verification, whichever way it reached us (webhook or polling):
 * both paths produce the same value for the same verification, so a receiver can deduplicate by
 * `verificationId` (a verification is decided once and never changes its outcome).
 */
export interface KycResult {
  verificationId: string;
  /** Our own reference sent with the submission (the onboarding application's id). */
  reference: string;
  outcome: KycOutcome;
  /** Stable codes such as `document_expired` or `manual_review`; empty when approved. */
  reasons: string[];
  documentVerified: boolean;
  decidedAt: Date;
}

/**
 * A decided resource as a `KycResult`, or `"pending"` while the provider is still deciding. A
 * decided status without a valid decision time is the provider breaking its contract: `"invalid"`.
 */
export function toKycResult(resource: KycVerificationResource): KycResult | "pending" | "invalid" {
  if (resource.status === "pending") return "pending";
  const decidedAt = resource.decidedAt === null ? Number.NaN : Date.parse(resource.decidedAt);
  if (!Number.isFinite(decidedAt)) return "invalid";
  return {
    verificationId: resource.verificationId,
    reference: resource.reference,
    outcome: resource.status,
    reasons: [...resource.reasons],
    documentVerified: resource.documentVerified,
    decidedAt: new Date(decidedAt),
  };
}

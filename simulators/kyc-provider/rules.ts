import type { KycApplicant, KycOutcome } from "../../src/modules/onboarding/kyc/kyc.schemas.ts";

/**
 * How the simulated provider decides, as data. Every rule that matches adds its reason; any
 * rejection reason rejects, otherwise any referral reason refers, otherwise the applicant is
 * approved (with no reasons):
 *
 * | rule                                                        | outcome  | reasons                              | document verified |
 * | ----------------------------------------------------------- | -------- | ------------------------------------ | ----------------- |
 * | `document.expiresOn` before today (UTC)                     | rejected | `document_expired`                   | no                |
 * | document number ends with `rejectDocumentSuffix` (`REJ`)    | rejected | `document_invalid`                   | no                |
 * | younger than `minimumAgeYears` (18) today                   | rejected | `applicant_underage`                 | yes               |
 * | document number starts with `referDocumentPrefix` (`REF`)   | referred | `manual_review`                      | yes               |
 * | document number starts with `unverifiedDocumentPrefix` (`UNV`) | (no change) | `document_unverified`            | no                |
 * | given + family name (either order) on `watchList`           | referred | `manual_review`, `watch_list_match`  | yes               |
 * | nationality in `referredNationalities` (none by default)    | referred | `manual_review`, `high_risk_country` | yes               |
 *
 * Names are compared without case, accents or extra spaces. The markers are compared without case.
 */
export interface KycDecisionRules {
  minimumAgeYears: number;
  rejectDocumentSuffix: string;
  referDocumentPrefix: string;
  /** The identity checks pass but the document could not be verified (basic KYC only). */
  unverifiedDocumentPrefix: string;
  watchList: readonly string[];
  /** ISO 3166-1 alpha-2 codes. */
  referredNationalities: readonly string[];
}

export const DEFAULT_KYC_RULES: KycDecisionRules = {
  minimumAgeYears: 18,
  rejectDocumentSuffix: "REJ",
  referDocumentPrefix: "REF",
  unverifiedDocumentPrefix: "UNV",
  watchList: ["Wanda Watchlist", "Peter Exposed"],
  referredNationalities: [],
};

export interface KycDecision {
  outcome: KycOutcome;
  reasons: string[];
  documentVerified: boolean;
}

export function normalisedName(name: string): string {
  return name
    .normalize("NFD")
    .replace(/\p{M}/gu, "")
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, " ")
    .trim();
}

/** Whole years from `dateOfBirth` (YYYY-MM-DD) to `today` (YYYY-MM-DD). */
export function ageYears(dateOfBirth: string, today: string): number {
  const years = Number(today.slice(0, 4)) - Number(dateOfBirth.slice(0, 4));
  return today.slice(5) < dateOfBirth.slice(5) ? years - 1 : years;
}

/** `today` is the decision date as YYYY-MM-DD (UTC); the function is pure. */
export function decideKyc(applicant: KycApplicant, rules: KycDecisionRules, today: string): KycDecision {
  const documentNumber = applicant.document.number.toUpperCase();
  const rejected: string[] = [];
  const referred: string[] = [];
  let documentVerified = true;
  if (applicant.document.expiresOn < today) {
    rejected.push("document_expired");
    documentVerified = false;
  }
  if (rules.rejectDocumentSuffix && documentNumber.endsWith(rules.rejectDocumentSuffix.toUpperCase())) {
    rejected.push("document_invalid");
    documentVerified = false;
  }
  if (ageYears(applicant.dateOfBirth, today) < rules.minimumAgeYears) rejected.push("applicant_underage");
  if (rules.referDocumentPrefix && documentNumber.startsWith(rules.referDocumentPrefix.toUpperCase())) {
    referred.push("manual_review");
  }
  if (onWatchList(applicant, rules.watchList)) referred.push("manual_review", "watch_list_match");
  if (rules.referredNationalities.includes(applicant.nationality)) {
    referred.push("manual_review", "high_risk_country");
  }
  const unverified =
    rules.unverifiedDocumentPrefix !== "" &&
    documentNumber.startsWith(rules.unverifiedDocumentPrefix.toUpperCase());
  if (unverified) documentVerified = false;
  if (rejected.length > 0) return { outcome: "rejected", reasons: rejected, documentVerified };
  if (referred.length > 0) return { outcome: "referred", reasons: [...new Set(referred)], documentVerified };
  return { outcome: "approved", reasons: unverified ? ["document_unverified"] : [], documentVerified };
}

function onWatchList(applicant: KycApplicant, watchList: readonly string[]): boolean {
  const given = normalisedName(applicant.givenName);
  const family = normalisedName(applicant.familyName);
  const names = new Set([`${given} ${family}`, `${family} ${given}`]);
  return watchList.some((entry) => names.has(normalisedName(entry)));
}

/** A calendar date that exists (the schema checks only the shape YYYY-MM-DD). */
export function isCalendarDate(value: string): boolean {
  const time = Date.parse(`${value}T00:00:00Z`);
  return Number.isFinite(time) && new Date(time).toISOString().slice(0, 10) === value;
}

import type { Kysely } from "kysely";
import type { Tx } from "../../platform/db/database.ts";

export const APPLICATION_STATUSES = [
  "draft",
  "submitted",
  "referred",
  "approved",
  "rejected",
  "active",
  "activation_failed",
] as const;
export type ApplicationStatus = (typeof APPLICATION_STATUSES)[number];

/** The statuses in which a customer has an application in progress (at most one). */
export const OPEN_STATUSES: readonly ApplicationStatus[] = ["draft", "submitted", "referred", "approved"];

export type KycLevel = "basic" | "full";

export interface ApplicationRow {
  id: string;
  customer_id: string;
  status: ApplicationStatus;
  channel_started: string;
  channel_last: string;
  personal: unknown;
  address: unknown;
  tax_residences: unknown;
  document: unknown;
  consents: unknown;
  screening: unknown;
  risk: unknown;
  kyc_verification_id: string | null;
  kyc_submitted_at: Date | null;
  kyc_result: unknown;
  kyc_level: KycLevel | null;
  upgrade_verification_id: string | null;
  upgrade_submitted_at: Date | null;
  referral_reasons: unknown;
  decision: unknown;
  account_id: string | null;
  submitted_at: Date | null;
  decided_at: Date | null;
  activated_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface KycResultRow {
  verification_id: string;
  application_id: string;
  outcome: string;
  received_via: "webhook" | "poll";
  received_at: Date;
}

export interface OnboardingTables {
  onboarding_applications: ApplicationRow;
  onboarding_kyc_results: KycResultRow;
}

export type OnboardingDb = Kysely<OnboardingTables>;

export function onboardingTx(tx: Tx): OnboardingDb {
  return tx as unknown as OnboardingDb;
}

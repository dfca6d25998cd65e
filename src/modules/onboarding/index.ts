import { join } from "node:path";
import type { MigrationSource } from "../../platform/db/migrations.ts";

export { ACTIVATION_WORKFLOW, tierFor } from "./activation.ts";
/**
 * Instant onboarding: applications from any channel, sanctions screening and risk rating on
 * submission, identity verification by the KYC provider (./kyc), analysts' review of referrals,
 * and activation as a workflow (./activation.ts).
 */
export type { ApplicationDto, ApplicationReviewDto } from "./application.ts";
export { createKycConnector, type KycConnector } from "./kyc/index.ts";
export { registerOnboardingRoutes } from "./onboarding.routes.ts";
export {
  type ApplicantScreening,
  type OnboardingAccounts,
  type OnboardingConfig,
  type OnboardingCustomers,
  OnboardingService,
} from "./onboarding.service.ts";
export { type RiskRating, rateRisk } from "./risk-rating.ts";

export const migrations: MigrationSource = {
  module: "onboarding",
  directory: join(import.meta.dirname, "migrations"),
};

export const ONBOARDING_EVENTS = [
  "onboarding.application_started",
  "onboarding.application_submitted",
  "onboarding.application_referred",
  "onboarding.application_approved",
  "onboarding.application_rejected",
  "onboarding.application_activated",
  "onboarding.activation_failed",
] as const;

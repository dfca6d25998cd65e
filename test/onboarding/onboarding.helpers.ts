import { expect } from "vitest";
import {
  type KycProviderSimulator,
  type KycProviderSimulatorOptions,
  startKycProviderSimulator,
} from "../../simulators/kyc-provider/server.ts";
import { freePort } from "../helpers/ports.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";
import { bearer } from "../identity.helpers.ts";

/**
 * The onboarding journey end to end: the app listens on a real port and the KYC provider
 * simulator calls it back over HTTP with signed decisions, as a real provider would.
 */

export const KYC_API_KEY = "onboarding-test-kyc-key";
export const KYC_SECRET = "onboarding-test-kyc-secret-0123456789";

export interface ApplicationBody {
  id: string;
  customerId: string;
  status: string;
  channelStarted: string;
  channelLast: string;
  missing: string[];
  kycLevel: string | null;
  referralReasons: string[];
  accountId: string | null;
  consents: Array<{ kind: string; version: string; accepted: boolean; at: string }>;
}

const cleanups: Array<() => Promise<void>> = [];

export async function cleanUpOnboarding(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}

export async function onboardingSetup(
  kyc: Partial<KycProviderSimulatorOptions> = {},
  env: Record<string, string> = {},
): Promise<{ app: TestApp; provider: KycProviderSimulator }> {
  const provider = await startKycProviderSimulator({
    apiKey: KYC_API_KEY,
    webhookSecret: KYC_SECRET,
    latencyMs: 5,
    callbackBackoffMs: 10,
    ...kyc,
  });
  cleanups.push(() => provider.close());
  const appPort = await freePort();
  const app = await createTestApp({
    env: {
      PORT: String(appPort),
      HOST: "127.0.0.1",
      OMNICORE_KYC_URL: provider.url,
      OMNICORE_KYC_API_KEY: KYC_API_KEY,
      OMNICORE_KYC_WEBHOOK_SECRET: KYC_SECRET,
      OMNICORE_KYC_POLL_AFTER_S: "1",
      OMNICORE_ONBOARDING_WORKER_INTERVAL_MS: "100",
      OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "10000",
      ...env,
    },
  });
  cleanups.push(() => app.destroy());
  await app.listen();
  return { app, provider };
}

/** A complete applicant; `document.number` drives the simulator's decision (REF…, …REJ). */
export function applicant(
  overrides: {
    givenName?: string;
    familyName?: string;
    dateOfBirth?: string;
    documentNumber?: string;
    nationality?: string;
  } = {},
) {
  return {
    personal: {
      givenName: overrides.givenName ?? "Grace",
      familyName: overrides.familyName ?? "Hopper",
      dateOfBirth: overrides.dateOfBirth ?? "1986-12-09",
      nationality: overrides.nationality ?? "DE",
    },
    address: { line1: "Hauptstrasse 1", postalCode: "10115", city: "Berlin", country: "DE" },
    taxResidences: [{ country: "DE", taxId: "12345678901" }],
    document: {
      type: "passport" as const,
      number: overrides.documentNumber ?? "C01X00T47",
      issuingCountry: "DE",
      expiresOn: "2031-01-31",
    },
    consents: [
      { kind: "terms" as const, version: "2026-10", accepted: true },
      { kind: "privacy" as const, version: "2026-10", accepted: true },
      { kind: "marketing" as const, version: "2026-10", accepted: false },
    ],
  };
}

export async function startApplication(app: TestApp, token: string, headers: Record<string, string> = {}) {
  const response = await app.http.inject({
    method: "POST",
    url: "/v1/onboarding/applications",
    headers: { ...bearer(token), ...headers },
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json<ApplicationBody>();
}

export async function patchApplication(
  app: TestApp,
  token: string,
  id: string,
  payload: Record<string, unknown>,
) {
  return app.http.inject({
    method: "PATCH",
    url: `/v1/onboarding/applications/${id}`,
    headers: bearer(token),
    payload,
  });
}

export async function submitApplication(app: TestApp, token: string, id: string) {
  return app.http.inject({
    method: "POST",
    url: `/v1/onboarding/applications/${id}/submit`,
    headers: bearer(token),
  });
}

export async function readApplication(app: TestApp, token: string, id: string) {
  const response = await app.http.inject({
    method: "GET",
    url: `/v1/onboarding/applications/${id}`,
    headers: bearer(token),
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<ApplicationBody>();
}

/** Start, fill in and submit; returns the submitted application. */
export async function apply(app: TestApp, token: string, data = applicant()): Promise<ApplicationBody> {
  const started = await startApplication(app, token);
  const patched = await patchApplication(app, token, started.id, data);
  expect(patched.statusCode, patched.body).toBe(200);
  const submitted = await submitApplication(app, token, started.id);
  expect(submitted.statusCode, submitted.body).toBe(202);
  return submitted.json<ApplicationBody>();
}

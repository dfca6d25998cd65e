import {
  type KycProviderSimulator,
  type KycProviderSimulatorOptions,
  startKycProviderSimulator,
} from "../../../simulators/kyc-provider/server.ts";
import {
  KycClient,
  type KycClientOptions,
  type KycVerificationRequest,
} from "../../../src/modules/onboarding/kyc/index.ts";
import { ManualClock } from "../../../src/platform/clock.ts";
import { type Callback, startCallbackReceiver } from "../../helpers/callback-receiver.ts";

/** Shared by the KYC tests: a provider simulator, a callback receiver and applicants. */

export const API_KEY = "kyc-test-api-key";
export const SECRET = "kyc-test-webhook-secret";
/** Every test decides on this date, so ages and expiries never drift with the calendar. */
export const TODAY = new Date("2026-06-15T10:00:00.000Z");

export type { Callback };

const cleanups: Array<() => Promise<void>> = [];

export async function cleanUp(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}

/** The bank's webhook endpoint: records every callback and answers `statuses` in turn, then 200. */
export async function startReceiver(statuses: number[] = []) {
  const { close, ...receiver } = await startCallbackReceiver("/v1/onboarding/kyc/callbacks", statuses);
  cleanups.push(close);
  return receiver;
}

export async function startProvider(
  options: Partial<KycProviderSimulatorOptions> = {},
): Promise<{ provider: KycProviderSimulator; clock: ManualClock }> {
  const clock = new ManualClock(TODAY);
  const provider = await startKycProviderSimulator({
    apiKey: API_KEY,
    webhookSecret: SECRET,
    latencyMs: 1,
    callbackBackoffMs: 1,
    clock,
    onError: (error) => {
      throw error;
    },
    ...options,
  });
  cleanups.push(() => provider.close());
  return { provider, clock };
}

export function clientFor(
  provider: KycProviderSimulator,
  options: Partial<KycClientOptions> = {},
): KycClient {
  return new KycClient({
    baseUrl: provider.url,
    apiKey: API_KEY,
    timeoutMs: 5_000,
    retryBackoffMs: 1,
    retryBackoffMaxMs: 5,
    ...options,
  });
}

let sequence = 0;

/** An applicant who is approved unless `overrides` trip a rule. */
export function verificationRequest(
  callbackUrl: string,
  overrides: {
    givenName?: string;
    familyName?: string;
    dateOfBirth?: string;
    nationality?: string;
    documentNumber?: string;
    expiresOn?: string;
  } = {},
): KycVerificationRequest {
  sequence++;
  return {
    reference: `app_${sequence.toString().padStart(6, "0")}`,
    callbackUrl,
    applicant: {
      givenName: overrides.givenName ?? "Ada",
      familyName: overrides.familyName ?? "Lovelace",
      dateOfBirth: overrides.dateOfBirth ?? "1990-12-10",
      nationality: overrides.nationality ?? "GB",
      address: { line1: "12 St James's Square", city: "London", postalCode: "SW1Y 4JH", country: "GB" },
      document: {
        type: "passport",
        number: overrides.documentNumber ?? "P1234567",
        issuingCountry: "GB",
        expiresOn: overrides.expiresOn ?? "2031-01-31",
      },
    },
  };
}

import type { KycConfig } from "../../../config.ts";
import type { Clock } from "../../../platform/clock.ts";
import type { ConnectorFactory } from "../../../platform/connectors/index.ts";
import { KycClient, type KycClientOptions } from "./kyc.client.ts";
import { KycWebhookVerifier } from "./kyc-webhook.ts";

/**
 * The KYC provider connector: a client to submit and poll verifications, and a verifier for the
 * provider's signed webhooks. It holds no state and no tables; the onboarding module decides what
 * a result means for an application and deduplicates deliveries.
 */

export type { KycConfig } from "../../../config.ts";
export {
  KYC_CONNECTOR_NAME,
  type KycCircuitState,
  KycClient,
  type KycClientOptions,
  type KycFailure,
  type KycFailureCode,
  type KycPollResult,
  type KycSubmitResult,
} from "./kyc.client.ts";
export {
  KYC_DOCUMENT_TYPES,
  KYC_OUTCOMES,
  KYC_WEBHOOK_BODY_MAX_BYTES,
  type KycApplicant,
  type KycDocumentType,
  type KycOutcome,
  type KycVerificationRequest,
} from "./kyc.schemas.ts";
export type { KycResult } from "./kyc-result.ts";
export {
  KYC_SIGNATURE_HEADER,
  type KycWebhookDelivery,
  type KycWebhookRejection,
  type KycWebhookVerification,
  KycWebhookVerifier,
  type KycWebhookVerifierOptions,
  parseKycWebhookBody,
} from "./kyc-webhook.ts";

export interface KycConnector {
  client: KycClient;
  webhooks: KycWebhookVerifier;
  /** How long to wait for a verification's webhook before polling for it. */
  pollAfterS: number;
}

/**
 * The connector from configuration, for the composition root; `undefined` when no provider is
 * configured (`OMNICORE_KYC_URL` unset). `loadConfig` has already refused a URL without its key
 * and secret.
 */
export function createKycConnector(
  config: KycConfig,
  deps: {
    clock: Clock;
    /** The app's connectors, so the client's calls are allow-listed, measured and in `/ready`. */
    connectors?: ConnectorFactory;
    fetch?: typeof globalThis.fetch;
    client?: Partial<KycClientOptions>;
  },
): KycConnector | undefined {
  if (!config.url) return undefined;
  if (!config.apiKey || !config.webhookSecret) throw new Error("KYC needs an API key and a webhook secret");
  return {
    client: new KycClient({
      baseUrl: config.url,
      apiKey: config.apiKey,
      timeoutMs: config.timeoutMs,
      ...(deps.connectors ? { connectors: deps.connectors } : {}),
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
      ...deps.client,
    }),
    webhooks: new KycWebhookVerifier({
      secret: config.webhookSecret,
      toleranceS: config.webhookToleranceS,
      clock: deps.clock,
    }),
    pollAfterS: config.pollAfterS,
  };
}

import { startComplianceWarehouseFromEnv } from "./compliance-warehouse/server.ts";
import { startKycProviderFromEnv } from "./kyc-provider/server.ts";
import { startLegacyCoreFromEnv } from "./legacy-core/server.ts";
import { startLendingPlatformFromEnv } from "./lending-platform/server.ts";
import { startMessagingProviderFromEnv } from "./messaging-provider/server.ts";
import { type PaymentRailSimulator, startPaymentRailFromEnv } from "./payment-rail/server.ts";
import { startPushProviderFromEnv } from "./push-provider/server.ts";

/**
 * `npm run simulators`: starts every external system Omnicore talks to in development (the payment
 * rail, the KYC provider, the legacy core, the lending platform, the compliance warehouse, the push
 * provider and the e-mail/SMS provider),
 * configured from the environment, until SIGINT or SIGTERM.
 */
const running: Array<{ name: string; simulator: Pick<PaymentRailSimulator, "close"> }> = [
  { name: "payment rail", simulator: await startPaymentRailFromEnv(process.env) },
  { name: "kyc provider", simulator: await startKycProviderFromEnv(process.env) },
  { name: "legacy core", simulator: await startLegacyCoreFromEnv(process.env) },
  { name: "lending platform", simulator: await startLendingPlatformFromEnv(process.env) },
  { name: "compliance warehouse", simulator: await startComplianceWarehouseFromEnv(process.env) },
  { name: "push provider", simulator: await startPushProviderFromEnv(process.env) },
  { name: "messaging provider", simulator: await startMessagingProviderFromEnv(process.env) },
];

let stopping = false;

async function stop(signal: NodeJS.Signals): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.info(`${signal}: stopping simulators`);
  const results = await Promise.allSettled(running.map(({ simulator }) => simulator.close()));
  results.forEach((result, index) => {
    if (result.status === "rejected") console.error(`${running[index]?.name} did not stop:`, result.reason);
  });
  process.exit(results.some((result) => result.status === "rejected") ? 1 : 0);
}

process.once("SIGINT", (signal) => void stop(signal));
process.once("SIGTERM", (signal) => void stop(signal));

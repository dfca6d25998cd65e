import type { LoginRisk, LoginRiskInput } from "../../platform/fraud.ts";
import { computeFeatures, type FeatureName, type Features } from "./features.ts";
import type { FraudProfile } from "./profile.ts";
import { evaluate, type RuleSetDefinition } from "./rules.ts";

/**
 * The fraud engine's view of a sign-in, for identity's anomaly score: the habits only the
 * behaviour profile knows. Identity already scores a new device, a new country, impossible travel
 * and a recent credential change from its own records, so those are left out here — counting
 * them twice would deny logins that one signal should only challenge.
 */
export const LOGIN_FEATURES: readonly FeatureName[] = ["unusual_hour", "contact_changed_24h"];

const NO_VELOCITY = { count10m: 0, count1h: 0, count24h: 0, sum10mMinor: 0, sum1hMinor: 0, sum24hMinor: 0 };

/** Pure: the active rule set's rules on the login features, applied to the profile. */
export function assessLoginRisk(
  profile: FraudProfile | undefined,
  definition: RuleSetDefinition,
  input: LoginRiskInput,
): LoginRisk {
  // A profile with no history yet has no habits to depart from.
  if (!profile || profile.firstEventAtMs === null) return { score: 0, reasons: [] };
  const all = computeFeatures(
    profile,
    {
      channel: input.channel,
      deviceId: input.deviceId,
      country: input.country,
      sessionId: undefined,
      toIban: "",
      amountMinor: 0,
      currency: "",
      external: false,
    },
    NO_VELOCITY,
    input.at,
  );
  const features: Partial<Features> = Object.fromEntries(LOGIN_FEATURES.map((name) => [name, all[name]]));
  const rules = definition.rules.filter((rule) => LOGIN_FEATURES.includes(rule.feature));
  const { score, reasons } = evaluate({ rules, thresholds: definition.thresholds }, features);
  return { score, reasons };
}

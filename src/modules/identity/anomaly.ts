import type { GeoPoint } from "../../platform/context.ts";

export const ANOMALY_REASONS = [
  "new_device",
  "new_country",
  "impossible_travel",
  "concurrent_far_apart",
  "many_failures",
  "recent_credential_change",
] as const;
export type AnomalyReason = (typeof ANOMALY_REASONS)[number];

export interface SignInSignals {
  at: Date;
  newDevice: boolean;
  country: string | undefined;
  knownCountries: readonly string[];
  location: GeoPoint | undefined;
  previous: { at: Date; location: GeoPoint } | undefined;
  concurrentSessions: readonly { location: GeoPoint }[];
  recentFailures: number;
  credentialChangedAt: Date | undefined;
}

export interface AnomalyPolicy {
  impossibleTravelKmh: number;
  travelDistanceMinKm: number;
  concurrentDistanceKm: number;
  failuresThreshold: number;
  credentialChangeWindowS: number;
  weights: Record<AnomalyReason, number>;
  stepUpScore: number;
  denyScore: number;
}

export const DEFAULT_ANOMALY_POLICY: AnomalyPolicy = {
  impossibleTravelKmh: 900,
  travelDistanceMinKm: 100,
  concurrentDistanceKm: 500,
  failuresThreshold: 3,
  credentialChangeWindowS: 86_400,
  weights: {
    new_device: 20,
    new_country: 25,
    impossible_travel: 60,
    concurrent_far_apart: 40,
    many_failures: 25,
    recent_credential_change: 20,
  },
  stepUpScore: 30,
  denyScore: 80,
};

export interface AnomalyAssessment {
  score: number;
  reasons: AnomalyReason[];
  action: "allow" | "step_up" | "deny";
  travelSpeedKmh?: number | undefined;
}

const EARTH_RADIUS_KM = 6371.0088;
const SCORE_MAX = 100;

/** Great-circle distance (haversine). */
export function distanceKm(a: GeoPoint, b: GeoPoint): number {
  const rad = (deg: number) => (deg * Math.PI) / 180;
  const dLat = rad(b.latitude - a.latitude);
  const dLon = rad(b.longitude - a.longitude);
  const h =
    Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.latitude)) * Math.cos(rad(b.latitude)) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

function travelSpeed(signals: SignInSignals, policy: AnomalyPolicy): number | undefined {
  if (!signals.location || !signals.previous) return undefined;
  const km = distanceKm(signals.previous.location, signals.location);
  if (km <= policy.travelDistanceMinKm) return undefined;
  const hours = (signals.at.getTime() - signals.previous.at.getTime()) / 3_600_000;
  return hours <= 0 ? Number.POSITIVE_INFINITY : km / hours;
}

/** Scores a login or refresh: the weights of the reasons present, capped at 100. Pure. */
export function assessSignIn(
  signals: SignInSignals,
  policy: AnomalyPolicy = DEFAULT_ANOMALY_POLICY,
): AnomalyAssessment {
  const present = new Set<AnomalyReason>();
  if (signals.newDevice) present.add("new_device");
  if (
    signals.country &&
    signals.knownCountries.length > 0 &&
    !signals.knownCountries.includes(signals.country)
  ) {
    present.add("new_country");
  }
  const speed = travelSpeed(signals, policy);
  if (speed !== undefined && speed > policy.impossibleTravelKmh) present.add("impossible_travel");
  const here = signals.location;
  if (
    here &&
    signals.concurrentSessions.some((s) => distanceKm(s.location, here) > policy.concurrentDistanceKm)
  ) {
    present.add("concurrent_far_apart");
  }
  if (signals.recentFailures >= policy.failuresThreshold) present.add("many_failures");
  const changedAt = signals.credentialChangedAt;
  if (changedAt && signals.at.getTime() - changedAt.getTime() <= policy.credentialChangeWindowS * 1000) {
    present.add("recent_credential_change");
  }
  const reasons = ANOMALY_REASONS.filter((reason) => present.has(reason));
  const score = Math.min(
    SCORE_MAX,
    reasons.reduce((sum, reason) => sum + policy.weights[reason], 0),
  );
  const action = score >= policy.denyScore ? "deny" : score >= policy.stepUpScore ? "step_up" : "allow";
  const travelSpeedKmh = speed === undefined || !Number.isFinite(speed) ? undefined : Math.round(speed);
  return { score, reasons, action, travelSpeedKmh };
}

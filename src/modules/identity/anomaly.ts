import type { GeoPoint } from "../../platform/context.ts";

export const ANOMALY_REASONS = [
  "new_device",
  "new_country",
  "impossible_travel",
  "concurrent_far_apart",
  "many_failures",
  "recent_credential_change",
  /** The fraud engine's behaviour profile: an hour the customer is never active, a contact just changed. */
  "unusual_behaviour",
] as const;
export type AnomalyReason = (typeof ANOMALY_REASONS)[number];

/** Everything the score looks at, loaded by the caller: the assessment itself does no I/O. */
export interface SignInSignals {
  at: Date;
  newDevice: boolean;
  /** Of this request, when the trusted edge told us. */
  country: string | undefined;
  /** Countries of the subject's earlier sign-ins; empty for a first sign-in, which is then not "new". */
  knownCountries: readonly string[];
  location: GeoPoint | undefined;
  /** The subject's last sign-in or refresh that had a location. */
  previous: { at: Date; location: GeoPoint } | undefined;
  /** The subject's other live sessions with a known location. */
  concurrentSessions: readonly { location: GeoPoint }[];
  /** Failed attempts (any factor) in the recent window. */
  recentFailures: number;
  /** Last password / MFA / e-mail / phone change. */
  credentialChangedAt: Date | undefined;
  /** The fraud engine's score of the sign-in against the customer's habits (customers only). */
  behaviourScore?: number | undefined;
}

export interface AnomalyPolicy {
  /** Faster than this between two sign-ins is impossible travel (default: faster than an airliner). */
  impossibleTravelKmh: number;
  /** Below this distance it is GPS/IP jitter, never travel. */
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
    // The most the behaviour profile adds: habits alone challenge a sign-in, never deny it.
    unusual_behaviour: 30,
  },
  stepUpScore: 30,
  denyScore: 80,
};

export interface AnomalyAssessment {
  score: number;
  reasons: AnomalyReason[];
  action: "allow" | "step_up" | "deny";
  travelSpeedKmh?: number | undefined;
  /** The fraud engine's rule codes behind `unusual_behaviour`. */
  behaviourReasons?: string[] | undefined;
}

/** The IUGG mean Earth radius. */
const EARTH_RADIUS_KM = 6371.0088;
const SCORE_MAX = 100;
const MS_PER_HOUR = 3_600_000;
const MS_PER_S = 1_000;

/** Great-circle distance (haversine). */
export function distanceKm(a: GeoPoint, b: GeoPoint): number {
  const rad = (deg: number) => (deg * Math.PI) / 180;
  const dLat = rad(b.latitude - a.latitude);
  const dLon = rad(b.longitude - a.longitude);
  const h =
    Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.latitude)) * Math.cos(rad(b.latitude)) * Math.sin(dLon / 2) ** 2;
  // Rounding can push h a hair above 1 for antipodal points, where asin would give NaN.
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/**
 * Speed from the previous located sign-in, when both have a location. Undefined below the minimum
 * distance too: IP geolocation jitters by tens of km, which over a few seconds would look like a jet.
 * Elapsed time is taken as a magnitude, so records that arrive out of order still compare.
 */
function travelSpeedKmh(signals: SignInSignals, policy: AnomalyPolicy): number | undefined {
  if (!signals.location || !signals.previous) return undefined;
  const km = distanceKm(signals.previous.location, signals.location);
  if (km <= policy.travelDistanceMinKm) return undefined;
  const hours = Math.abs(signals.at.getTime() - signals.previous.at.getTime()) / MS_PER_HOUR;
  return hours === 0 ? Number.POSITIVE_INFINITY : km / hours;
}

/** A first sign-in has no countries to compare with: then nothing is "new". */
function isNewCountry(signals: SignInSignals): boolean {
  const country = signals.country?.toUpperCase();
  if (!country || signals.knownCountries.length === 0) return false;
  return !signals.knownCountries.some((known) => known.toUpperCase() === country);
}

function isConcurrentFarApart(signals: SignInSignals, policy: AnomalyPolicy): boolean {
  const here = signals.location;
  if (!here) return false;
  return signals.concurrentSessions.some((s) => distanceKm(s.location, here) > policy.concurrentDistanceKm);
}

function isRecentCredentialChange(signals: SignInSignals, policy: AnomalyPolicy): boolean {
  const changedAt = signals.credentialChangedAt;
  if (!changedAt) return false;
  const sinceChangeMs = signals.at.getTime() - changedAt.getTime();
  return sinceChangeMs >= 0 && sinceChangeMs <= policy.credentialChangeWindowS * MS_PER_S;
}

function actionFor(score: number, policy: AnomalyPolicy): AnomalyAssessment["action"] {
  if (score >= policy.denyScore) return "deny";
  return score >= policy.stepUpScore ? "step_up" : "allow";
}

/** Scores a login or refresh: the weights of the reasons present, within 0..100. Pure: no I/O, no clock. */
export function assessSignIn(
  signals: SignInSignals,
  policy: AnomalyPolicy = DEFAULT_ANOMALY_POLICY,
): AnomalyAssessment {
  const speedKmh = travelSpeedKmh(signals, policy);
  const present: Record<AnomalyReason, boolean> = {
    new_device: signals.newDevice,
    new_country: isNewCountry(signals),
    impossible_travel: speedKmh !== undefined && speedKmh > policy.impossibleTravelKmh,
    concurrent_far_apart: isConcurrentFarApart(signals, policy),
    many_failures: signals.recentFailures >= policy.failuresThreshold,
    recent_credential_change: isRecentCredentialChange(signals, policy),
    unusual_behaviour: (signals.behaviourScore ?? 0) > 0,
  };
  const reasons = ANOMALY_REASONS.filter((reason) => present[reason]);
  const weight = (reason: AnomalyReason) =>
    reason === "unusual_behaviour"
      ? Math.min(policy.weights.unusual_behaviour, signals.behaviourScore ?? 0)
      : policy.weights[reason];
  const total = reasons.reduce((sum, reason) => sum + weight(reason), 0);
  const score = Math.max(0, Math.min(SCORE_MAX, total));
  return {
    score,
    reasons,
    action: actionFor(score, policy),
    travelSpeedKmh: speedKmh !== undefined && Number.isFinite(speedKmh) ? Math.round(speedKmh) : undefined,
  };
}

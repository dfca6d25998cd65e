import type { FraudProfile } from "./profile.ts";

/**
 * The features a rule can look at, computed at payment time as a pure function of the profile,
 * the payment, the velocity counters and the time. The catalogue is closed: a rule naming a
 * feature that is not here is refused when the rule set is created. A feature is null when there
 * is nothing to compare with (no history); a rule on a null feature never fires.
 */
export const FEATURE_KINDS = {
  amount_ratio_to_mean: "number",
  amount_z_score: "number",
  amount_history_count: "number",
  no_amount_history: "boolean",
  new_payee: "boolean",
  payee_first_seen_minutes: "number",
  new_device: "boolean",
  untrusted_device: "boolean",
  device_first_seen_minutes: "number",
  new_country: "boolean",
  channel_switch: "boolean",
  external: "boolean",
  velocity_count_10m: "number",
  velocity_count_1h: "number",
  velocity_count_24h: "number",
  velocity_sum_10m_minor: "number",
  velocity_sum_1h_minor: "number",
  velocity_sum_24h_minor: "number",
  velocity_sum_24h_ratio_to_mean: "number",
  session_age_minutes: "number",
  credential_changed_24h: "boolean",
  contact_changed_24h: "boolean",
  unusual_hour: "boolean",
  hour_utc: "number",
} as const satisfies Record<string, "number" | "boolean">;

export type FeatureName = keyof typeof FEATURE_KINDS;
export const FEATURE_NAMES = Object.keys(FEATURE_KINDS) as FeatureName[];
export type FeatureValue = number | boolean | null;
export type Features = Record<FeatureName, FeatureValue>;

/** Attempts (this one included) and their sum in the payment's currency, per sliding window. */
export interface VelocityCounts {
  count10m: number;
  count1h: number;
  count24h: number;
  sum10mMinor: number;
  sum1hMinor: number;
  sum24hMinor: number;
}

export interface PaymentFacts {
  channel: string;
  deviceId: string | undefined;
  country: string | undefined;
  sessionId: string | undefined;
  toIban: string;
  amountMinor: number;
  currency: string;
  external: boolean;
}

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/**
 * Devices, countries and security changes seen within the profile's first hour are its onboarding
 * (the first sign-in, enrolling an authenticator), not a change against an established baseline.
 */
export const ONBOARDING_GRACE_MS = 3_600_000;
/** A device or country first seen less than a day ago still counts as new. */
export const NEW_WITHIN_MS = DAY_MS;
/** Fewer payments than this on a channel are no basis for "unusual amount". */
export const AMOUNT_HISTORY_MIN = 3;
/** The spread never counts as less than a tenth of the mean: identical past amounts are not zero-risk. */
const SPREAD_FLOOR_RATIO = 0.1;
/** Fewer hour observations than this are no basis for "unusual hour". */
const HOURS_HISTORY_MIN = 20;
/** An hour (with its neighbours) holding less than this share of activity is unusual. */
const UNUSUAL_HOUR_SHARE = 0.02;

export function computeFeatures(
  profile: FraudProfile | undefined,
  payment: PaymentFacts,
  velocity: VelocityCounts,
  now: Date,
): Features {
  const nowMs = now.getTime();
  const stats = profile?.amounts[`${payment.channel}:${payment.currency}`];
  const meanMinor = stats && stats.count >= AMOUNT_HISTORY_MIN ? stats.meanMinor : undefined;
  return {
    ...amountFeatures(stats, payment.amountMinor),
    ...payeeFeatures(profile, payment.toIban, nowMs),
    ...deviceFeatures(profile, payment.deviceId, nowMs),
    new_country: isNewKey(profile, payment.country, profile?.countries, nowMs),
    channel_switch:
      profile?.lastPaymentChannel !== null &&
      profile?.lastPaymentChannel !== undefined &&
      profile.lastPaymentChannel !== payment.channel,
    external: payment.external,
    velocity_count_10m: velocity.count10m,
    velocity_count_1h: velocity.count1h,
    velocity_count_24h: velocity.count24h,
    velocity_sum_10m_minor: velocity.sum10mMinor,
    velocity_sum_1h_minor: velocity.sum1hMinor,
    velocity_sum_24h_minor: velocity.sum24hMinor,
    velocity_sum_24h_ratio_to_mean: meanMinor ? round2(velocity.sum24hMinor / Math.max(meanMinor, 1)) : null,
    session_age_minutes: sessionAgeMinutes(profile, payment.sessionId, nowMs),
    credential_changed_24h: changedRecently(profile, profile?.lastCredentialChangeAtMs, nowMs),
    contact_changed_24h: changedRecently(profile, profile?.lastContactChangeAtMs, nowMs),
    unusual_hour: isUnusualHour(profile, now.getUTCHours()),
    hour_utc: now.getUTCHours(),
  };
}

function amountFeatures(stats: FraudProfile["amounts"][string] | undefined, amountMinor: number) {
  if (!stats || stats.count < AMOUNT_HISTORY_MIN) {
    return {
      amount_ratio_to_mean: null,
      amount_z_score: null,
      amount_history_count: stats?.count ?? 0,
      no_amount_history: true,
    };
  }
  const meanMinor = Math.max(stats.meanMinor, 1);
  const spreadMinor = Math.max(Math.sqrt(stats.varianceMinorSquared), meanMinor * SPREAD_FLOOR_RATIO, 1);
  return {
    amount_ratio_to_mean: round2(amountMinor / meanMinor),
    amount_z_score: round2((amountMinor - stats.meanMinor) / spreadMinor),
    amount_history_count: stats.count,
    no_amount_history: false,
  };
}

/** New: never paid successfully (a payee saved a minute ago and never paid is still new). */
function payeeFeatures(profile: FraudProfile | undefined, iban: string, nowMs: number) {
  const payee = profile?.payees[iban];
  return {
    new_payee: !payee || payee.paymentsCount === 0,
    payee_first_seen_minutes: payee ? minutesBetween(payee.firstSeenAtMs, nowMs) : null,
  };
}

function deviceFeatures(profile: FraudProfile | undefined, deviceId: string | undefined, nowMs: number) {
  const device = deviceId ? profile?.devices[deviceId] : undefined;
  return {
    new_device: isNewKey(profile, deviceId, profile?.devices, nowMs),
    untrusted_device: deviceId !== undefined && !device?.trusted,
    device_first_seen_minutes: device ? minutesBetween(device.firstSeenAtMs, nowMs) : null,
  };
}

/**
 * New against an established baseline: unknown, or first seen within the last day but after the
 * profile's onboarding hour. Without a profile, or without the value, nothing is new: there is
 * nothing to compare with, and "no device id" is not a device.
 */
function isNewKey(
  profile: FraudProfile | undefined,
  key: string | undefined,
  entries: Record<string, { firstSeenAtMs: number }> | undefined,
  nowMs: number,
): boolean {
  if (!profile || profile.firstEventAtMs === null || key === undefined) return false;
  const entry = entries?.[key];
  if (!entry) return true;
  const afterOnboarding = entry.firstSeenAtMs - profile.firstEventAtMs > ONBOARDING_GRACE_MS;
  return afterOnboarding && nowMs - entry.firstSeenAtMs < NEW_WITHIN_MS;
}

function changedRecently(profile: FraudProfile | undefined, atMs: number | null | undefined, nowMs: number) {
  if (!profile || profile.firstEventAtMs === null || atMs === null || atMs === undefined) return false;
  return atMs - profile.firstEventAtMs > ONBOARDING_GRACE_MS && nowMs - atMs < DAY_MS;
}

function sessionAgeMinutes(profile: FraudProfile | undefined, sessionId: string | undefined, nowMs: number) {
  const loginAtMs = sessionId ? profile?.sessions[sessionId] : undefined;
  return loginAtMs === undefined ? null : minutesBetween(loginAtMs, nowMs);
}

/** The hour and its two neighbours, so that 08:59 and 09:01 count as the same habit. */
function isUnusualHour(profile: FraudProfile | undefined, hour: number): boolean {
  if (!profile) return false;
  const total = profile.hoursUtc.reduce((sum, count) => sum + count, 0);
  if (total < HOURS_HISTORY_MIN) return false;
  const around = [hour - 1, hour, hour + 1].map((h) => profile.hoursUtc[(h + 24) % 24] ?? 0);
  return around.reduce((sum, count) => sum + count, 0) / total < UNUSUAL_HOUR_SHARE;
}

function minutesBetween(fromMs: number, toMs: number): number {
  return Math.max(0, Math.floor((toMs - fromMs) / MINUTE_MS));
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

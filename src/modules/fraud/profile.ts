/**
 * A customer's behaviour profile: what their payments and sign-ins usually look like. It is a
 * read model fed by events (see profile.projection.ts); this file holds the document and the pure
 * functions that update it. Every collection in it is bounded, so a long or hostile event history
 * cannot grow a row without limit (architecture rule 11), and applying the same observations in
 * the same order always yields the same document.
 */

/** Per channel and currency: count, mean and variance of amounts (Welford, then exponentially weighted). */
export interface AmountStats {
  count: number;
  meanMinor: number;
  varianceMinorSquared: number;
}

export interface SeenEntry {
  firstSeenAtMs: number;
  lastSeenAtMs: number;
}

export interface PayeeEntry extends SeenEntry {
  /** Completed payments to this IBAN; 0 for a payee that was saved but never paid. */
  paymentsCount: number;
}

export interface DeviceEntry extends SeenEntry {
  /** Signed in on with a strong (second-factor or passkey) login at least once. */
  trusted: boolean;
}

export interface FraudProfile {
  schemaVersion: 1;
  /** The first thing learned about the customer: where their baseline starts. */
  firstEventAtMs: number | null;
  lastEventAtMs: number | null;
  paymentsCount: number;
  /** Keyed `channel:currency`: amounts in different currencies are never mixed. */
  amounts: Record<string, AmountStats>;
  /** Keyed by normalised IBAN. */
  payees: Record<string, PayeeEntry>;
  devices: Record<string, DeviceEntry>;
  /** Keyed by ISO 3166-1 alpha-2 country. */
  countries: Record<string, SeenEntry>;
  /** Payments and sign-ins per UTC hour of day (24 entries). */
  hoursUtc: number[];
  /** Session id → the time its login succeeded, for the session-age feature. */
  sessions: Record<string, number>;
  lastPaymentChannel: string | null;
  lastPaymentAtMs: number | null;
  lastCredentialChangeAtMs: number | null;
  lastContactChangeAtMs: number | null;
  lastPayeeAddedAtMs: number | null;
}

/** What one event taught about the customer, independent of the event's wire shape. */
export type ProfileObservation =
  | {
      kind: "payment";
      atMs: number;
      channel: string;
      currency: string;
      amountMinor: number;
      toIban?: string | undefined;
      deviceId?: string | undefined;
      country?: string | undefined;
    }
  | { kind: "payee_added"; atMs: number; iban?: string | undefined }
  | {
      kind: "login";
      atMs: number;
      sessionId?: string | undefined;
      deviceId?: string | undefined;
      country?: string | undefined;
      strong: boolean;
    }
  | { kind: "device_seen"; atMs: number; deviceId: string; trusted: boolean; country?: string | undefined }
  | { kind: "credential_changed"; atMs: number }
  | { kind: "contact_changed"; atMs: number };

export const PROFILE_LIMITS = {
  payeesMax: 200,
  devicesMax: 32,
  countriesMax: 32,
  sessionsMax: 16,
  amountKeysMax: 16,
  /** Past this many payments the mean and variance weigh the newest payment 1/500: they keep adapting. */
  amountCountMax: 500,
  /** When the hour histogram holds this many, every bucket is halved: old habits fade. */
  hoursTotalMax: 10_000,
  /** Larger amounts are clamped: statistics need no more precision than this. */
  amountMinorMax: 1e15,
} as const;

const HOURS_PER_DAY = 24;

export function emptyProfile(): FraudProfile {
  return {
    schemaVersion: 1,
    firstEventAtMs: null,
    lastEventAtMs: null,
    paymentsCount: 0,
    amounts: {},
    payees: {},
    devices: {},
    countries: {},
    hoursUtc: Array.from({ length: HOURS_PER_DAY }, () => 0),
    sessions: {},
    lastPaymentChannel: null,
    lastPaymentAtMs: null,
    lastCredentialChangeAtMs: null,
    lastContactChangeAtMs: null,
    lastPayeeAddedAtMs: null,
  };
}

/** Applies one observation; the input profile is not changed. */
export function applyObservation(profile: FraudProfile, observation: ProfileObservation): FraudProfile {
  const next = structuredClone(profile);
  const atMs = observation.atMs;
  next.firstEventAtMs = minOf(next.firstEventAtMs, atMs);
  next.lastEventAtMs = maxOf(next.lastEventAtMs, atMs);
  switch (observation.kind) {
    case "payment":
      applyPayment(next, observation);
      break;
    case "payee_added":
      next.lastPayeeAddedAtMs = maxOf(next.lastPayeeAddedAtMs, atMs);
      if (observation.iban) touchPayee(next, observation.iban, atMs, 0);
      break;
    case "login":
      applyLogin(next, observation);
      break;
    case "device_seen":
      touchDevice(next, observation.deviceId, atMs, observation.trusted);
      if (observation.country)
        touchSeen(next.countries, observation.country, atMs, PROFILE_LIMITS.countriesMax);
      break;
    case "credential_changed":
      next.lastCredentialChangeAtMs = maxOf(next.lastCredentialChangeAtMs, atMs);
      break;
    case "contact_changed":
      next.lastContactChangeAtMs = maxOf(next.lastContactChangeAtMs, atMs);
      break;
  }
  return next;
}

export function applyObservations(profile: FraudProfile, observations: readonly ProfileObservation[]) {
  return observations.reduce(applyObservation, profile);
}

function applyPayment(profile: FraudProfile, payment: Extract<ProfileObservation, { kind: "payment" }>) {
  const { atMs } = payment;
  profile.paymentsCount += 1;
  const key = `${payment.channel}:${payment.currency}`;
  const amountMinor = Math.min(Math.max(0, payment.amountMinor), PROFILE_LIMITS.amountMinorMax);
  profile.amounts[key] = updateAmountStats(profile.amounts[key], amountMinor);
  boundAmountKeys(profile.amounts, key);
  if (payment.toIban) touchPayee(profile, payment.toIban, atMs, 1);
  if (payment.deviceId) touchDevice(profile, payment.deviceId, atMs, false);
  if (payment.country) touchSeen(profile.countries, payment.country, atMs, PROFILE_LIMITS.countriesMax);
  countHour(profile, atMs);
  if (profile.lastPaymentAtMs === null || atMs >= profile.lastPaymentAtMs) {
    profile.lastPaymentAtMs = atMs;
    profile.lastPaymentChannel = payment.channel;
  }
}

function applyLogin(profile: FraudProfile, login: Extract<ProfileObservation, { kind: "login" }>) {
  const { atMs } = login;
  if (login.deviceId) touchDevice(profile, login.deviceId, atMs, login.strong);
  if (login.country) touchSeen(profile.countries, login.country, atMs, PROFILE_LIMITS.countriesMax);
  if (login.sessionId) {
    profile.sessions[login.sessionId] = minOf(profile.sessions[login.sessionId] ?? null, atMs);
    evictOldest(profile.sessions, PROFILE_LIMITS.sessionsMax, (loginAtMs) => loginAtMs);
  }
  countHour(profile, atMs);
}

/**
 * Welford's update while the count is small; once it reaches the cap the weight of a new amount
 * stays at 1/cap, which turns the same formulas into an exponentially weighted mean and variance.
 */
export function updateAmountStats(stats: AmountStats | undefined, amountMinor: number): AmountStats {
  if (!stats) return { count: 1, meanMinor: amountMinor, varianceMinorSquared: 0 };
  const count = Math.min(stats.count + 1, PROFILE_LIMITS.amountCountMax);
  const delta = amountMinor - stats.meanMinor;
  const meanMinor = stats.meanMinor + delta / count;
  const variance =
    stats.varianceMinorSquared + (delta * (amountMinor - meanMinor) - stats.varianceMinorSquared) / count;
  return { count, meanMinor, varianceMinorSquared: Math.max(0, variance) };
}

function touchPayee(profile: FraudProfile, iban: string, atMs: number, payments: number): void {
  const entry = profile.payees[iban];
  profile.payees[iban] = entry
    ? {
        firstSeenAtMs: Math.min(entry.firstSeenAtMs, atMs),
        lastSeenAtMs: Math.max(entry.lastSeenAtMs, atMs),
        paymentsCount: entry.paymentsCount + payments,
      }
    : { firstSeenAtMs: atMs, lastSeenAtMs: atMs, paymentsCount: payments };
  evictOldest(profile.payees, PROFILE_LIMITS.payeesMax, (payee) => payee.lastSeenAtMs);
}

function touchDevice(profile: FraudProfile, deviceId: string, atMs: number, trusted: boolean): void {
  const entry = profile.devices[deviceId];
  profile.devices[deviceId] = entry
    ? {
        firstSeenAtMs: Math.min(entry.firstSeenAtMs, atMs),
        lastSeenAtMs: Math.max(entry.lastSeenAtMs, atMs),
        trusted: entry.trusted || trusted,
      }
    : { firstSeenAtMs: atMs, lastSeenAtMs: atMs, trusted };
  evictOldest(profile.devices, PROFILE_LIMITS.devicesMax, (device) => device.lastSeenAtMs);
}

function touchSeen(entries: Record<string, SeenEntry>, key: string, atMs: number, max: number): void {
  const entry = entries[key];
  entries[key] = entry
    ? { firstSeenAtMs: Math.min(entry.firstSeenAtMs, atMs), lastSeenAtMs: Math.max(entry.lastSeenAtMs, atMs) }
    : { firstSeenAtMs: atMs, lastSeenAtMs: atMs };
  evictOldest(entries, max, (seen) => seen.lastSeenAtMs);
}

function countHour(profile: FraudProfile, atMs: number): void {
  const hour = new Date(atMs).getUTCHours();
  profile.hoursUtc[hour] = (profile.hoursUtc[hour] ?? 0) + 1;
  const total = profile.hoursUtc.reduce((sum, count) => sum + count, 0);
  if (total > PROFILE_LIMITS.hoursTotalMax) profile.hoursUtc = profile.hoursUtc.map((count) => count >> 1);
}

/** Keeps the key just written; otherwise drops the least recently used amount statistics. */
function boundAmountKeys(amounts: Record<string, AmountStats>, keep: string): void {
  while (Object.keys(amounts).length > PROFILE_LIMITS.amountKeysMax) {
    const victim = Object.entries(amounts)
      .filter(([key]) => key !== keep)
      .sort(([left, a], [right, b]) => a.count - b.count || left.localeCompare(right))[0];
    if (!victim) return;
    delete amounts[victim[0]];
  }
}

/** Drops the entries seen longest ago (ties broken by key, so the result is deterministic). */
function evictOldest<T>(entries: Record<string, T>, max: number, lastSeen: (entry: T) => number): void {
  const keys = Object.keys(entries);
  if (keys.length <= max) return;
  const ordered = keys.sort(
    (left, right) => lastSeen(entries[left]!) - lastSeen(entries[right]!) || left.localeCompare(right),
  );
  for (const key of ordered.slice(0, keys.length - max)) delete entries[key];
}

function minOf(current: number | null, value: number): number {
  return current === null ? value : Math.min(current, value);
}

function maxOf(current: number | null, value: number): number {
  return current === null ? value : Math.max(current, value);
}

/** A stored document from an older or damaged row is read as empty rather than trusted blindly. */
export function parseProfile(document: unknown): FraudProfile {
  const candidate = (typeof document === "string" ? JSON.parse(document) : document) as Partial<FraudProfile>;
  if (candidate?.schemaVersion !== 1 || !Array.isArray(candidate.hoursUtc)) return emptyProfile();
  return { ...emptyProfile(), ...candidate } as FraudProfile;
}

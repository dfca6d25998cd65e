import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { computeFeatures, type PaymentFacts, type VelocityCounts } from "../../src/modules/fraud/features.ts";
import { profileUpdateFor } from "../../src/modules/fraud/profile.projection.ts";
import {
  applyObservation,
  applyObservations,
  emptyProfile,
  type FraudProfile,
  PROFILE_LIMITS,
  type ProfileObservation,
  updateAmountStats,
} from "../../src/modules/fraud/profile.ts";
import type { DomainEvent } from "../../src/platform/events/event.ts";

const T0 = Date.parse("2031-03-01T09:00:00Z");
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

const NO_VELOCITY: VelocityCounts = {
  count10m: 1,
  count1h: 1,
  count24h: 1,
  sum10mMinor: 0,
  sum1hMinor: 0,
  sum24hMinor: 0,
};

function payment(
  atMs: number,
  amountMinor: number,
  extra: Partial<ProfileObservation> = {},
): ProfileObservation {
  return {
    kind: "payment",
    atMs,
    channel: "mobile",
    currency: "EUR",
    amountMinor,
    toIban: "DE02100100100000000001",
    deviceId: "phone-1",
    country: "DE",
    ...extra,
  } as ProfileObservation;
}

function facts(extra: Partial<PaymentFacts> = {}): PaymentFacts {
  return {
    channel: "mobile",
    deviceId: "phone-1",
    country: "DE",
    sessionId: undefined,
    toIban: "DE02100100100000000001",
    amountMinor: 10_000,
    currency: "EUR",
    external: false,
    ...extra,
  };
}

describe("amount statistics", () => {
  it("match the mean and population variance of the amounts while under the cap", () => {
    const amounts = [1_000, 2_000, 3_000, 10_000];
    const stats = amounts.reduce<ReturnType<typeof updateAmountStats> | undefined>(
      (current, amount) => updateAmountStats(current, amount),
      undefined,
    )!;
    const mean = amounts.reduce((a, b) => a + b, 0) / amounts.length;
    const variance = amounts.reduce((sum, amount) => sum + (amount - mean) ** 2, 0) / amounts.length;
    expect(stats.count).toBe(4);
    expect(stats.meanMinor).toBeCloseTo(mean, 6);
    expect(stats.varianceMinorSquared).toBeCloseTo(variance, 3);
  });

  it("keep adapting past the cap instead of freezing", () => {
    let stats = updateAmountStats(undefined, 1_000);
    for (let i = 0; i < PROFILE_LIMITS.amountCountMax + 100; i++) stats = updateAmountStats(stats, 1_000);
    for (let i = 0; i < 2_000; i++) stats = updateAmountStats(stats, 5_000);
    expect(stats.count).toBe(PROFILE_LIMITS.amountCountMax);
    expect(stats.meanMinor).toBeGreaterThan(4_000);
  });
});

describe("the profile", () => {
  it("learns payments: amounts per channel and currency, payees, devices, countries, hours, last channel", () => {
    const profile = applyObservations(emptyProfile(), [
      payment(T0, 1_000),
      payment(T0 + DAY_MS, 3_000, {
        channel: "web",
        deviceId: undefined,
        country: "FR",
        toIban: "FR7630006000011234567890189",
      }),
    ]);
    expect(profile.paymentsCount).toBe(2);
    expect(Object.keys(profile.amounts).sort()).toEqual(["mobile:EUR", "web:EUR"]);
    expect(profile.payees.DE02100100100000000001).toEqual({
      firstSeenAtMs: T0,
      lastSeenAtMs: T0,
      paymentsCount: 1,
    });
    expect(Object.keys(profile.devices)).toEqual(["phone-1"]);
    expect(Object.keys(profile.countries).sort()).toEqual(["DE", "FR"]);
    expect(profile.hoursUtc[9]).toBe(2);
    expect(profile.lastPaymentChannel).toBe("web");
    expect(profile.firstEventAtMs).toBe(T0);
  });

  it("keeps the latest payment's channel when events arrive out of order", () => {
    const profile = applyObservations(emptyProfile(), [
      payment(T0 + HOUR_MS, 1_000, { channel: "web" }),
      payment(T0, 1_000, { channel: "mobile" }),
    ]);
    expect(profile.lastPaymentChannel).toBe("web");
  });

  it("learns security events: sessions, trusted devices, credential and contact changes, saved payees", () => {
    const profile = applyObservations(emptyProfile(), [
      { kind: "login", atMs: T0, sessionId: "ses_1", deviceId: "phone-1", country: "DE", strong: false },
      { kind: "device_seen", atMs: T0 + 1, deviceId: "phone-1", trusted: true },
      { kind: "credential_changed", atMs: T0 + 2 },
      { kind: "contact_changed", atMs: T0 + 3 },
      { kind: "payee_added", atMs: T0 + 4, iban: "DE02100100100000000001" },
    ]);
    expect(profile.sessions).toEqual({ ses_1: T0 });
    expect(profile.devices["phone-1"]?.trusted).toBe(true);
    expect(profile.lastCredentialChangeAtMs).toBe(T0 + 2);
    expect(profile.lastContactChangeAtMs).toBe(T0 + 3);
    expect(profile.payees.DE02100100100000000001?.paymentsCount).toBe(0);
  });

  it("does not change the profile it is given", () => {
    const before = emptyProfile();
    applyObservation(before, payment(T0, 1_000));
    expect(before).toEqual(emptyProfile());
  });
});

const arbitraryObservation: fc.Arbitrary<ProfileObservation> = fc.oneof(
  fc.record({
    kind: fc.constant("payment" as const),
    atMs: fc.integer({ min: T0, max: T0 + 400 * DAY_MS }),
    channel: fc.constantFrom("mobile", "web", "open_banking", "branch"),
    currency: fc.constantFrom("EUR", "USD", "GBP", "JPY", "CHF"),
    amountMinor: fc.oneof(fc.integer({ min: 0, max: 10_000_000 }), fc.constant(Number.MAX_SAFE_INTEGER)),
    toIban: fc.option(fc.stringMatching(/^DE[0-9]{6}$/), { nil: undefined }),
    deviceId: fc.option(fc.stringMatching(/^dev-[a-z0-9]{1,6}$/), { nil: undefined }),
    country: fc.option(fc.stringMatching(/^[A-Z]{2}$/), { nil: undefined }),
  }),
  fc.record({
    kind: fc.constant("login" as const),
    atMs: fc.integer({ min: T0, max: T0 + 400 * DAY_MS }),
    sessionId: fc.option(fc.stringMatching(/^ses_[a-z0-9]{1,6}$/), { nil: undefined }),
    deviceId: fc.option(fc.stringMatching(/^dev-[a-z0-9]{1,6}$/), { nil: undefined }),
    country: fc.option(fc.stringMatching(/^[A-Z]{2}$/), { nil: undefined }),
    strong: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant("device_seen" as const),
    atMs: fc.integer({ min: T0, max: T0 + 400 * DAY_MS }),
    deviceId: fc.stringMatching(/^dev-[a-z0-9]{1,6}$/),
    trusted: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant("payee_added" as const),
    atMs: fc.integer({ min: T0, max: T0 + 400 * DAY_MS }),
    iban: fc.option(fc.stringMatching(/^DE[0-9]{6}$/), { nil: undefined }),
  }),
  fc.record({
    kind: fc.constantFrom("credential_changed" as const, "contact_changed" as const),
    atMs: fc.integer({ min: T0, max: T0 + 400 * DAY_MS }),
  }),
);

function expectBounded(profile: FraudProfile): void {
  expect(Object.keys(profile.payees).length).toBeLessThanOrEqual(PROFILE_LIMITS.payeesMax);
  expect(Object.keys(profile.devices).length).toBeLessThanOrEqual(PROFILE_LIMITS.devicesMax);
  expect(Object.keys(profile.countries).length).toBeLessThanOrEqual(PROFILE_LIMITS.countriesMax);
  expect(Object.keys(profile.sessions).length).toBeLessThanOrEqual(PROFILE_LIMITS.sessionsMax);
  expect(Object.keys(profile.amounts).length).toBeLessThanOrEqual(PROFILE_LIMITS.amountKeysMax);
  expect(profile.hoursUtc).toHaveLength(24);
  expect(profile.hoursUtc.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(PROFILE_LIMITS.hoursTotalMax);
  for (const stats of Object.values(profile.amounts)) {
    expect(stats.count).toBeLessThanOrEqual(PROFILE_LIMITS.amountCountMax);
    expect(Number.isFinite(stats.meanMinor) && Number.isFinite(stats.varianceMinorSquared)).toBe(true);
    expect(stats.varianceMinorSquared).toBeGreaterThanOrEqual(0);
  }
}

describe("properties", () => {
  it("stays bounded whatever the events, however many", () => {
    fc.assert(
      fc.property(fc.array(arbitraryObservation, { maxLength: 600 }), (observations) => {
        expectBounded(applyObservations(emptyProfile(), observations));
      }),
      { numRuns: 60 },
    );
  });

  it("applying the same events in the same order yields the same profile, and survives a JSON round trip", () => {
    fc.assert(
      fc.property(fc.array(arbitraryObservation, { maxLength: 200 }), (observations) => {
        const once = applyObservations(emptyProfile(), observations);
        const again = applyObservations(emptyProfile(), observations);
        expect(again).toEqual(once);
        expect(JSON.parse(JSON.stringify(once))).toEqual(once);
      }),
      { numRuns: 80 },
    );
  });

  it("features are computed for any profile and stay finite", () => {
    fc.assert(
      fc.property(
        fc.array(arbitraryObservation, { maxLength: 100 }),
        fc.integer({ min: 0, max: 1e12 }),
        (o, amount) => {
          const features = computeFeatures(
            applyObservations(emptyProfile(), o),
            facts({ amountMinor: amount }),
            NO_VELOCITY,
            new Date(T0 + 401 * DAY_MS),
          );
          for (const value of Object.values(features)) {
            if (typeof value === "number") expect(Number.isFinite(value)).toBe(true);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("features", () => {
  /** Six weeks of 20.00–30.00 on mobile from phone-1 in DE to one payee, at 09:00. */
  function habitual(): FraudProfile {
    const observations: ProfileObservation[] = [
      { kind: "login", atMs: T0, sessionId: "ses_0", deviceId: "phone-1", country: "DE", strong: false },
    ];
    for (let week = 1; week <= 6; week++)
      observations.push(payment(T0 + week * 7 * DAY_MS, 2_000 + week * 200));
    return applyObservations(emptyProfile(), observations);
  }
  const later = new Date(T0 + 50 * DAY_MS);

  it("with no profile, nothing is new or unusual; the amount has no history; only the payee is new", () => {
    const features = computeFeatures(undefined, facts(), NO_VELOCITY, later);
    expect(features).toMatchObject({
      new_device: false,
      new_country: false,
      credential_changed_24h: false,
      unusual_hour: false,
      channel_switch: false,
      amount_ratio_to_mean: null,
      amount_z_score: null,
      no_amount_history: true,
      new_payee: true,
      payee_first_seen_minutes: null,
      session_age_minutes: null,
    });
  });

  it("a usual payment is quiet", () => {
    const features = computeFeatures(habitual(), facts({ amountMinor: 2_600 }), NO_VELOCITY, later);
    expect(features).toMatchObject({
      new_device: false,
      new_country: false,
      new_payee: false,
      channel_switch: false,
    });
    expect(Math.abs(features.amount_z_score as number)).toBeLessThan(2);
    expect(features.amount_ratio_to_mean).toBeCloseTo(0.96, 2);
  });

  it("a large amount, an unknown device and country, a new payee and another channel stand out", () => {
    const features = computeFeatures(
      habitual(),
      facts({
        amountMinor: 900_000,
        deviceId: "laptop-9",
        country: "RU",
        toIban: "GB33BUKB20201555555555",
        channel: "web",
      }),
      NO_VELOCITY,
      later,
    );
    expect(features).toMatchObject({
      new_device: true,
      new_country: true,
      new_payee: true,
      channel_switch: true,
    });
    // The web channel has no history of its own: the amount is judged per channel.
    expect(features.amount_z_score).toBeNull();
    const onMobile = computeFeatures(habitual(), facts({ amountMinor: 900_000 }), NO_VELOCITY, later);
    expect(onMobile.amount_z_score as number).toBeGreaterThan(100);
    expect(onMobile.amount_ratio_to_mean as number).toBeGreaterThan(100);
  });

  it("a device or country first seen after onboarding counts as new for a day, then as known", () => {
    const profile = applyObservation(habitual(), {
      kind: "device_seen",
      atMs: later.getTime() - HOUR_MS,
      deviceId: "laptop-9",
      trusted: false,
      country: "RU",
    });
    const soon = computeFeatures(profile, facts({ deviceId: "laptop-9", country: "RU" }), NO_VELOCITY, later);
    expect([soon.new_device, soon.new_country, soon.device_first_seen_minutes]).toEqual([true, true, 60]);
    const dayLater = new Date(later.getTime() + DAY_MS);
    const known = computeFeatures(
      profile,
      facts({ deviceId: "laptop-9", country: "RU" }),
      NO_VELOCITY,
      dayLater,
    );
    expect([known.new_device, known.new_country]).toEqual([false, false]);
  });

  it("security set up in the profile's first hour is onboarding; a change later counts for 24 hours", () => {
    const onboarding = applyObservation(habitual(), { kind: "credential_changed", atMs: T0 + 10 * 60_000 });
    expect(
      computeFeatures(onboarding, facts(), NO_VELOCITY, new Date(T0 + 20 * 60_000)).credential_changed_24h,
    ).toBe(false);
    const changed = applyObservation(habitual(), {
      kind: "credential_changed",
      atMs: later.getTime() - HOUR_MS,
    });
    expect(computeFeatures(changed, facts(), NO_VELOCITY, later).credential_changed_24h).toBe(true);
    expect(
      computeFeatures(changed, facts(), NO_VELOCITY, new Date(later.getTime() + DAY_MS))
        .credential_changed_24h,
    ).toBe(false);
  });

  it("an hour the customer is never active in is unusual once there is enough history", () => {
    let profile = habitual();
    for (let day = 0; day < 30; day++) {
      profile = applyObservation(profile, { kind: "login", atMs: T0 + day * DAY_MS, strong: false });
    }
    const at = (hour: number) => new Date(Date.UTC(2031, 5, 1, hour, 15));
    expect(computeFeatures(profile, facts(), NO_VELOCITY, at(3)).unusual_hour).toBe(true);
    expect(computeFeatures(profile, facts(), NO_VELOCITY, at(9)).unusual_hour).toBe(false);
    expect(computeFeatures(profile, facts(), NO_VELOCITY, at(10)).unusual_hour).toBe(false);
  });

  it("session age comes from the session's login", () => {
    const profile = applyObservation(habitual(), {
      kind: "login",
      atMs: later.getTime() - 5 * 60_000,
      sessionId: "ses_9",
      strong: true,
    });
    expect(
      computeFeatures(profile, facts({ sessionId: "ses_9" }), NO_VELOCITY, later).session_age_minutes,
    ).toBe(5);
  });

  it("identical past amounts do not make a slightly larger one extreme (the spread has a floor)", () => {
    let profile = emptyProfile();
    for (let i = 0; i < 10; i++) profile = applyObservation(profile, payment(T0 + i * DAY_MS, 250_000));
    const features = computeFeatures(profile, facts({ amountMinor: 260_000 }), NO_VELOCITY, later);
    expect(features.amount_z_score).toBeCloseTo(0.4, 5);
  });
});

describe("events as observations", () => {
  function event(type: string, data: Record<string, unknown>, extra: Partial<DomainEvent> = {}): DomainEvent {
    return {
      id: "evt_1",
      type,
      occurredAt: new Date(T0).toISOString(),
      aggregateId: "x",
      channel: "mobile",
      deviceId: "phone-1",
      actorType: "customer",
      actorId: "cus_1",
      onBehalfOf: null,
      requestId: "req",
      data,
      ...extra,
    };
  }

  it("a completed transfer is a payment, with the payee and country from the engine's own decision", () => {
    const update = profileUpdateFor(
      event("transfer.completed", {
        transferId: "trf_1",
        customerId: "cus_1",
        amount: { amount: "12.50", currency: "EUR" },
      }),
      { toIban: "DE02100100100000000001", country: "DE" } as never,
    );
    expect(update).toEqual({
      customerId: "cus_1",
      observation: {
        kind: "payment",
        atMs: T0,
        channel: "mobile",
        currency: "EUR",
        amountMinor: 1250,
        toIban: "DE02100100100000000001",
        deviceId: "phone-1",
        country: "DE",
      },
    });
  });

  it("ignores staff subjects, cash movements without a customer and malformed amounts", () => {
    expect(
      profileUpdateFor(event("security.login_succeeded", { subjectType: "staff", subjectId: "stf_1" })),
    ).toBeUndefined();
    expect(
      profileUpdateFor(
        event("transfer.completed", { customerId: null, amount: { amount: "1.00", currency: "EUR" } }),
      ),
    ).toBeUndefined();
    expect(
      profileUpdateFor(
        event("transfer.completed", { customerId: "cus_1", amount: { amount: "1.001", currency: "EUR" } }),
      ),
    ).toBeUndefined();
  });

  it("maps security and customer events to logins, devices, credential and contact changes", () => {
    const security = (kind: string, details: Record<string, unknown> = {}) =>
      profileUpdateFor(
        event(`security.${kind}`, {
          kind,
          subjectType: "customer",
          subjectId: "cus_1",
          sessionId: "ses_1",
          country: "DE",
          details,
        }),
      )?.observation.kind;
    expect(security("login_succeeded", { strength: "mfa" })).toBe("login");
    expect(security("new_device", { trusted: false })).toBe("device_seen");
    expect(
      ["password_changed", "mfa_enrolled", "mfa_removed", "passkey_registered", "passkey_removed"].map((k) =>
        security(k),
      ),
    ).toEqual(Array(5).fill("credential_changed"));
    expect(security("email_changed")).toBe("contact_changed");
    expect(security("login_failed")).toBeUndefined();
    expect(
      profileUpdateFor(event("customer.updated", { customerId: "cus_1", fields: ["phone"] }))?.observation
        .kind,
    ).toBe("contact_changed");
    expect(
      profileUpdateFor(event("customer.updated", { customerId: "cus_1", fields: ["preferredLanguage"] })),
    ).toBeUndefined();
  });
});

import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  ANOMALY_REASONS,
  type AnomalyPolicy,
  assessSignIn,
  DEFAULT_ANOMALY_POLICY,
  distanceKm,
  type SignInSignals,
} from "../../src/modules/identity/anomaly.ts";
import { totpCode } from "../../src/modules/identity/totp.ts";
import { ManualClock } from "../../src/platform/clock.ts";
import type { DomainEvent } from "../../src/platform/events/event.ts";
import { findOutboxEvents } from "../../src/platform/events/outbox.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";
import {
  bearer,
  decodeClaims,
  expectProblem,
  login,
  PASSWORD,
  register,
  type Tokens,
  uniqueEmail,
} from "../identity.helpers.ts";
import { answerLogin, enrolTotp, type Reply } from "./factors.helpers.ts";

/**
 * Where a sign-in comes from, as the trusted edge reports it, and what the anomaly score does
 * with it: a second factor, a refusal, or the end of a session.
 */

const clock = new ManualClock(new Date("2031-09-10T07:00:00Z"));
const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
/** inject's default peer address, configured as the load balancer. */
const EDGE_PEER = "127.0.0.1";
const UNTRUSTED_PEER = "198.51.100.9";

interface Place {
  country: string;
  latitude: number;
  longitude: number;
}
const BERLIN: Place = { country: "DE", latitude: 52.52, longitude: 13.405 };
const NEW_YORK: Place = { country: "US", latitude: 40.7128, longitude: -74.006 };
/** Berlin to New York is about 6,385 km: half an hour apart is some 12,800 km/h. */
const HALF_HOUR_SPEED_KMH = { min: 12_000, max: 13_500 };

let app: TestApp;

beforeAll(async () => {
  app = await createTestApp({
    clock,
    env: {
      OMNICORE_TRUSTED_PROXIES: EDGE_PEER,
      // These tests sign in far more often than a person would; security.test.ts covers the limits.
      OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "100000",
      OMNICORE_RATE_LIMIT_AUTH_PER_ACCOUNT_PER_MINUTE: "100000",
    },
  });
});

afterAll(async () => {
  await app?.destroy();
});

/** The headers the edge adds for a client at `place`. */
function from(place: Place, headers: Record<string, string> = {}): Record<string, string> {
  return {
    "x-client-geo-country": place.country,
    "x-client-geo-latitude": String(place.latitude),
    "x-client-geo-longitude": String(place.longitude),
    ...headers,
  };
}

function attemptLogin(email: string, headers: Record<string, string>, remoteAddress = EDGE_PEER) {
  return app.http.inject({
    method: "POST",
    url: "/v1/auth/login",
    headers,
    remoteAddress,
    payload: { email, password: PASSWORD },
  });
}

function refresh(refreshToken: string, headers: Record<string, string>) {
  return app.http.inject({ method: "POST", url: "/v1/auth/refresh", headers, payload: { refreshToken } });
}

function me(accessToken: string) {
  return app.http.inject({ method: "GET", url: "/v1/customers/me", headers: bearer(accessToken) });
}

/** Answers the challenge with the code of the clock's current step. */
async function answerWithTotp(challenge: Reply, secret: string, headers: Record<string, string>) {
  const { challengeId } = challenge.json<{ challengeId: string }>();
  const response = await answerLogin(
    app,
    challengeId,
    { totp: await totpCode(secret, clock.now()) },
    headers,
  );
  expect(response.statusCode, response.body).toBe(200);
  return response.json<Tokens>();
}

interface SecurityData {
  sessionId: string | null;
  ip: string | null;
  country: string | null;
  location: { latitude: number; longitude: number } | null;
  details: Record<string, unknown>;
}

async function securityEvents(kind: string, customerId: string): Promise<DomainEvent<SecurityData>[]> {
  const stored = await findOutboxEvents(app.database.db, {
    type: `security.${kind}`,
    aggregateId: customerId,
  });
  return stored.map((row) => row.event as unknown as DomainEvent<SecurityData>);
}

function auditRows(action: string, customerId: string) {
  return app.database.db
    .selectFrom("platform_audit_log")
    .select(["ip", "country", "details"])
    .where("action", "=", action)
    .where("subject_id", "=", customerId)
    .orderBy("seq")
    .execute();
}

async function currentSessionCountry(accessToken: string) {
  const response = await app.http.inject({
    method: "GET",
    url: "/v1/auth/sessions",
    headers: bearer(accessToken),
  });
  const items = response.json<{ items: { current: boolean; country: string | null }[] }>().items;
  return items.find((item) => item.current)?.country;
}

function locationOf(place: Place) {
  return { latitude: place.latitude, longitude: place.longitude };
}

describe("edge headers", () => {
  const viaEdge = (place: Place) => from(place, { "x-forwarded-for": "203.0.113.7" });

  it("takes the IP from X-Forwarded-For and the place from the geo headers of a trusted proxy", async () => {
    const email = uniqueEmail();
    const customerId = await register(app, email);
    const failed = await app.http.inject({
      method: "POST",
      url: "/v1/auth/login",
      headers: viaEdge(BERLIN),
      payload: { email, password: "not the password at all" },
    });
    expectProblem(failed, 401, "unauthorized");
    const [event] = await securityEvents("login_failed", customerId);
    expect(event?.data).toMatchObject({ ip: "203.0.113.7", country: "DE", location: locationOf(BERLIN) });
    expect((await auditRows("security.login_failed", customerId))[0]).toMatchObject({
      ip: "203.0.113.7",
      country: "DE",
    });

    const tokens = await login(app, email, PASSWORD, viaEdge(BERLIN));
    expect(await currentSessionCountry(tokens.accessToken)).toBe("DE");
  });

  it("puts the IP, country and location on the events and audit rows of a successful login", async () => {
    const email = uniqueEmail();
    const customerId = await register(app, email);
    const tokens = await login(app, email, PASSWORD, { ...viaEdge(BERLIN), "x-device-id": "phone-1" });
    const origin = { ip: "203.0.113.7", country: "DE", location: locationOf(BERLIN) };

    const [succeeded] = await securityEvents("login_succeeded", customerId);
    expect(succeeded?.data).toMatchObject({ sessionId: decodeClaims(tokens.accessToken).sid, ...origin });
    const [newDevice] = await securityEvents("new_device", customerId);
    expect(newDevice?.data).toMatchObject(origin);
    const [audited] = await auditRows("security.login_succeeded", customerId);
    expect(audited).toMatchObject({ ip: origin.ip, country: origin.country });
    const details = typeof audited?.details === "string" ? JSON.parse(audited.details) : audited?.details;
    expect(details).toMatchObject({ location: origin.location });
  });

  it("ignores the same headers from a peer that is not a trusted proxy", async () => {
    const email = uniqueEmail();
    const customerId = await register(app, email);
    await login(app, email, PASSWORD, from(BERLIN, { "x-device-id": "laptop-1" }));
    clock.advance(30 * MINUTE_MS);

    // New York half an hour after Berlin would be impossible travel, if anyone believed it.
    const spoofed = from(NEW_YORK, { "x-device-id": "laptop-1", "x-forwarded-for": "203.0.113.50" });
    const failed = await app.http.inject({
      method: "POST",
      url: "/v1/auth/login",
      headers: spoofed,
      remoteAddress: UNTRUSTED_PEER,
      payload: { email, password: "not the password at all" },
    });
    expectProblem(failed, 401, "unauthorized");
    const [failure] = await securityEvents("login_failed", customerId);
    expect(failure?.data).toMatchObject({ ip: UNTRUSTED_PEER, country: null, location: null });

    const response = await attemptLogin(email, spoofed, UNTRUSTED_PEER);
    expect(response.statusCode, response.body).toBe(200);
    expect(await securityEvents("anomaly_detected", customerId)).toEqual([]);
    const latest = (await securityEvents("login_succeeded", customerId)).at(-1);
    expect(latest?.data).toMatchObject({ country: null, location: null, details: { reasons: [] } });
    expect(await currentSessionCountry(response.json<Tokens>().accessToken)).toBeNull();
  });
});

describe("anomalies at login", () => {
  it("asks a customer with TOTP for it after impossible travel, even on a trusted device", async () => {
    const email = uniqueEmail();
    const customerId = await register(app, email);
    // The customer lives in New York and enrolled an authenticator app there.
    const home = await login(app, email, PASSWORD, from(NEW_YORK));
    const secret = (await enrolTotp(app, home.accessToken, clock)).authenticator.secret;
    clock.advance(25 * HOUR_MS); // past the 24 hours in which the credential change itself counts

    const phone = { "x-device-id": "travel-phone" };
    const berlin = from(BERLIN, phone);
    await answerWithTotp(await attemptLogin(email, berlin), secret, berlin);
    clock.advance(MINUTE_MS);
    // The device is trusted now: from Berlin again, the password alone is enough.
    expect((await attemptLogin(email, berlin)).statusCode).toBe(200);

    clock.advance(30 * MINUTE_MS);
    const newYork = from(NEW_YORK, phone);
    const challenged = await attemptLogin(email, newYork);
    expectProblem(challenged, 401, "mfa-required");
    expect(challenged.json<{ factors: string[] }>().factors).toEqual(["totp"]);

    const anomaly = (await securityEvents("anomaly_detected", customerId)).at(-1);
    expect(anomaly?.data).toMatchObject({
      country: "US",
      location: locationOf(NEW_YORK),
      details: { at: "login", reasons: ["impossible_travel"], score: 60, action: "step_up" },
    });
    const speedKmh = Number(anomaly?.data.details.travelSpeedKmh);
    expect(speedKmh).toBeGreaterThan(HALF_HOUR_SPEED_KMH.min);
    expect(speedKmh).toBeLessThan(HALF_HOUR_SPEED_KMH.max);

    // The second factor settles it: this is a challenge, not a refusal.
    await answerWithTotp(challenged, secret, newYork);
  });

  it("refuses a customer without a second factor when the score reaches 80", async () => {
    const email = uniqueEmail();
    const customerId = await register(app, email);
    const laptop = { "x-device-id": "laptop-2" };
    await login(app, email, PASSWORD, from(BERLIN, laptop));
    clock.advance(30 * MINUTE_MS);

    expectProblem(await attemptLogin(email, from(NEW_YORK, laptop)), 401, "unauthorized");

    const [denied] = await securityEvents("login_denied", customerId);
    expect(denied?.data).toMatchObject({
      country: "US",
      location: locationOf(NEW_YORK),
      // impossible travel 60 + a country never seen before 25
      details: { reasons: ["new_country", "impossible_travel"], score: 85, action: "deny" },
    });
    expect(Number(denied?.data.details.travelSpeedKmh)).toBeGreaterThan(HALF_HOUR_SPEED_KMH.min);
    expect(await securityEvents("login_succeeded", customerId)).toHaveLength(1);
  });
});

describe("anomalies at refresh", () => {
  it("revokes a session whose refresh comes from impossibly far from the customer's other session", async () => {
    const email = uniqueEmail();
    const customerId = await register(app, email);
    const tablet = await login(
      app,
      email,
      PASSWORD,
      from(BERLIN, { "x-channel": "mobile", "x-device-id": "tablet" }),
    );
    const phone = await login(
      app,
      email,
      PASSWORD,
      from(BERLIN, { "x-channel": "mobile", "x-device-id": "phone" }),
    );
    const phoneSessionId = decodeClaims(phone.accessToken).sid;
    clock.advance(5 * MINUTE_MS);

    expectProblem(await refresh(phone.refreshToken, from(NEW_YORK)), 401, "unauthorized");
    expectProblem(await me(phone.accessToken), 401, "unauthorized");

    const anomaly = (await securityEvents("anomaly_detected", customerId)).at(-1);
    expect(anomaly?.data).toMatchObject({
      sessionId: phoneSessionId,
      country: "US",
      location: locationOf(NEW_YORK),
      details: { at: "refresh", action: "deny" },
    });
    expect(anomaly?.data.details.reasons).toEqual(
      expect.arrayContaining(["impossible_travel", "concurrent_far_apart"]),
    );
    expect(Number(anomaly?.data.details.score)).toBeGreaterThanOrEqual(80);
    const revoked = await findOutboxEvents(app.database.db, {
      type: "session.revoked",
      aggregateId: String(phoneSessionId),
    });
    expect(revoked.map((row) => row.event.data)).toEqual([{ sessionId: phoneSessionId, reason: "anomaly" }]);

    // The tablet, still in Berlin, carries on.
    expect((await me(tablet.accessToken)).statusCode).toBe(200);
    expect((await refresh(tablet.refreshToken, from(BERLIN))).statusCode).toBe(200);
  });
});

/* The score itself: a pure function of the signals, so these need neither the app nor the clock. */

const AT = new Date("2031-09-10T12:00:00Z");
const SECOND_MS = 1_000;
/** One degree of latitude on the haversine sphere (radius 6371.0088 km). */
const KM_PER_DEGREE_LATITUDE = (6371.0088 * Math.PI) / 180;
const BERLIN_POINT = locationOf(BERLIN);
const NEW_YORK_POINT = locationOf(NEW_YORK);
/** Berlin to New York on the haversine sphere: about 6,385 km. */
const BERLIN_NEW_YORK_KM = { min: 6_370, max: 6_400 };

/** `ms` before the sign-in being assessed (negative: after it). */
function ago(ms: number): Date {
  return new Date(AT.getTime() - ms);
}

/** `km` due north of Berlin: along a meridian the distance is exact up to rounding. */
function northOfBerlin(km: number) {
  return { latitude: BERLIN.latitude + km / KM_PER_DEGREE_LATITUDE, longitude: BERLIN.longitude };
}

/** A returning customer signing in from home, on a known device: nothing to see. */
function quiet(overrides: Partial<SignInSignals> = {}): SignInSignals {
  return {
    at: AT,
    newDevice: false,
    country: "DE",
    knownCountries: ["DE"],
    location: BERLIN_POINT,
    previous: { at: ago(24 * HOUR_MS), location: BERLIN_POINT },
    concurrentSessions: [],
    recentFailures: 0,
    credentialChangedAt: undefined,
    ...overrides,
  };
}

/** A policy where only `new_device` weighs, and it weighs `score`: to hit an exact score. */
function scoring(score: number, overrides: Partial<AnomalyPolicy> = {}): AnomalyPolicy {
  const weights = Object.fromEntries(
    ANOMALY_REASONS.map((reason) => [reason, 0]),
  ) as AnomalyPolicy["weights"];
  return { ...DEFAULT_ANOMALY_POLICY, ...overrides, weights: { ...weights, new_device: score } };
}

describe("distanceKm", () => {
  it("measures Berlin to New York on the haversine sphere", () => {
    const km = distanceKm(BERLIN_POINT, NEW_YORK_POINT);
    expect(km).toBeGreaterThan(BERLIN_NEW_YORK_KM.min);
    expect(km).toBeLessThan(BERLIN_NEW_YORK_KM.max);
  });

  it("is zero for the same point, a degree of latitude along a meridian, and half the globe at most", () => {
    expect(distanceKm(BERLIN_POINT, BERLIN_POINT)).toBe(0);
    expect(distanceKm({ latitude: 0, longitude: 0 }, { latitude: 1, longitude: 0 })).toBeCloseTo(
      KM_PER_DEGREE_LATITUDE,
      6,
    );
    expect(distanceKm({ latitude: 0, longitude: 0 }, { latitude: 0, longitude: 180 })).toBeCloseTo(
      Math.PI * 6371.0088,
      6,
    );
  });

  it("is symmetric, never negative and never more than half the circumference (property)", () => {
    const point = fc.record({
      latitude: fc.double({ min: -90, max: 90, noNaN: true }),
      longitude: fc.double({ min: -180, max: 180, noNaN: true }),
    });
    fc.assert(
      fc.property(point, point, (a, b) => {
        const there = distanceKm(a, b);
        expect(there).toBe(distanceKm(b, a));
        expect(there).toBeGreaterThanOrEqual(0);
        expect(there).toBeLessThanOrEqual(Math.PI * 6371.0088 + 1e-6);
      }),
    );
  });
});

describe("assessSignIn", () => {
  it("uses the documented default policy", () => {
    expect(DEFAULT_ANOMALY_POLICY).toMatchObject({
      impossibleTravelKmh: 900,
      travelDistanceMinKm: 100,
      concurrentDistanceKm: 500,
      failuresThreshold: 3,
      credentialChangeWindowS: 86_400,
      stepUpScore: 30,
      denyScore: 80,
    });
    expect(Object.keys(DEFAULT_ANOMALY_POLICY.weights).sort()).toEqual([...ANOMALY_REASONS].sort());
  });

  it("allows a returning customer at home on a known device with a score of 0", () => {
    expect(assessSignIn(quiet())).toEqual({
      score: 0,
      reasons: [],
      action: "allow",
      travelSpeedKmh: undefined,
    });
  });

  it("scores a first sign-in without history 0, unless the device is new", () => {
    const first = quiet({ knownCountries: [], previous: undefined });
    expect(assessSignIn(first)).toMatchObject({ score: 0, reasons: [], action: "allow" });
    expect(assessSignIn({ ...first, newDevice: true })).toMatchObject({
      score: 20,
      reasons: ["new_device"],
      action: "allow",
    });
  });

  it("flags a new device", () => {
    expect(assessSignIn(quiet({ newDevice: true }))).toMatchObject({ score: 20, reasons: ["new_device"] });
  });

  describe("new_country", () => {
    it("flags a country the subject has never signed in from", () => {
      const assessment = assessSignIn(quiet({ country: "FR", knownCountries: ["DE", "AT"] }));
      expect(assessment).toMatchObject({ score: 25, reasons: ["new_country"], action: "allow" });
    });

    it("does not flag a known country, whatever its case", () => {
      expect(assessSignIn(quiet({ country: "at", knownCountries: ["DE", "AT"] })).reasons).toEqual([]);
    });

    it("does not flag without a country for this request or without earlier countries", () => {
      expect(assessSignIn(quiet({ country: undefined })).reasons).toEqual([]);
      expect(assessSignIn(quiet({ country: "FR", knownCountries: [] })).reasons).toEqual([]);
    });
  });

  describe("impossible_travel", () => {
    const toNewYork = (elapsedMs: number) =>
      quiet({
        country: undefined,
        location: NEW_YORK_POINT,
        previous: { at: ago(elapsedMs), location: BERLIN_POINT },
      });

    it("flags Berlin to New York in one hour and reports the speed", () => {
      const assessment = assessSignIn(toNewYork(HOUR_MS));
      expect(assessment).toMatchObject({ score: 60, reasons: ["impossible_travel"], action: "step_up" });
      expect(assessment.travelSpeedKmh).toBe(Math.round(distanceKm(BERLIN_POINT, NEW_YORK_POINT)));
    });

    it("lets Berlin to New York in ten hours pass, still reporting the speed", () => {
      const assessment = assessSignIn(toNewYork(10 * HOUR_MS));
      expect(assessment).toMatchObject({ score: 0, reasons: [], action: "allow" });
      expect(assessment.travelSpeedKmh).toBe(Math.round(distanceKm(BERLIN_POINT, NEW_YORK_POINT) / 10));
    });

    it("treats no time at all between two far-apart places as infinitely fast, with no speed to report", () => {
      const assessment = assessSignIn(toNewYork(0));
      expect(assessment.reasons).toEqual(["impossible_travel"]);
      expect(assessment.travelSpeedKmh).toBeUndefined();
    });

    it("compares records that arrive out of order by the time between them", () => {
      const assessment = assessSignIn(toNewYork(-HOUR_MS));
      expect(assessment.reasons).toEqual(["impossible_travel"]);
      expect(assessment.travelSpeedKmh).toBe(Math.round(distanceKm(BERLIN_POINT, NEW_YORK_POINT)));
    });

    it("flags just above the speed limit and not just below it", () => {
      const km = 500;
      const hoursAtLimit = km / DEFAULT_ANOMALY_POLICY.impossibleTravelKmh;
      const arriving = (hours: number) =>
        assessSignIn(
          quiet({
            location: northOfBerlin(km),
            previous: { at: ago(hours * HOUR_MS), location: BERLIN_POINT },
          }),
        );
      const faster = arriving(hoursAtLimit * 0.99);
      expect(faster.reasons).toEqual(["impossible_travel"]);
      expect(faster.travelSpeedKmh).toBe(909);
      const slower = arriving(hoursAtLimit * 1.01);
      expect(slower.reasons).toEqual([]);
      expect(slower.travelSpeedKmh).toBe(891);
    });

    it("never calls a jump shorter than the minimum distance travel, however quick", () => {
      const jitter = (km: number, policy?: AnomalyPolicy) =>
        assessSignIn(
          quiet({ location: northOfBerlin(km), previous: { at: AT, location: BERLIN_POINT } }),
          policy,
        );
      expect(jitter(95)).toMatchObject({ reasons: [], travelSpeedKmh: undefined });
      expect(jitter(105).reasons).toEqual(["impossible_travel"]);
      const looser = { ...DEFAULT_ANOMALY_POLICY, travelDistanceMinKm: 50 };
      expect(jitter(95, looser).reasons).toEqual(["impossible_travel"]);
    });

    it("needs both this location and a previous one", () => {
      expect(assessSignIn({ ...toNewYork(HOUR_MS), location: undefined }).reasons).toEqual([]);
      expect(assessSignIn({ ...toNewYork(HOUR_MS), previous: undefined }).reasons).toEqual([]);
    });
  });

  describe("concurrent_far_apart", () => {
    const withSessionAt = (km: number) =>
      quiet({ concurrentSessions: [{ location: BERLIN_POINT }, { location: northOfBerlin(km) }] });

    it("flags another live session farther away than the limit", () => {
      expect(assessSignIn(withSessionAt(510))).toMatchObject({
        score: 40,
        reasons: ["concurrent_far_apart"],
        action: "step_up",
      });
    });

    it("does not flag sessions within the limit, or a request without a location", () => {
      expect(assessSignIn(withSessionAt(490)).reasons).toEqual([]);
      expect(assessSignIn({ ...withSessionAt(510), location: undefined }).reasons).toEqual([]);
    });
  });

  describe("many_failures", () => {
    it("flags from the threshold on", () => {
      expect(assessSignIn(quiet({ recentFailures: 2 })).reasons).toEqual([]);
      expect(assessSignIn(quiet({ recentFailures: 3 }))).toMatchObject({
        score: 25,
        reasons: ["many_failures"],
      });
    });
  });

  describe("recent_credential_change", () => {
    const changed = (agoMs: number) => assessSignIn(quiet({ credentialChangedAt: ago(agoMs) }));

    it("flags a change within the window before the sign-in, its edge included", () => {
      expect(changed(0)).toMatchObject({ score: 20, reasons: ["recent_credential_change"] });
      expect(changed(24 * HOUR_MS).reasons).toEqual(["recent_credential_change"]);
    });

    it("does not flag an older change, or one after the sign-in", () => {
      expect(changed(24 * HOUR_MS + SECOND_MS).reasons).toEqual([]);
      expect(changed(-SECOND_MS).reasons).toEqual([]);
    });
  });

  it("lists every reason in the documented order and caps the score at 100", () => {
    const everything = assessSignIn(
      quiet({
        newDevice: true,
        country: "US",
        location: NEW_YORK_POINT,
        previous: { at: ago(HOUR_MS), location: BERLIN_POINT },
        concurrentSessions: [{ location: BERLIN_POINT }],
        recentFailures: 5,
        credentialChangedAt: ago(HOUR_MS),
        behaviourScore: 15,
      }),
    );
    expect(everything).toMatchObject({ score: 100, reasons: [...ANOMALY_REASONS], action: "deny" });
  });

  it("sums the weights of the reasons present", () => {
    const assessment = assessSignIn(quiet({ newDevice: true, country: "FR", recentFailures: 3 }));
    expect(assessment).toMatchObject({ score: 70, reasons: ["new_device", "new_country", "many_failures"] });
  });

  it.each([
    [29, "allow"],
    [30, "step_up"],
    [79, "step_up"],
    [80, "deny"],
  ])("turns a score of %i into %s", (score, action) => {
    expect(assessSignIn(quiet({ newDevice: true }), scoring(score))).toMatchObject({ score, action });
  });

  it("never reads the system clock", () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      const signals = quiet({ credentialChangedAt: ago(HOUR_MS), previous: undefined });
      vi.setSystemTime(new Date("2001-01-01T00:00:00Z"));
      const longAgo = assessSignIn(signals);
      vi.setSystemTime(new Date("2099-01-01T00:00:00Z"));
      expect(assessSignIn(signals)).toEqual(longAgo);
      expect(longAgo.reasons).toEqual(["recent_credential_change"]);
    } finally {
      vi.useRealTimers();
    }
  });

  describe("properties", () => {
    const point = fc.record({
      latitude: fc.double({ min: -90, max: 90, noNaN: true }),
      longitude: fc.double({ min: -180, max: 180, noNaN: true }),
    });
    const country = fc.constantFrom("DE", "FR", "US", "GB");
    const instant = fc.date({
      min: new Date("2031-01-01T00:00:00Z"),
      max: new Date("2031-12-31T00:00:00Z"),
      noInvalidDate: true,
    });
    const signals: fc.Arbitrary<SignInSignals> = fc.record({
      at: instant,
      newDevice: fc.boolean(),
      country: fc.option(country, { nil: undefined }),
      knownCountries: fc.array(country, { maxLength: 3 }),
      location: fc.option(point, { nil: undefined }),
      previous: fc.option(fc.record({ at: instant, location: point }), { nil: undefined }),
      concurrentSessions: fc.array(fc.record({ location: point }), { maxLength: 3 }),
      recentFailures: fc.nat({ max: 10 }),
      credentialChangedAt: fc.option(instant, { nil: undefined }),
      behaviourScore: fc.option(fc.nat({ max: 100 }), { nil: undefined }),
    });
    const weight = fc.integer({ min: 0, max: 120 });
    const policy: fc.Arbitrary<AnomalyPolicy> = fc
      .record({
        impossibleTravelKmh: fc.integer({ min: 1, max: 5_000 }),
        travelDistanceMinKm: fc.integer({ min: 0, max: 1_000 }),
        concurrentDistanceKm: fc.integer({ min: 0, max: 5_000 }),
        failuresThreshold: fc.integer({ min: 1, max: 10 }),
        credentialChangeWindowS: fc.integer({ min: 0, max: 7 * 86_400 }),
        weights: fc.record({
          new_device: weight,
          new_country: weight,
          impossible_travel: weight,
          concurrent_far_apart: weight,
          many_failures: weight,
          recent_credential_change: weight,
          unusual_behaviour: weight,
        }),
        thresholds: fc.tuple(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 100 })),
      })
      .map(({ thresholds: [low, high], ...rest }) => ({
        ...rest,
        stepUpScore: Math.min(low, high),
        denyScore: Math.max(low, high),
      }));
    const RANK = { allow: 0, step_up: 1, deny: 2 } as const;

    it("keeps the score within 0..100, even with negative weights", () => {
      const anyWeight = fc.integer({ min: -200, max: 200 });
      const anyWeights = fc.record({
        new_device: anyWeight,
        new_country: anyWeight,
        impossible_travel: anyWeight,
        concurrent_far_apart: anyWeight,
        many_failures: anyWeight,
        recent_credential_change: anyWeight,
        unusual_behaviour: anyWeight,
      });
      fc.assert(
        fc.property(signals, policy, anyWeights, (s, p, weights) => {
          const { score } = assessSignIn(s, { ...p, weights });
          expect(score).toBeGreaterThanOrEqual(0);
          expect(score).toBeLessThanOrEqual(100);
        }),
      );
    });

    it("never lowers the score when a reason is added", () => {
      fc.assert(
        fc.property(signals, policy, point, (s, p, far) => {
          const { score } = assessSignIn(s, p);
          const worse: SignInSignals[] = [
            { ...s, newDevice: true },
            { ...s, recentFailures: s.recentFailures + p.failuresThreshold },
            { ...s, credentialChangedAt: s.at },
            { ...s, behaviourScore: (s.behaviourScore ?? 0) + 10 },
            { ...s, concurrentSessions: [...s.concurrentSessions, { location: far }] },
            { ...s, country: "JP" },
          ];
          for (const signalsWithMore of worse) {
            const more = assessSignIn(signalsWithMore, p);
            expect(more.score).toBeGreaterThanOrEqual(score);
            expect(more.reasons).toEqual(expect.arrayContaining(assessSignIn(s, p).reasons));
          }
        }),
      );
    });

    it("scores the sum of the present reasons' weights, capped, in the documented order", () => {
      fc.assert(
        fc.property(signals, policy, (s, p) => {
          const { score, reasons } = assessSignIn(s, p);
          // The behaviour profile adds its own score, up to its weight.
          const weightOf = (reason: (typeof reasons)[number]) =>
            reason === "unusual_behaviour"
              ? Math.min(p.weights[reason], s.behaviourScore ?? 0)
              : p.weights[reason];
          const sum = reasons.reduce((total, reason) => total + weightOf(reason), 0);
          expect(score).toBe(Math.min(100, sum));
          expect(reasons).toEqual(ANOMALY_REASONS.filter((reason) => reasons.includes(reason)));
        }),
      );
    });

    it("never softens the action as the score grows", () => {
      fc.assert(
        fc.property(policy, weight, weight, (p, a, b) => {
          const [low, high] = a <= b ? [a, b] : [b, a];
          const act = (score: number) => assessSignIn(quiet({ newDevice: true }), scoring(score, p)).action;
          expect(RANK[act(low)]).toBeLessThanOrEqual(RANK[act(high)]);
        }),
      );
    });
  });
});

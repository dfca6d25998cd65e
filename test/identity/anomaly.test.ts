import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

async function answerWithTotp(
  challenge: { json: <T>() => T },
  secret: string,
  headers: Record<string, string>,
) {
  const response = await app.http.inject({
    method: "POST",
    url: "/v1/auth/login/mfa",
    headers,
    payload: {
      challengeId: challenge.json<{ challengeId: string }>().challengeId,
      totp: await totpCode(secret, clock.now()),
    },
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<Tokens>();
}

async function enrolTotp(accessToken: string): Promise<string> {
  const started = await app.http.inject({
    method: "POST",
    url: "/v1/auth/mfa/totp",
    headers: bearer(accessToken),
  });
  expect(started.statusCode, started.body).toBe(200);
  const { secret } = started.json<{ secret: string }>();
  const confirmed = await app.http.inject({
    method: "POST",
    url: "/v1/auth/mfa/totp/confirm",
    headers: bearer(accessToken),
    payload: { code: await totpCode(secret, clock.now()) },
  });
  expect(confirmed.statusCode, confirmed.body).toBe(200);
  return secret;
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
    const secret = await enrolTotp(home.accessToken);
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

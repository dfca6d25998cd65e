import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/platform/clock.ts";
import type { DomainEvent } from "../../src/platform/events/event.ts";
import { findOutboxEvents } from "../../src/platform/events/outbox.ts";
import type { TestApp } from "../helpers/test-app.ts";
import {
  bearer,
  decodeClaims,
  expectProblem,
  login,
  PASSWORD,
  register,
  uniqueEmail,
} from "../identity.helpers.ts";
import {
  attemptLogin,
  createIdentityApp,
  enrolTotp,
  loginWithCurrentCode,
  phone,
  TOTP_STEP_MS,
} from "./factors.helpers.ts";

/** What the client reports about its device at login, how it is kept, and forgetting a device. */

const clock = new ManualClock(new Date("2031-05-04T09:00:00Z"));
const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;

let app: TestApp;

beforeAll(async () => {
  app = await createIdentityApp(clock);
});

afterAll(async () => {
  await app?.destroy();
});

interface DeviceItem {
  deviceId: string;
  platform: string | null;
  appVersion: string | null;
  trusted: boolean;
  firstSeenAt: string;
  lastSeenAt: string;
}

function me(accessToken: string) {
  return app.http.inject({ method: "GET", url: "/v1/customers/me", headers: bearer(accessToken) });
}

function refresh(refreshToken: string) {
  return app.http.inject({ method: "POST", url: "/v1/auth/refresh", payload: { refreshToken } });
}

async function listDevices(accessToken: string): Promise<DeviceItem[]> {
  const response = await app.http.inject({
    method: "GET",
    url: "/v1/auth/devices",
    headers: bearer(accessToken),
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<{ items: DeviceItem[] }>().items;
}

async function securityEvents(kind: string, customerId: string) {
  const stored = await findOutboxEvents(app.database.db, {
    type: `security.${kind}`,
    aggregateId: customerId,
  });
  return stored.map((row) => row.event as DomainEvent);
}

describe("device reports", () => {
  it("records the device id, platform and app version, and shows them on the session", async () => {
    const email = uniqueEmail();
    await register(app, email);
    const firstSeen = clock.now().toISOString();
    const tokens = await login(
      app,
      email,
      PASSWORD,
      phone("pixel-8a", { "x-device-platform": "android", "x-app-version": "4.2.0" }),
    );
    expect(await listDevices(tokens.accessToken)).toEqual([
      {
        deviceId: "pixel-8a",
        platform: "android",
        appVersion: "4.2.0",
        trusted: false,
        firstSeenAt: firstSeen,
        lastSeenAt: firstSeen,
      },
    ]);

    clock.advance(MINUTE_MS);
    const updated = await login(
      app,
      email,
      PASSWORD,
      phone("pixel-8a", { "x-device-platform": "android", "x-app-version": "4.3.0" }),
    );
    expect(await listDevices(updated.accessToken)).toEqual([
      expect.objectContaining({
        deviceId: "pixel-8a",
        appVersion: "4.3.0",
        firstSeenAt: firstSeen,
        lastSeenAt: clock.now().toISOString(),
      }),
    ]);
    const sessions = await app.http.inject({
      method: "GET",
      url: "/v1/auth/sessions",
      headers: bearer(updated.accessToken),
    });
    const current = sessions.json<{ items: Record<string, unknown>[] }>().items.find((item) => item.current);
    expect(current).toMatchObject({
      channel: "mobile",
      deviceId: "pixel-8a",
      platform: "android",
      appVersion: "4.3.0",
    });
  });

  it("emits security.new_device on the first login from each device only", async () => {
    const email = uniqueEmail();
    const customerId = await register(app, email);
    const first = await login(app, email, PASSWORD, phone("iphone-15", { "x-device-platform": "ios" }));
    await login(app, email, PASSWORD, phone("iphone-15", { "x-device-platform": "ios" }));
    await login(app, email, PASSWORD, phone("ipad-air", { "x-device-platform": "ipados" }));

    const events = await securityEvents("new_device", customerId);
    expect(events.map((event) => event.deviceId)).toEqual(["iphone-15", "ipad-air"]);
    expect(events[0]?.data).toMatchObject({
      kind: "new_device",
      subjectType: "customer",
      subjectId: customerId,
      sessionId: decodeClaims(first.accessToken).sid,
      details: { trusted: false },
    });
  });

  it("refuses a malformed X-Device-Platform or X-App-Version with 400 and opens no session", async () => {
    const email = uniqueEmail();
    const customerId = await register(app, email);
    const malformed: Record<string, string>[] = [
      { "x-device-platform": "android<script>" },
      { "x-device-platform": "a".repeat(33) },
      { "x-app-version": "4.2.0; drop table" },
    ];
    for (const report of malformed) {
      expectProblem(await attemptLogin(app, email, phone("bad-report", report)), 400, "validation");
    }
    expect(await securityEvents("login_succeeded", customerId)).toEqual([]);
  });
});

describe("forgetting a device", () => {
  it("ends the device's sessions and untrusts it: the next login there asks for the second factor", async () => {
    const email = uniqueEmail();
    const customerId = await register(app, email);
    const secret = (await enrolTotp(app, (await login(app, email)).accessToken, clock)).authenticator.secret;
    // Past the 24 hours in which a credential change alone would raise the anomaly score, so
    // that only the device's trust decides whether the second factor is asked for.
    clock.advance(25 * HOUR_MS);
    const laptop = await loginWithCurrentCode(app, email, secret, clock, {});
    clock.advance(TOTP_STEP_MS);
    const strong = await loginWithCurrentCode(app, email, secret, clock, phone("lost-phone"));
    // Trusted now: the password alone is enough there.
    const passwordOnly = await login(app, email, PASSWORD, phone("lost-phone"));
    expect((await listDevices(laptop.accessToken)).find((d) => d.deviceId === "lost-phone")?.trusted).toBe(
      true,
    );

    const removed = await app.http.inject({
      method: "DELETE",
      url: "/v1/auth/devices/lost-phone",
      headers: bearer(laptop.accessToken),
    });
    expect(removed.statusCode, removed.body).toBe(204);

    for (const tokens of [strong, passwordOnly]) {
      expectProblem(await me(tokens.accessToken), 401, "unauthorized");
      expectProblem(await refresh(tokens.refreshToken), 401, "unauthorized");
    }
    expect((await me(laptop.accessToken)).statusCode).toBe(200);
    expect(
      (await listDevices(laptop.accessToken)).filter((d) => d.deviceId === "lost-phone" && d.trusted),
    ).toEqual([]);
    const [event] = await securityEvents("device_removed", customerId);
    expect(event?.data).toMatchObject({ subjectId: customerId, details: { deviceId: "lost-phone" } });

    expectProblem(await attemptLogin(app, email, phone("lost-phone")), 401, "mfa-required");
  });

  it("answers 404 for another customer's device and leaves it alone", async () => {
    const ownEmail = uniqueEmail();
    await register(app, ownEmail);
    const own = await login(app, ownEmail, PASSWORD, phone("own-phone"));
    const otherEmail = uniqueEmail();
    await register(app, otherEmail);
    const other = await login(app, otherEmail, PASSWORD, phone("their-phone"));

    const response = await app.http.inject({
      method: "DELETE",
      url: "/v1/auth/devices/their-phone",
      headers: bearer(own.accessToken),
    });
    expectProblem(response, 404, "not-found");
    expect((await me(other.accessToken)).statusCode).toBe(200);
    expect((await listDevices(other.accessToken)).map((device) => device.deviceId)).toEqual(["their-phone"]);
  });
});

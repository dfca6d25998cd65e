import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/platform/clock.ts";
import type { DomainEvent } from "../../src/platform/events/event.ts";
import { findOutboxEvents } from "../../src/platform/events/outbox.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";
import { login, PASSWORD, register, uniqueEmail } from "../identity.helpers.ts";
import { waitForProfile } from "./fraud.helpers.ts";

/**
 * The fraud engine's decision at sign-in feeds identity's anomaly score: a customer who always
 * signs in around nine in the morning and suddenly signs in at three at night gets the
 * `unusual_behaviour` reason, with the engine's rule code behind it, on the security event.
 */

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const clock = new ManualClock(new Date("2031-03-01T09:00:00Z"));
let app: TestApp;

beforeAll(async () => {
  app = await createTestApp({
    clock,
    env: {
      OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "10000",
      OMNICORE_RATE_LIMIT_AUTH_PER_ACCOUNT_PER_MINUTE: "10000",
    },
  });
});

afterAll(async () => {
  await app?.destroy();
});

interface LoginData {
  details: { reasons: string[]; behaviourReasons?: string[]; anomalyScore: number };
}

async function logins(customerId: string): Promise<DomainEvent<LoginData>[]> {
  const stored = await findOutboxEvents(app.database.db, {
    type: "security.login_succeeded",
    aggregateId: customerId,
  });
  return stored.map((row) => row.event as unknown as DomainEvent<LoginData>);
}

const device = { "x-device-id": "phone-of-habit", "x-channel": "mobile" };

describe("the fraud engine at sign-in", () => {
  it("adds the customer's unusual hour to the anomaly score, and nothing at the usual one", async () => {
    const email = uniqueEmail("habit");
    const customerId = await register(app, email);
    // Three weeks of sign-ins at nine: the profile learns the habit from session.started events.
    for (let day = 0; day < 21; day++) {
      await login(app, email, PASSWORD, device);
      await waitForProfile(
        app,
        customerId,
        (profile) => profile.activeHoursUtc[9]! >= day + 1,
        "login learned",
      );
      clock.advance(DAY_MS);
    }
    const usual = (await logins(customerId)).length;
    await login(app, email, PASSWORD, device);
    const atUsualHour = await logins(customerId);
    expect(atUsualHour.slice(usual).flatMap((event) => event.data.details.reasons)).not.toContain(
      "unusual_behaviour",
    );

    clock.advance(18 * HOUR_MS); // 03:00 the next night
    await login(app, email, PASSWORD, device);
    const atNight = (await logins(customerId)).at(-1)!;
    expect(atNight.data.details).toMatchObject({
      reasons: ["unusual_behaviour"],
      behaviourReasons: ["unusual_hour"],
      anomalyScore: 5,
    });
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/platform/clock.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";
import { register, uniqueEmail } from "../identity.helpers.ts";

const HOUR_MS = 3_600_000;

describe("identity housekeeping", () => {
  const clock = new ManualClock(new Date("2031-03-01T08:00:00Z"));
  let app: TestApp;

  beforeAll(async () => {
    app = await createTestApp({ clock, env: { OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "1000" } });
  });
  afterAll(async () => app.destroy());

  const wrongPassword = async (email: string) => {
    const response = await app.http.inject({
      method: "POST",
      url: "/v1/auth/login",
      payload: { email, password: "certainly not the password" },
    });
    expect(response.statusCode, response.body).toBe(401);
    return response.json<{ attemptsRemaining: number }>().attemptsRemaining;
  };

  it("forgets a streak of failures a day after it stopped, and keeps a recent one", async () => {
    const stale = uniqueEmail();
    const recent = uniqueEmail();
    await register(app, stale);
    await register(app, recent);
    expect([await wrongPassword(stale), await wrongPassword(stale)]).toEqual([4, 3]);
    clock.advance(23 * HOUR_MS);
    expect(await wrongPassword(recent)).toBe(4);
    clock.advance(2 * HOUR_MS);

    expect(await app.services.identity.prune()).toBeGreaterThanOrEqual(1);
    expect(await wrongPassword(stale)).toBe(4);
    expect(await wrongPassword(recent)).toBe(3);
  });

  it("removes challenges a day after they expired", async () => {
    const started = await app.http.inject({ method: "POST", url: "/v1/auth/passkeys/login/options" });
    const { challengeId } = started.json<{ challengeId: string }>();
    const stored = () =>
      app.database.db.selectFrom("identity_challenges").select("id").where("id", "=", challengeId).execute();
    await app.services.identity.prune();
    expect(await stored()).toHaveLength(1);
    clock.advance(25 * HOUR_MS);
    await app.services.identity.prune();
    expect(await stored()).toHaveLength(0);
  });
});

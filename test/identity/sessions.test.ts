import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type App, buildApp } from "../../src/app.ts";
import { ManualClock } from "../../src/platform/clock.ts";
import { createTestApp, type TestApp, testConfig, usingPostgres } from "../helpers/test-app.ts";
import {
  bearer,
  decodeClaims,
  expectProblem,
  login,
  outboxEvents,
  PASSWORD,
  signedInCustomer,
  type Tokens,
} from "../identity.helpers.ts";
import { enrolTotp, loginWithCurrentCode } from "./factors.helpers.ts";

/**
 * Session lifetimes per channel, the refresh retry window, the caller's session list and
 * revocation, all through HTTP with an injected clock: no test waits for real time.
 */

// Far from the real time, so that anything reading the system clock instead would be caught.
const clock = new ManualClock(new Date("2031-03-03T08:00:00Z"));
/** These tests sign in and refresh far more often than a person would; security.test.ts covers the limits. */
const GENEROUS_LIMITS = {
  OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "100000",
  OMNICORE_RATE_LIMIT_AUTH_PER_ACCOUNT_PER_MINUTE: "100000",
};
const SECOND_MS = 1_000;
const MINUTE_MS = 60 * SECOND_MS;
const DAY_MS = 24 * 60 * MINUTE_MS;
const MOBILE = { "x-channel": "mobile" };

let app: TestApp;

beforeAll(async () => {
  app = await createTestApp({ clock, env: GENEROUS_LIMITS });
});

afterAll(async () => {
  await app?.destroy();
});

interface SessionItem {
  id: string;
  channel: string;
  deviceId: string | null;
  strength: string;
  idleTimeoutS: number;
  expiresAt: string;
  current: boolean;
}

function me(accessToken: string, target: App = app) {
  return target.http.inject({ method: "GET", url: "/v1/customers/me", headers: bearer(accessToken) });
}

function refresh(refreshToken: string, target: App = app) {
  return target.http.inject({ method: "POST", url: "/v1/auth/refresh", payload: { refreshToken } });
}

async function refreshed(refreshToken: string, target: App = app): Promise<Tokens> {
  const response = await refresh(refreshToken, target);
  expect(response.statusCode, response.body).toBe(200);
  return response.json<Tokens>();
}

async function listSessions(accessToken: string): Promise<SessionItem[]> {
  const response = await app.http.inject({
    method: "GET",
    url: "/v1/auth/sessions",
    headers: bearer(accessToken),
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<{ items: SessionItem[] }>().items;
}

function sessionIdOf(accessToken: string): string {
  return String(decodeClaims(accessToken).sid);
}

describe("idle timeout on the web (300 s)", () => {
  it("keeps a session 299 s after the last request and ends it after 301 s of silence", async () => {
    const { tokens } = await signedInCustomer(app);
    clock.advance(299 * SECOND_MS);
    expect((await me(tokens.accessToken)).statusCode).toBe(200);
    // A fresh access token, so that the 401 below can only come from idleness, not from the
    // token's own 600-second life.
    const renewed = await refreshed(tokens.refreshToken);

    clock.advance(301 * SECOND_MS);
    expectProblem(await me(renewed.accessToken), 401, "unauthorized");
    expectProblem(await refresh(renewed.refreshToken), 401, "unauthorized");
  });

  it("stays alive past 300 s in total while calls come 200 s apart", async () => {
    const { tokens } = await signedInCustomer(app);
    let { accessToken, refreshToken } = tokens;
    for (let call = 1; call <= 5; call++) {
      clock.advance(200 * SECOND_MS);
      expect((await me(accessToken)).statusCode, `call ${call} at ${call * 200} s`).toBe(200);
      // The token itself lives 600 s: renew it every other call, right after the call.
      if (call % 2 === 0) {
        const renewed = await refreshed(refreshToken);
        ({ accessToken, refreshToken } = renewed);
      }
    }
  });

  it("counts a refresh as activity for the access tokens too", async () => {
    const { tokens } = await signedInCustomer(app);
    expect((await me(tokens.accessToken)).statusCode).toBe(200);
    clock.advance(200 * SECOND_MS);
    const renewed = await refreshed(tokens.refreshToken);
    // 400 s after the last request but 200 s after the refresh: still within the idle timeout.
    clock.advance(200 * SECOND_MS);
    const response = await me(renewed.accessToken);
    expect(response.statusCode, response.body).toBe(200);
  });
});

describe("idle timeout on mobile", () => {
  it("is 900 s on a device that is not trusted", async () => {
    const { tokens } = await signedInCustomer(app, { ...MOBILE, "x-device-id": "untrusted-phone" });
    const [session] = await listSessions(tokens.accessToken);
    expect(session).toMatchObject({ channel: "mobile", strength: "password", idleTimeoutS: 900 });

    clock.advance(899 * SECOND_MS);
    const renewed = await refreshed(tokens.refreshToken);
    clock.advance(901 * SECOND_MS);
    expectProblem(await refresh(renewed.refreshToken), 401, "unauthorized");
  });

  it("is 30 days once a strong login has made the device trusted", async () => {
    const device = { ...MOBILE, "x-device-id": "trusted-phone" };
    const { email, tokens } = await signedInCustomer(app);
    const secret = (await enrolTotp(app, tokens.accessToken, clock)).authenticator.secret;
    clock.advance(30 * SECOND_MS); // the next TOTP step: each code is accepted once

    const strong = await loginWithCurrentCode(app, email, secret, clock, device);
    const current = (await listSessions(strong.accessToken)).find((item) => item.current);
    expect(current).toMatchObject({ channel: "mobile", strength: "mfa", idleTimeoutS: 30 * 86_400 });

    clock.advance(20 * DAY_MS);
    const renewed = await refreshed(strong.refreshToken);
    expect((await me(renewed.accessToken)).statusCode).toBe(200);
    clock.advance(30 * DAY_MS + SECOND_MS);
    expectProblem(await refresh(renewed.refreshToken), 401, "unauthorized");

    // The trust stays with the device: the password alone now opens a 30-day session there.
    const again = await login(app, email, PASSWORD, device);
    const reopened = (await listSessions(again.accessToken)).find((item) => item.current);
    expect(reopened).toMatchObject({ strength: "password", idleTimeoutS: 30 * 86_400 });
  });
});

describe("absolute lifetime on the web (12 h)", () => {
  it("refuses the refresh after 12 h even with activity every 4 minutes", async () => {
    const { tokens } = await signedInCustomer(app);
    const [session] = await listSessions(tokens.accessToken);
    const endMs = Date.parse(session?.expiresAt ?? "");
    expect(endMs - clock.now().getTime()).toBe(12 * 60 * MINUTE_MS);

    let current = tokens;
    while (clock.now().getTime() + 4 * MINUTE_MS < endMs) {
      clock.advance(4 * MINUTE_MS);
      current = await refreshed(current.refreshToken);
      expect((await me(current.accessToken)).statusCode).toBe(200);
    }
    clock.advance(endMs - clock.now().getTime());
    expectProblem(await refresh(current.refreshToken), 401, "unauthorized");
    expectProblem(await me(current.accessToken), 401, "unauthorized");
  });
});

describe("refresh retry window (10 s)", () => {
  it("answers a spent token once more while its successor is unused, and the session lives on", async () => {
    const { tokens } = await signedInCustomer(app);
    await refreshed(tokens.refreshToken); // the response is "lost": its tokens are never used
    clock.advance(9 * SECOND_MS);
    const retried = await refreshed(tokens.refreshToken);
    expect(retried.refreshToken).not.toBe(tokens.refreshToken);

    expect((await me(retried.accessToken)).statusCode).toBe(200);
    const next = await refreshed(retried.refreshToken);
    expect((await me(next.accessToken)).statusCode).toBe(200);
  });

  it("revokes the session when the spent token comes back after its successor was used", async () => {
    const { customerId, tokens } = await signedInCustomer(app);
    const successor = await refreshed(tokens.refreshToken);
    const third = await refreshed(successor.refreshToken);
    clock.advance(2 * SECOND_MS);

    expectProblem(await refresh(tokens.refreshToken), 401, "unauthorized");
    expectProblem(await me(third.accessToken), 401, "unauthorized");
    expectProblem(await refresh(third.refreshToken), 401, "unauthorized");
    const [reused] = await outboxEvents(app, "security.refresh_token_reused", customerId);
    expect(reused?.data).toMatchObject({ sessionId: sessionIdOf(tokens.accessToken) });
  });

  it("revokes the session when the spent token comes back after the window", async () => {
    const { tokens } = await signedInCustomer(app);
    const successor = await refreshed(tokens.refreshToken);
    clock.advance(11 * SECOND_MS);

    expectProblem(await refresh(tokens.refreshToken), 401, "unauthorized");
    expectProblem(await refresh(successor.refreshToken), 401, "unauthorized");
    expectProblem(await me(successor.accessToken), 401, "unauthorized");
  });

  it("detects reuse at once with OMNICORE_REFRESH_REUSE_GRACE_S=0", async () => {
    const strict = await createTestApp({
      clock,
      env: { ...GENEROUS_LIMITS, OMNICORE_REFRESH_REUSE_GRACE_S: "0" },
    });
    try {
      const { tokens } = await signedInCustomer(strict);
      const successor = await refreshed(tokens.refreshToken, strict);
      expectProblem(await refresh(tokens.refreshToken, strict), 401, "unauthorized");
      expectProblem(await refresh(successor.refreshToken, strict), 401, "unauthorized");
      expectProblem(await me(successor.accessToken, strict), 401, "unauthorized");
    } finally {
      await strict.destroy();
    }
  });
});

describe("the caller's sessions", () => {
  it("lists the live sessions with the caller's marked current", async () => {
    const { email, tokens: web } = await signedInCustomer(app);
    const phone = await login(app, email, PASSWORD, { ...MOBILE, "x-device-id": "list-phone" });

    const items = await listSessions(web.accessToken);
    expect(items.map((item) => [item.id, item.channel, item.current]).sort()).toEqual(
      [
        [sessionIdOf(web.accessToken), "web", true],
        [sessionIdOf(phone.accessToken), "mobile", false],
      ].sort(),
    );
    const fromPhone = await listSessions(phone.accessToken);
    expect(fromPhone.find((item) => item.current)?.id).toBe(sessionIdOf(phone.accessToken));

    // An idle session is not live any more, though nobody revoked it.
    clock.advance(301 * SECOND_MS);
    expect((await listSessions(phone.accessToken)).map((item) => item.id)).toEqual([
      sessionIdOf(phone.accessToken),
    ]);
  });

  it("ends one session: its access token at once, its refresh token too", async () => {
    const { email, tokens: web } = await signedInCustomer(app);
    const phone = await login(app, email, PASSWORD, { ...MOBILE, "x-device-id": "lost-phone" });
    expect((await me(phone.accessToken)).statusCode).toBe(200);

    const deleted = await app.http.inject({
      method: "DELETE",
      url: `/v1/auth/sessions/${sessionIdOf(phone.accessToken)}`,
      headers: bearer(web.accessToken),
    });
    expect(deleted.statusCode, deleted.body).toBe(204);
    expectProblem(await me(phone.accessToken), 401, "unauthorized");
    expectProblem(await refresh(phone.refreshToken), 401, "unauthorized");
    expect((await listSessions(web.accessToken)).map((item) => item.id)).toEqual([
      sessionIdOf(web.accessToken),
    ]);
    expect((await me(web.accessToken)).statusCode).toBe(200);
  });

  it("answers 404 for another customer's session and leaves it alive", async () => {
    const attacker = await signedInCustomer(app);
    const victim = await signedInCustomer(app);

    const deleted = await app.http.inject({
      method: "DELETE",
      url: `/v1/auth/sessions/${sessionIdOf(victim.tokens.accessToken)}`,
      headers: bearer(attacker.tokens.accessToken),
    });
    expectProblem(deleted, 404, "not-found");
    expect((await me(victim.tokens.accessToken)).statusCode).toBe(200);
    await refreshed(victim.tokens.refreshToken);
  });

  it("ends the session at logout", async () => {
    const { tokens } = await signedInCustomer(app);
    const logout = await app.http.inject({
      method: "POST",
      url: "/v1/auth/logout",
      headers: bearer(tokens.accessToken),
    });
    expect(logout.statusCode, logout.body).toBe(204);
    expectProblem(await me(tokens.accessToken), 401, "unauthorized");
    expectProblem(await refresh(tokens.refreshToken), 401, "unauthorized");
  });
});

describe("several nodes", () => {
  // One embedded node has nothing to share: this needs PostgreSQL and Redis, as in production.
  const sharedServices = usingPostgres && Boolean(process.env.REDIS_URL);

  it.skipIf(!sharedServices)("stops a revoked access token at once on every node", async () => {
    const { url } = app.config.database;
    const { redisUrl } = app.config;
    if (!url || !redisUrl) throw new Error("needs DATABASE_URL and REDIS_URL");
    // The same database and cache prefix as node A; not started, so it relays no outbox rows.
    const nodeB = await buildApp({
      config: testConfig({
        ...GENEROUS_LIMITS,
        DATABASE_URL: url,
        REDIS_URL: redisUrl,
        OMNICORE_CACHE_PREFIX: app.config.cachePrefix,
      }),
      clock,
    });
    try {
      const { tokens } = await signedInCustomer(app);
      // Node B has verified the token and seen the session alive before the logout.
      expect((await me(tokens.accessToken, nodeB)).statusCode).toBe(200);

      const logout = await app.http.inject({
        method: "POST",
        url: "/v1/auth/logout",
        headers: bearer(tokens.accessToken),
      });
      expect(logout.statusCode, logout.body).toBe(204);
      expectProblem(await me(tokens.accessToken, nodeB), 401, "unauthorized");
    } finally {
      await nodeB.close();
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/platform/clock.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";
import {
  bearer,
  expectProblem,
  PASSWORD,
  register,
  signedInCustomer,
  uniqueEmail,
} from "../identity.helpers.ts";
import {
  callRoute,
  createOwaspApp,
  type DocumentedRoute,
  documentedRoutes,
  expectSoundEnumeration,
  fillPath,
  forEveryRoute,
} from "./routes.ts";

/**
 * OWASP API4 (unrestricted resource consumption): bodies over the limit are cut off before anything
 * else happens, and every anonymous sign-in route is rate limited per client IP and per account.
 */

const clock = new ManualClock(new Date("2031-08-08T09:00:00Z"));
const PER_IP_MAX = 3;
const PER_ACCOUNT_MAX = 2;

let app: TestApp;
/** Same build, with limits low enough to reach in a few requests. */
let limited: TestApp;
let routes: DocumentedRoute[];

beforeAll(async () => {
  app = await createOwaspApp(clock);
  limited = await createTestApp({
    clock,
    env: {
      OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: String(PER_IP_MAX),
      OMNICORE_RATE_LIMIT_AUTH_PER_ACCOUNT_PER_MINUTE: String(PER_ACCOUNT_MAX),
    },
  });
  routes = await documentedRoutes(app);
});

afterAll(async () => {
  await app?.destroy();
  await limited?.destroy();
});

/** A JSON object of exactly `bytes` bytes. */
function jsonOfSize(bytes: number): string {
  const frame = JSON.stringify({ pad: "" }).length;
  return JSON.stringify({ pad: "x".repeat(bytes - frame) });
}

function post(target: TestApp, url: string, remoteAddress: string, payload: Record<string, unknown>) {
  return target.http.inject({ method: "POST", url, remoteAddress, payload });
}

describe("API4 request body size", () => {
  it("answers 413 to a body one byte over the limit on every route that takes a body, before authentication", async () => {
    expectSoundEnumeration(routes);
    const tooLarge = jsonOfSize(app.config.http.bodyLimitBytes + 1);
    await forEveryRoute(
      routes.filter((route) => route.hasBody),
      async (route) => {
        const response = await callRoute(app, route, {
          headers: { "content-type": "application/json" },
          payload: tooLarge,
        });
        expectProblem(response, 413, "payload-too-large");
      },
    );
  });

  it("reads a body of exactly the limit (then judges it by the schema)", async () => {
    const response = await app.http.inject({
      method: "POST",
      url: "/v1/auth/login",
      headers: { "content-type": "application/json" },
      payload: jsonOfSize(app.config.http.bodyLimitBytes),
    });
    expectProblem(response, 400, "validation");
  });
});

describe("API4 rate limits on the anonymous routes", () => {
  it("limits every anonymous route that is not a health check per client IP, with Retry-After", async () => {
    const anonymous = routes.filter((route) => route.audience === "anonymous" && route.method !== "GET");
    expect(anonymous.map((route) => route.key)).toContain("POST /v1/auth/login");
    let host = 0;
    await forEveryRoute(anonymous, async (route) => {
      host += 1;
      const from = async (remoteAddress: string) =>
        limited.http.inject({
          method: route.method,
          url: fillPath(route),
          remoteAddress,
          ...(route.hasBody ? { payload: {} } : {}),
        });
      for (let attempt = 1; attempt <= PER_IP_MAX; attempt++) {
        expect((await from(`198.51.100.${host}`)).statusCode, `attempt ${attempt}`).not.toBe(429);
      }
      const refused = await from(`198.51.100.${host}`);
      expectProblem(refused, 429, "rate-limited");
      expect(Number(refused.headers["retry-after"])).toBeGreaterThan(0);
      expect((await from(`203.0.113.${host}`)).statusCode).not.toBe(429);
    });
  });

  it("limits customer sign-in per account, whatever the IP and even with the right password", async () => {
    const email = uniqueEmail("target");
    await register(limited, email);
    const login = (password: string, host: number) =>
      post(limited, "/v1/auth/login", `192.0.2.${host}`, { email, password });
    for (let attempt = 1; attempt <= PER_ACCOUNT_MAX; attempt++) {
      expectProblem(await login("a wrong password, guessed", attempt), 401, "unauthorized");
    }
    expectProblem(await login("another wrong password", 100), 429, "rate-limited");
    expectProblem(await login(PASSWORD, 101), 429, "rate-limited");
    // Another account from one of the same addresses is not affected.
    const other = await post(limited, "/v1/auth/login", "192.0.2.1", {
      email: uniqueEmail(),
      password: PASSWORD,
    });
    expectProblem(other, 401, "unauthorized");
  });

  it("limits staff sign-in per account the same way, known e-mail or not", async () => {
    const email = uniqueEmail("staff-target");
    const login = (host: number) =>
      post(limited, "/v1/staff/auth/login", `192.0.2.${host + 150}`, { email, password: PASSWORD });
    for (let attempt = 1; attempt <= PER_ACCOUNT_MAX; attempt++) {
      expectProblem(await login(attempt), 401, "unauthorized");
    }
    expectProblem(await login(50), 429, "rate-limited");
  });

  it("limits confirming an authenticator app per caller, whatever the IP (a route with no per-IP limit)", async () => {
    const { tokens } = await signedInCustomer(limited);
    const started = await limited.http.inject({
      method: "POST",
      url: "/v1/auth/mfa/totp",
      headers: bearer(tokens.accessToken),
    });
    expect(started.statusCode, started.body).toBe(200);
    const confirm = (host: number) =>
      limited.http.inject({
        method: "POST",
        url: "/v1/auth/mfa/totp/confirm",
        remoteAddress: `192.0.2.${host + 200}`,
        headers: bearer(tokens.accessToken),
        payload: { code: "000000" },
      });
    for (let attempt = 1; attempt <= PER_ACCOUNT_MAX; attempt++) {
      expectProblem(await confirm(attempt), 422, "factor-rejected");
    }
    expectProblem(await confirm(50), 429, "rate-limited");
  });
});

describe("API4 sync pages and event streams", () => {
  it("bounds a sync page, and gives a stream slot back when the client hangs up (the 429 is in test/sync)", async () => {
    const { tokens } = await signedInCustomer(app);
    const routesByKey = new Map(routes.map((route) => [route.key, route]));
    const sync = routesByKey.get("GET /v1/sync")!;
    const tooLarge = await app.http.inject({
      method: "GET",
      url: `${fillPath(sync)}?limit=501`,
      headers: bearer(tokens.accessToken),
    });
    expectProblem(tooLarge, 400, "validation");
    const stream = routesByKey.get("GET /v1/events/stream")!;
    const limit = app.config.sync.streamConnectionsPerCustomerMax;
    for (let open = 0; open < limit; open++) {
      const accepted = await callRoute(app, stream, { headers: bearer(tokens.accessToken) });
      expect(accepted.statusCode).toBe(200);
    }
    // The suite hangs up on every accepted stream: the server has let them all go again.
    expect((await callRoute(app, stream, { headers: bearer(tokens.accessToken) })).statusCode).toBe(200);
  });
});

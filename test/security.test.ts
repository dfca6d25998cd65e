import { generateKeyPairSync } from "node:crypto";
import { Writable } from "node:stream";
import { jwtVerify, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type App, buildApp } from "../src/app.ts";
import { ManualClock } from "../src/platform/clock.ts";
import { createLogger } from "../src/platform/logger.ts";
import { createTestApp, createTestDatabase, type TestApp, testConfig } from "./helpers/test-app.ts";
import {
  adminTokens,
  auditRecords,
  bearer,
  createStaff,
  decodeClaims,
  expectProblem,
  login,
  outboxEvents,
  PASSWORD,
  register,
  signedInCustomer,
  staffLogin,
  type Tokens,
  uniqueEmail,
} from "./identity.helpers.ts";

let app: TestApp;

beforeAll(async () => {
  // Reuse detection without the retry window here; the window has its own tests.
  app = await createTestApp({ env: { OMNICORE_REFRESH_REUSE_GRACE_S: "0" } });
});

afterAll(async () => {
  await app?.destroy();
});

function me(target: App, accessToken: string) {
  return target.http.inject({ method: "GET", url: "/v1/customers/me", headers: bearer(accessToken) });
}

function refresh(target: App, refreshToken: string) {
  return target.http.inject({ method: "POST", url: "/v1/auth/refresh", payload: { refreshToken } });
}

function createTellerRequest(accessToken: string) {
  return app.http.inject({
    method: "POST",
    url: "/v1/staff/users",
    headers: bearer(accessToken),
    payload: { email: uniqueEmail("teller"), password: PASSWORD, role: "teller" },
  });
}

/** Replaces the character at `index` with another base64url character. */
function flipCharacter(text: string, index: number): string {
  const replacement = text[index] === "A" ? "B" : "A";
  return text.slice(0, index) + replacement + text.slice(index + 1);
}

describe("audiences and roles", () => {
  it("refuses a customer token on a staff route", async () => {
    const { tokens } = await signedInCustomer(app);
    expectProblem(await createTellerRequest(tokens.accessToken), 401, "unauthorized");
  });

  it("refuses a staff token on a customer route", async () => {
    const admin = await adminTokens(app);
    expectProblem(await me(app, admin.accessToken), 401, "unauthorized");
  });

  it("refuses a teller on an admin-only route with 403", async () => {
    const teller = await createStaff(app, await adminTokens(app), "teller");
    const tokens = await staffLogin(app, teller.email, teller.password);
    expectProblem(await createTellerRequest(tokens.accessToken), 403, "forbidden");
  });
});

describe("refresh-token reuse", () => {
  it("revokes the whole family: the newest refresh token and the session's access tokens stop working", async () => {
    const { customerId, tokens } = await signedInCustomer(app);
    const rotated = (await refresh(app, tokens.refreshToken)).json<Tokens>();
    expect((await me(app, rotated.accessToken)).statusCode).toBe(200);

    expectProblem(await refresh(app, tokens.refreshToken), 401, "unauthorized");

    expectProblem(await refresh(app, rotated.refreshToken), 401, "unauthorized");
    expectProblem(await me(app, rotated.accessToken), 401, "unauthorized");
    expectProblem(await me(app, tokens.accessToken), 401, "unauthorized");
    const sessionId = String(decodeClaims(tokens.accessToken).sid);
    const [reused] = await outboxEvents(app, "session.refresh_token_reused", sessionId);
    expect(reused?.data).toEqual({ sessionId, subjectType: "customer", subjectId: customerId });
    const [revoked] = await outboxEvents(app, "session.revoked", sessionId);
    expect(revoked?.data).toEqual({ sessionId, reason: "refresh_token_reused" });
    const audit = await auditRecords(app, "security.refresh_token_reused");
    expect(audit.some((record) => record.subject_id === customerId)).toBe(true);
  });

  it("lets only one of several simultaneous uses of a refresh token succeed, then revokes the family", async () => {
    const { tokens } = await signedInCustomer(app);
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => refresh(app, tokens.refreshToken)));
    expect(results.map((result) => result.statusCode).sort()).toEqual([200, 401, 401, 401, 401]);
    const winner = results.find((result) => result.statusCode === 200)!.json<Tokens>();
    expectProblem(await refresh(app, winner.refreshToken), 401, "unauthorized");
    expectProblem(await me(app, winner.accessToken), 401, "unauthorized");
  });

  it("leaves the customer's other sessions alone", async () => {
    const { email, tokens } = await signedInCustomer(app);
    const other = await login(app, email);
    await refresh(app, tokens.refreshToken);
    expectProblem(await refresh(app, tokens.refreshToken), 401, "unauthorized");
    expect((await me(app, other.accessToken)).statusCode).toBe(200);
    expect((await refresh(app, other.refreshToken)).statusCode).toBe(200);
  });
});

describe("token integrity", () => {
  let tokens: Tokens;

  beforeAll(async () => {
    tokens = (await signedInCustomer(app)).tokens;
    expect((await me(app, tokens.accessToken)).statusCode).toBe(200);
  });

  it("refuses a token with a changed signature character or payload character", async () => {
    const [header, payload, signature] = tokens.accessToken.split(".") as [string, string, string];
    const badSignature = [header, payload, flipCharacter(signature, 10)].join(".");
    const badPayload = [header, flipCharacter(payload, 20), signature].join(".");
    expectProblem(await me(app, badSignature), 401, "unauthorized");
    expectProblem(await me(app, badPayload), 401, "unauthorized");
  });

  it("refuses a token whose claims were re-encoded with another subject", async () => {
    const other = await register(app);
    const [header, payload, signature] = tokens.accessToken.split(".") as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: other })).toString("base64url");
    expectProblem(await me(app, [header, forged, signature].join(".")), 401, "unauthorized");
  });

  it("refuses a token signed by another key, even with our key id, issuer and audience", async () => {
    const { privateKey } = generateKeyPairSync("ed25519");
    const header = JSON.parse(Buffer.from(tokens.accessToken.split(".")[0]!, "base64url").toString("utf8"));
    const claims = decodeClaims(tokens.accessToken);
    const forged = await new SignJWT(claims).setProtectedHeader(header).sign(privateKey);
    expectProblem(await me(app, forged), 401, "unauthorized");
  });

  it("refuses unsigned (alg none) and symmetric (HS256) tokens", async () => {
    const claims = Buffer.from(JSON.stringify(decodeClaims(tokens.accessToken))).toString("base64url");
    const none = Buffer.from(JSON.stringify({ alg: "none", typ: "at+jwt" })).toString("base64url");
    expectProblem(await me(app, `${none}.${claims}.`), 401, "unauthorized");
    const hs256 = await new SignJWT(decodeClaims(tokens.accessToken))
      .setProtectedHeader({ alg: "HS256", typ: "at+jwt" })
      .sign(new TextEncoder().encode("a guessed shared secret of enough length"));
    expectProblem(await me(app, hs256), 401, "unauthorized");
  });

  it("refuses garbage in the Authorization header", async () => {
    for (const authorization of ["Bearer", "Bearer not.a.jwt", "Basic dXNlcjpwYXNz", tokens.accessToken]) {
      const response = await app.http.inject({
        method: "GET",
        url: "/v1/customers/me",
        headers: { authorization },
      });
      expectProblem(response, 401, "unauthorized");
    }
  });
});

describe("configured signing key", () => {
  it("signs with OMNICORE_JWT_PRIVATE_KEY (newlines escaped or not) and verifies with its public half", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString().replaceAll("\n", "\\n");
    const keyed = await createTestApp({ env: { OMNICORE_JWT_PRIVATE_KEY: pem } });
    try {
      const { customerId, tokens } = await signedInCustomer(keyed);
      const { payload, protectedHeader } = await jwtVerify(tokens.accessToken, publicKey, {
        issuer: keyed.config.auth.issuer,
        audience: "omnicore:customer",
      });
      expect(protectedHeader).toMatchObject({ alg: "EdDSA", typ: "at+jwt" });
      expect(payload.sub).toBe(customerId);
      expectProblem(await me(app, tokens.accessToken), 401, "unauthorized");
    } finally {
      await keyed.destroy();
    }
  });
});

describe("expiry", () => {
  it("refuses an access token after its lifetime, and a refresh token after its own", async () => {
    // Far from the real time, so that anything reading the system clock instead would be caught.
    const clock = new ManualClock(new Date("2031-06-01T00:00:00Z"));
    const timed = await createTestApp({ clock });
    try {
      // Mobile: its idle timeout (15 minutes) is longer than an access token's life.
      const { tokens } = await signedInCustomer(timed, { "x-channel": "mobile" });
      clock.advance((timed.config.auth.accessTokenTtlS - 1) * 1000);
      expect((await me(timed, tokens.accessToken)).statusCode).toBe(200);
      clock.advance(2_000);
      expectProblem(await me(timed, tokens.accessToken), 401, "unauthorized");

      const renewed = await refresh(timed, tokens.refreshToken);
      expect(renewed.statusCode, renewed.body).toBe(200);
      clock.advance((timed.config.auth.sessions.mobile.absoluteS + 1) * 1000);
      expectProblem(await refresh(timed, renewed.json<Tokens>().refreshToken), 401, "unauthorized");
    } finally {
      await timed.destroy();
    }
  });
});

describe("rate limits", () => {
  it("limits logins per client IP and answers 429 as problem+json", async () => {
    // A new address each time: five failures for one address would lock it (423) first.
    const from = (remoteAddress: string) =>
      app.http.inject({
        method: "POST",
        url: "/v1/auth/login",
        remoteAddress,
        payload: { email: uniqueEmail("nobody"), password: PASSWORD },
      });
    for (let attempt = 0; attempt < app.config.rateLimit.authPerMinute; attempt++) {
      expect((await from("203.0.113.7")).statusCode).toBe(401);
    }
    const limited = await from("203.0.113.7");
    expectProblem(limited, 429, "rate-limited");
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
    expect((await from("203.0.113.8")).statusCode).toBe(401);
  });
});

describe("logs", () => {
  it("never contain passwords, tokens or e-mail addresses", async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const database = process.env.DATABASE_URL ? await createTestDatabase() : undefined;
    const config = testConfig({
      LOG_LEVEL: "trace",
      OMNICORE_REFRESH_REUSE_GRACE_S: "0",
      ...(database ? { DATABASE_URL: database.url } : {}),
    });
    const logged = await buildApp({ config, logger: createLogger({ level: "trace", destination }) });
    try {
      const email = uniqueEmail("private");
      await register(logged, email);
      const tokens = await login(logged, email);
      const rotated = (await refresh(logged, tokens.refreshToken)).json<Tokens>();
      await refresh(logged, tokens.refreshToken);
      await logged.http.inject({
        method: "POST",
        url: "/v1/auth/login",
        payload: { email, password: "wrong password!" },
      });
      const text = lines.join("");
      expect(text).toContain("refresh token reused");
      for (const secret of [PASSWORD, email, tokens.accessToken, tokens.refreshToken, rotated.refreshToken]) {
        expect(text).not.toContain(secret);
      }
    } finally {
      await logged.close();
      await database?.drop();
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./helpers/test-app.ts";
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
  // These tests sign in far more often than a person would; security.test.ts covers the limit.
  app = await createTestApp({
    // Reuse detection without the retry window here; the window has its own tests.
    env: { OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "1000", OMNICORE_REFRESH_REUSE_GRACE_S: "0" },
  });
});

afterAll(async () => {
  await app?.destroy();
});

async function refresh(refreshToken: string, url = "/v1/auth/refresh") {
  return app.http.inject({ method: "POST", url, payload: { refreshToken } });
}

async function me(accessToken: string) {
  return app.http.inject({ method: "GET", url: "/v1/customers/me", headers: bearer(accessToken) });
}

describe("customer registration and login", () => {
  it("registers, logs in and reads the profile with the access token", async () => {
    const email = uniqueEmail("Mixed.Case").replace("example", "Example");
    const customerId = await register(app, email);
    expect(customerId).toMatch(/^cus_[0-9a-f]{32}$/);

    const tokens = await login(app, email.toUpperCase(), PASSWORD, {
      "x-channel": "mobile",
      "x-device-id": "ios-1",
    });
    expect(tokens.tokenType).toBe("Bearer");
    expect(tokens.expiresIn).toBe(app.config.auth.accessTokenTtlS);

    const response = await me(tokens.accessToken);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({ id: customerId, email: email.toLowerCase(), status: "active" });

    const claims = decodeClaims(tokens.accessToken);
    expect(claims).toMatchObject({ sub: customerId, aud: "omnicore:customer", chn: "mobile", dev: "ios-1" });
    expect(claims.exp).toBe(Number(claims.iat) + app.config.auth.accessTokenTtlS);
    const [registered] = await outboxEvents(app, "customer.registered", customerId);
    expect(registered?.data).toEqual({ customerId, channel: "web" });
    const [started] = await outboxEvents(app, "session.started", String(claims.sid));
    expect(started?.data).toEqual({
      sessionId: claims.sid,
      subjectType: "customer",
      subjectId: customerId,
      channel: "mobile",
      deviceId: "ios-1",
    });
  });

  it("answers a wrong password and an unknown e-mail with the same 401, audited without the e-mail", async () => {
    const email = uniqueEmail();
    const customerId = await register(app, email);
    const wrongPassword = await app.http.inject({
      method: "POST",
      url: "/v1/auth/login",
      payload: { email, password: "not the password at all" },
    });
    const unknownEmail = await app.http.inject({
      method: "POST",
      url: "/v1/auth/login",
      payload: { email: uniqueEmail("nobody"), password: PASSWORD },
    });
    expectProblem(wrongPassword, 401, "unauthorized");
    expectProblem(unknownEmail, 401, "unauthorized");
    expect(wrongPassword.json<{ detail: string }>().detail).toBe(
      unknownEmail.json<{ detail: string }>().detail,
    );

    const failures = await auditRecords(app, "security.login_failed");
    expect(failures.some((record) => record.subject_id === customerId)).toBe(true);
    expect(JSON.stringify(failures)).not.toContain("@example.com");
  });

  it("accepts the same Unicode password however the device composes it (NFKC before hashing)", async () => {
    const email = uniqueEmail();
    const composed = "crème brûlée au café 2026".normalize("NFC");
    const decomposed = composed.normalize("NFD");
    expect(decomposed).not.toBe(composed);
    await register(app, email, composed);
    const tokens = await login(app, email, decomposed);
    expect(tokens.accessToken).toBeTruthy();
  });

  it("rejects a second registration of the same e-mail, whatever its letter case, with 409", async () => {
    const email = uniqueEmail();
    await register(app, email);
    const response = await app.http.inject({
      method: "POST",
      url: "/v1/auth/register",
      payload: { email: email.toUpperCase(), password: PASSWORD, givenName: "Eve", familyName: "Twin" },
    });
    expectProblem(response, 409, "email-taken");
  });

  it("lets only one of two simultaneous registrations of an e-mail succeed", async () => {
    const payload = { email: uniqueEmail(), password: PASSWORD, givenName: "Ada", familyName: "Twin" };
    const results = await Promise.all(
      [0, 1].map(() => app.http.inject({ method: "POST", url: "/v1/auth/register", payload })),
    );
    expect(results.map((result) => result.statusCode).sort()).toEqual([201, 409]);
  });
});

describe("refresh and logout", () => {
  it("rotates the refresh token on every use; the spent one no longer works", async () => {
    const { tokens } = await signedInCustomer(app);
    const first = await refresh(tokens.refreshToken);
    expect(first.statusCode, first.body).toBe(200);
    const rotated = first.json<Tokens>();
    expect(rotated.refreshToken).not.toBe(tokens.refreshToken);
    expect(decodeClaims(rotated.accessToken).sid).toBe(decodeClaims(tokens.accessToken).sid);
    expect((await me(rotated.accessToken)).statusCode).toBe(200);

    expectProblem(await refresh(tokens.refreshToken), 401, "unauthorized");
  });

  it("keeps the channel and device bound at login, whatever a refresh request claims", async () => {
    const { tokens } = await signedInCustomer(app, { "x-channel": "mobile", "x-device-id": "android-7" });
    const response = await app.http.inject({
      method: "POST",
      url: "/v1/auth/refresh",
      headers: { "x-channel": "web", "x-device-id": "other-device" },
      payload: { refreshToken: tokens.refreshToken },
    });
    expect(response.statusCode, response.body).toBe(200);
    expect(decodeClaims(response.json<Tokens>().accessToken)).toMatchObject({
      chn: "mobile",
      dev: "android-7",
    });
  });

  it("refuses an unknown refresh token", async () => {
    expectProblem(await refresh("bm90LWEtcmVhbC10b2tlbi1hdC1hbGwtYXQtYWxsLWF0LWFsbA"), 401, "unauthorized");
  });

  it("logs out: the access token and the refresh token are refused afterwards", async () => {
    const { tokens } = await signedInCustomer(app);
    const logout = await app.http.inject({
      method: "POST",
      url: "/v1/auth/logout",
      headers: bearer(tokens.accessToken),
    });
    expect(logout.statusCode, logout.body).toBe(204);
    expect(logout.body).toBe("");

    expectProblem(await me(tokens.accessToken), 401, "unauthorized");
    expectProblem(await refresh(tokens.refreshToken), 401, "unauthorized");
    const sessionId = String(decodeClaims(tokens.accessToken).sid);
    const [revoked] = await outboxEvents(app, "session.revoked", sessionId);
    expect(revoked?.data).toEqual({ sessionId, reason: "logout" });
  });

  it("requires a customer token to log out", async () => {
    expectProblem(await app.http.inject({ method: "POST", url: "/v1/auth/logout" }), 401, "unauthorized");
  });
});

describe("staff", () => {
  let admin: Tokens;

  beforeAll(async () => {
    admin = await adminTokens(app);
  });

  it("creates the initial admin only while there is no staff user, with a generated password when none is given", async () => {
    const fresh = await createTestApp();
    try {
      const created = await fresh.services.identity.ensureInitialAdmin({});
      expect(created?.email).toBe("admin@omnicore.local");
      expect(created?.generatedPassword?.length).toBeGreaterThanOrEqual(24);
      const tokens = await staffLogin(fresh, "admin@omnicore.local", created!.generatedPassword!);
      expect(decodeClaims(tokens.accessToken)).toMatchObject({
        aud: "omnicore:staff",
        role: "admin",
        chn: "branch",
      });
      expect(
        await fresh.services.identity.ensureInitialAdmin({ email: "x@bank.example", password: PASSWORD }),
      ).toBe(undefined);
    } finally {
      await fresh.destroy();
    }
  });

  it("logs staff in with the staff audience and role, and lets an admin create a teller", async () => {
    expect(decodeClaims(admin.accessToken)).toMatchObject({
      aud: "omnicore:staff",
      role: "admin",
      chn: "branch",
    });
    const teller = await createStaff(app, admin, "teller");
    expect(teller).toMatchObject({ role: "teller", id: expect.stringMatching(/^stf_[0-9a-f]{32}$/) });

    const tokens = await staffLogin(app, teller.email, teller.password, { "x-channel": "contact_centre" });
    expect(decodeClaims(tokens.accessToken)).toMatchObject({
      sub: teller.id,
      role: "teller",
      chn: "contact_centre",
    });
    const [created] = await outboxEvents(app, "staff.user_created", teller.id);
    expect(created?.data).toEqual({ staffId: teller.id, role: "teller" });
    const audit = await auditRecords(app, "staff.user_created");
    expect(audit.find((record) => record.subject_id === teller.id)?.actor_id).toBe(
      decodeClaims(admin.accessToken).sub,
    );
  });

  it("refuses staff sign-in on a customer channel", async () => {
    const teller = await createStaff(app, admin, "agent");
    const response = await app.http.inject({
      method: "POST",
      url: "/v1/staff/auth/login",
      headers: { "x-channel": "mobile" },
      payload: { email: teller.email, password: teller.password },
    });
    expectProblem(response, 400, "validation");
  });

  it("rejects a second staff user with the same e-mail with 409", async () => {
    const teller = await createStaff(app, admin, "teller");
    const response = await app.http.inject({
      method: "POST",
      url: "/v1/staff/users",
      headers: bearer(admin.accessToken),
      payload: { email: teller.email, password: PASSWORD, role: "agent" },
    });
    expectProblem(response, 409, "email-taken");
  });

  it("refreshes staff sessions only on the staff endpoint, and logs staff out", async () => {
    const agent = await createStaff(app, admin, "agent");
    const tokens = await staffLogin(app, agent.email, agent.password);
    expectProblem(await refresh(tokens.refreshToken), 401, "unauthorized");

    const refreshed = await refresh(tokens.refreshToken, "/v1/staff/auth/refresh");
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    const next = refreshed.json<Tokens>();
    expect(decodeClaims(next.accessToken)).toMatchObject({ aud: "omnicore:staff", role: "agent" });

    const logout = await app.http.inject({
      method: "POST",
      url: "/v1/staff/auth/logout",
      headers: bearer(next.accessToken),
    });
    expect(logout.statusCode, logout.body).toBe(204);
    expectProblem(await refresh(next.refreshToken, "/v1/staff/auth/refresh"), 401, "unauthorized");
  });
});

describe("validation", () => {
  const registration = {
    email: "valid@example.com",
    password: PASSWORD,
    givenName: "Ada",
    familyName: "Lovelace",
  };

  it.each([
    ["a malformed e-mail", { ...registration, email: "not-an-email" }],
    ["a password shorter than 12 characters", { ...registration, password: "short" }],
    ["a password longer than 256 characters", { ...registration, password: "x".repeat(257) }],
    ["an unknown field", { ...registration, isAdmin: true }],
    ["a missing field", { email: registration.email, password: PASSWORD, givenName: "Ada" }],
  ])("refuses a registration with %s as a validation problem", async (_label, payload) => {
    const response = await app.http.inject({ method: "POST", url: "/v1/auth/register", payload });
    expectProblem(response, 400, "validation");
  });

  it("names the refused field in the problem", async () => {
    const response = await app.http.inject({
      method: "POST",
      url: "/v1/auth/login",
      payload: { email: "a@example.com", password: PASSWORD, role: "admin" },
    });
    expectProblem(response, 400, "validation");
    expect(response.json<{ errors: { pointer: string }[] }>().errors).toEqual([
      { pointer: "body/role", message: "is not an accepted field" },
    ]);
  });

  it("refuses an unknown X-Channel or a malformed X-Device-Id at login", async () => {
    const payload = { email: "a@example.com", password: PASSWORD };
    for (const headers of [
      { "x-channel": "telepathy" },
      { "x-channel": "system" },
      { "x-device-id": "bad id!" },
    ]) {
      const response = await app.http.inject({ method: "POST", url: "/v1/auth/login", headers, payload });
      expectProblem(response, 400, "validation");
    }
  });

  it("refuses a staff user with an unknown role", async () => {
    const admin = await adminTokens(app);
    const response = await app.http.inject({
      method: "POST",
      url: "/v1/staff/users",
      headers: bearer(admin.accessToken),
      payload: { email: uniqueEmail("staff"), password: PASSWORD, role: "superuser" },
    });
    expectProblem(response, 400, "validation");
  });
});

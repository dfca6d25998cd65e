/**
 * Passkeys for real: Debian's Chromium with a CDP virtual authenticator (the phone's biometrics)
 * registers a passkey through Omnicore's routes on a listening server, signs in with the passkey
 * alone, and approves a step-up with it. Every API call goes over HTTP to the running server.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";
import { PASSWORD, register, uniqueEmail } from "../identity.helpers.ts";
import { browserTestsEnabled, openPasskeyBrowser, type PasskeyBrowser } from "./virtual-authenticator.ts";

const ORIGIN = "http://localhost:3999";
const BROWSER_TIMEOUT = { timeout: 60_000 };

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

describe.skipIf(!browserTestsEnabled)("passkeys in a real browser against the running server", () => {
  let app: TestApp;
  let base: string;
  let browser: PasskeyBrowser;
  let customerId: string;
  let passwordToken: string;

  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(base + path, {
      method,
      headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : {} } as Answer;
  };
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    app = await createTestApp({
      env: {
        OMNICORE_WEBAUTHN_RP_ID: "localhost",
        OMNICORE_WEBAUTHN_ORIGINS: ORIGIN,
        OMNICORE_STEP_UP: "required",
        HOST: "127.0.0.1",
      },
    });
    base = await app.listen();
    browser = await openPasskeyBrowser({ origin: ORIGIN });
    const email = uniqueEmail("passkey");
    customerId = await register(app, email);
    const login = await call(
      "POST",
      "/v1/auth/login",
      { email, password: PASSWORD },
      { "x-channel": "mobile" },
    );
    expect(login.status).toBe(200);
    passwordToken = String(login.body.accessToken);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await app?.destroy();
  });

  it(
    "registers a passkey: the first factor needs no step-up, and it is listed",
    BROWSER_TIMEOUT,
    async () => {
      const started = await call("POST", "/v1/auth/passkeys/registration/options", {}, bearer(passwordToken));
      expect(started.status, JSON.stringify(started.body)).toBe(200);
      const options = started.body.options as { authenticatorSelection: Record<string, unknown> };
      expect(options.authenticatorSelection).toMatchObject({
        residentKey: "required",
        userVerification: "required",
      });
      const response = await browser.register(options);
      const created = await call(
        "POST",
        "/v1/auth/passkeys",
        { challengeId: started.body.challengeId, response, name: "Test phone" },
        bearer(passwordToken),
      );
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const listed = await call("GET", "/v1/auth/passkeys", undefined, bearer(passwordToken));
      expect(listed.body.items).toEqual([
        expect.objectContaining({ id: created.body.id, name: "Test phone" }),
      ]);
      expect(await browser.credentials()).toHaveLength(1);

      // The registration challenge is single-use.
      const again = await call(
        "POST",
        "/v1/auth/passkeys",
        { challengeId: started.body.challengeId, response, name: "Replay" },
        bearer(passwordToken),
      );
      expect(again.status).toBe(422);
    },
  );

  it("signs in with the passkey alone, and the session is a passkey session", BROWSER_TIMEOUT, async () => {
    const headers = { "x-channel": "mobile", "x-device-id": "pixel-9" };
    const started = await call("POST", "/v1/auth/passkeys/login/options", {}, headers);
    expect(started.status).toBe(200);
    const response = await browser.authenticate(started.body.options);
    const signedIn = await call(
      "POST",
      "/v1/auth/passkeys/login",
      { challengeId: started.body.challengeId, response },
      headers,
    );
    expect(signedIn.status, JSON.stringify(signedIn.body)).toBe(200);
    const token = String(signedIn.body.accessToken);
    const me = await call("GET", "/v1/customers/me", undefined, bearer(token));
    expect(me.body.id).toBe(customerId);
    const sessions = await call("GET", "/v1/auth/sessions", undefined, bearer(token));
    const current = (sessions.body.items as Array<Record<string, unknown>>).find(
      (session) => session.current,
    );
    expect(current).toMatchObject({ strength: "passkey", deviceId: "pixel-9" });
    const devices = await call("GET", "/v1/auth/devices", undefined, bearer(token));
    expect(devices.body.items).toContainEqual(
      expect.objectContaining({ deviceId: "pixel-9", trusted: true }),
    );

    // The same assertion cannot be replayed: its challenge is spent.
    const replay = await call(
      "POST",
      "/v1/auth/passkeys/login",
      { challengeId: started.body.challengeId, response },
      headers,
    );
    expect(replay.status).toBe(422);
  });

  it("approves a step-up for exactly one transfer with the passkey", BROWSER_TIMEOUT, async () => {
    const headers = bearer(passwordToken);
    const account = await call("POST", "/v1/accounts", { type: "current", currency: "EUR" }, headers);
    const payeeId = await register(app, uniqueEmail("payee"));
    const payee = await app.services.ledger.openAccount(
      { requestId: "t", channel: "system", deviceId: undefined, actor: { type: "system", id: "test" } },
      payeeId,
      { type: "current", currency: "EUR" },
      "payee-account",
    );
    const transfer = {
      fromAccountId: account.body.id,
      toIban: payee.iban,
      amount: { amount: "100.00", currency: "EUR" },
    };
    const asked = await call("POST", "/v1/transfers", transfer, {
      ...headers,
      "idempotency-key": "passkey-pay-1",
    });
    expect(asked.status, JSON.stringify(asked.body)).toBe(401);
    expect(asked.body.factors).toContain("passkey");
    const assertion = await browser.authenticate(asked.body.passkeyOptions);
    const approved = await call(
      "POST",
      `/v1/auth/step-up/${asked.body.challengeId}`,
      { passkey: assertion },
      headers,
    );
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    const proof = { "x-step-up-proof": String(approved.body.proof) };
    // The proof approves 100.00 EUR to this payee and nothing else.
    const changed = await call(
      "POST",
      "/v1/transfers",
      { ...transfer, amount: { amount: "101.00", currency: "EUR" } },
      { ...headers, ...proof, "idempotency-key": "passkey-pay-2" },
    );
    expect(changed.status).toBe(422);
    expect(changed.body.type).toBe("https://omnicore.dev/problems/challenge-invalid");
  });
});

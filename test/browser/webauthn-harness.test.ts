/**
 * Proves the passkey browser harness end to end against @simplewebauthn/server directly (no Omnicore
 * routes): a real Chromium with a virtual authenticator registers a discoverable passkey and logs in
 * with it alone, and the server refuses the assertion for any other challenge or origin.
 */
import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type RegistrationResponseJSON,
  type VerifiedRegistrationResponse,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type WebAuthnCredential,
} from "@simplewebauthn/server";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  browserTestsEnabled,
  chromiumPath,
  openPasskeyBrowser,
  type PasskeyBrowser,
} from "./virtual-authenticator.ts";

const RP_ID = "localhost";
const ORIGIN = "http://localhost:3999";
const BROWSER_TIMEOUT = { timeout: 60_000 };

describe("chromiumPath", () => {
  it("is undefined when the configured executable does not exist", () => {
    vi.stubEnv("OMNICORE_CHROMIUM_PATH", "/nonexistent/chromium");
    try {
      expect(chromiumPath()).toBeUndefined();
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("honours OMNICORE_CHROMIUM_PATH when it points at a file", () => {
    vi.stubEnv("OMNICORE_CHROMIUM_PATH", process.execPath);
    try {
      expect(chromiumPath()).toBe(process.execPath);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe.skipIf(!browserTestsEnabled)(
  "passkey browser harness (real Chromium, virtual authenticator)",
  () => {
    const userID = new TextEncoder().encode("customer-7f3a9c");
    let passkeys: PasskeyBrowser | undefined;
    let registration: RegistrationResponseJSON;
    let verifiedRegistration: VerifiedRegistrationResponse;

    beforeAll(async () => {
      passkeys = await openPasskeyBrowser({ origin: ORIGIN });
      const optionsJSON = await generateRegistrationOptions({
        rpName: "Omnicore",
        rpID: RP_ID,
        userName: "ada@example.test",
        userID,
        authenticatorSelection: { residentKey: "required", userVerification: "required" },
      });
      registration = (await passkeys.register(optionsJSON)) as unknown as RegistrationResponseJSON;
      verifiedRegistration = await verifyRegistrationResponse({
        response: registration,
        expectedChallenge: optionsJSON.challenge,
        expectedOrigin: ORIGIN,
        expectedRPID: RP_ID,
        requireUserVerification: true,
      });
    }, BROWSER_TIMEOUT.timeout);

    afterAll(async () => {
      await passkeys?.close();
    });

    function registeredCredential(): WebAuthnCredential {
      if (!verifiedRegistration.verified) throw new Error("registration was not verified");
      const { id, publicKey, counter } = verifiedRegistration.registrationInfo.credential;
      return { id, publicKey, counter };
    }

    /** A passkey-only login: no allowCredentials, so the authenticator must pick the resident credential. */
    async function discoverableLogin(): Promise<{ challenge: string; response: AuthenticationResponseJSON }> {
      const optionsJSON = await generateAuthenticationOptions({ rpID: RP_ID, userVerification: "required" });
      expect(optionsJSON.allowCredentials ?? []).toEqual([]);
      const response = (await passkeys!.authenticate(optionsJSON)) as unknown as AuthenticationResponseJSON;
      return { challenge: optionsJSON.challenge, response };
    }

    it(
      "registers a user-verified, discoverable passkey held by the authenticator",
      BROWSER_TIMEOUT,
      async () => {
        expect(verifiedRegistration.verified).toBe(true);
        expect(verifiedRegistration.registrationInfo).toMatchObject({
          userVerified: true,
          origin: ORIGIN,
          rpID: RP_ID,
        });
        expect(registeredCredential().id).toBe(registration.id);
        const held = await passkeys!.credentials();
        expect(held).toEqual([
          expect.objectContaining({ credentialId: registration.id, isResidentCredential: true }),
        ]);
      },
    );

    it("logs in with the passkey alone and returns the registered user handle", BROWSER_TIMEOUT, async () => {
      const { challenge, response } = await discoverableLogin();
      const verification = await verifyAuthenticationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: ORIGIN,
        expectedRPID: RP_ID,
        credential: registeredCredential(),
        requireUserVerification: true,
      });

      expect(verification.verified).toBe(true);
      expect(verification.authenticationInfo).toMatchObject({
        credentialID: registration.id,
        userVerified: true,
      });
      expect(response.id).toBe(registration.id);
      expect(response.response.userHandle).toBe(Buffer.from(userID).toString("base64url"));
      const [held] = await passkeys!.credentials();
      expect(verification.authenticationInfo.newCounter).toBe(held?.signCount);
    });

    it("refuses the assertion for another challenge or another origin", BROWSER_TIMEOUT, async () => {
      const { challenge, response } = await discoverableLogin();
      const expected = {
        response,
        expectedChallenge: challenge,
        expectedOrigin: ORIGIN,
        expectedRPID: RP_ID,
        credential: registeredCredential(),
        requireUserVerification: true,
      };
      const otherChallenge = (await generateAuthenticationOptions({ rpID: RP_ID })).challenge;

      await expect(
        verifyAuthenticationResponse({ ...expected, expectedChallenge: otherChallenge }),
      ).rejects.toThrow(/challenge/i);
      await expect(
        verifyAuthenticationResponse({ ...expected, expectedOrigin: "http://localhost:4000" }),
      ).rejects.toThrow(/origin/i);
      // The control: the very same response passes with the right values, so the refusals above are theirs.
      await expect(verifyAuthenticationResponse(expected)).resolves.toMatchObject({ verified: true });
    });
  },
);

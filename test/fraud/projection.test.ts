import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/platform/clock.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";
import { bearer, login, PASSWORD, register } from "../identity.helpers.ts";
import { deposit, eur, newStaff, openAccount, transfer } from "../payments/payments.helpers.ts";
import {
  completedEvent,
  fakeId,
  profileOf,
  publish,
  riskInput,
  securityEvent,
  waitForProfile,
} from "./fraud.helpers.ts";

/**
 * The behaviour profile as a read model of real events: sign-ins, payments, payees and security
 * changes made through the API reach it through the outbox, the relay and the inbox, once each.
 */

const clock = new ManualClock(new Date("2031-05-05T14:20:00Z"));
let app: TestApp;
let teller: string;

beforeAll(async () => {
  app = await createTestApp({
    clock,
    env: {
      OMNICORE_TRUSTED_PROXIES: "127.0.0.1",
      OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "10000",
      OMNICORE_RATE_LIMIT_AUTH_PER_ACCOUNT_PER_MINUTE: "10000",
    },
  });
  teller = (await newStaff(app, "teller")).token;
});

afterAll(async () => {
  await app?.destroy();
});

const WEB_IN_FRANCE = { "x-channel": "web", "x-device-id": "browser-7", "x-client-geo-country": "FR" };

async function customerWithMoney() {
  const email = `profile.${fakeId("x")}@example.com`;
  const customerId = await register(app, email);
  const token = (await login(app, email, PASSWORD, WEB_IN_FRANCE)).accessToken;
  const account = await openAccount(app, token);
  await deposit(app, teller, account.id, eur("500.00"));
  return { customerId, token, account };
}

describe("the profile fed by events", () => {
  it("learns the sign-in's device, country and hour", async () => {
    const { customerId } = await customerWithMoney();
    const profile = await waitForProfile(app, customerId, (p) => p.devices.length > 0);
    expect(profile.known).toBe(true);
    expect(profile.devices).toEqual([
      expect.objectContaining({
        deviceId: "browser-7",
        firstSeenAt: "2031-05-05T14:20:00.000Z",
        trusted: false,
      }),
    ]);
    expect(profile.countries.map((country) => country.country)).toEqual(["FR"]);
    expect(profile.activeHoursUtc[14]).toBeGreaterThan(0);
  });

  it("learns a payment made through the API: amount per channel, payee, last channel", async () => {
    const payer = await customerWithMoney();
    const payee = await customerWithMoney();
    const sent = await transfer(app, payer.token, {
      fromAccountId: payer.account.id,
      toIban: payee.account.iban,
      amount: eur("42.50"),
    });
    const profile = await waitForProfile(app, payer.customerId, (p) => p.paymentsCount === 1);
    expect(profile.usualAmounts).toEqual([
      { channel: "web", currency: "EUR", count: 1, mean: "42.50", spread: "0.00" },
    ]);
    expect(profile.knownPayees).toEqual([
      { iban: payee.account.iban, firstSeenAt: "2031-05-05T14:20:00.000Z", paymentsCount: 1 },
    ]);
    expect(profile.lastPaymentChannel).toBe("web");
    const [decision] = await app.services.fraud.decisionsForCustomer(payer.customerId, 5);
    expect(decision?.transferId).toBe(sent.id);
  });

  it("learns saved payees, password and contact changes", async () => {
    const { customerId, token } = await customerWithMoney();
    const payee = await app.http.inject({
      method: "POST",
      url: "/v1/payees",
      headers: bearer(token),
      payload: { name: "Someone", iban: "DE89370400440532013000" },
    });
    expect(payee.statusCode, payee.body).toBe(201);
    const password = await app.http.inject({
      method: "POST",
      url: "/v1/auth/password",
      headers: { ...bearer(token), ...WEB_IN_FRANCE },
      payload: { currentPassword: PASSWORD, newPassword: "yet another long passphrase 17" },
    });
    expect(password.statusCode, password.body).toBe(204);
    const phone = await app.http.inject({
      method: "PATCH",
      url: "/v1/customers/me",
      headers: bearer(token),
      payload: { phone: "+4915112345678" },
    });
    expect(phone.statusCode, phone.body).toBe(200);
    const profile = await waitForProfile(
      app,
      customerId,
      (p) =>
        p.lastPayeeAddedAt !== null && p.lastCredentialChangeAt !== null && p.lastContactChangeAt !== null,
    );
    expect([profile.lastPayeeAddedAt, profile.lastCredentialChangeAt, profile.lastContactChangeAt]).toEqual(
      Array(3).fill("2031-05-05T14:20:00.000Z"),
    );
  });

  it("takes the payee and country of a completed transfer from the engine's own decision", async () => {
    const customerId = fakeId("cus");
    const input = riskInput(
      customerId,
      { toIban: "NL91ABNA0417164300", amountMinor: 7_700n },
      { channel: "mobile", deviceId: "phone-3", country: "NL" },
    );
    await app.services.fraud.assessPayment(input);
    const event = completedEvent(app, input);
    delete event.data.toIban;
    await publish(app, [event]);
    const profile = await waitForProfile(app, customerId, (p) => p.paymentsCount === 1);
    expect(profile.knownPayees.map((payee) => payee.iban)).toEqual(["NL91ABNA0417164300"]);
    expect(profile.countries.map((country) => country.country)).toEqual(["NL"]);
    expect(profile.devices.map((device) => device.deviceId)).toEqual(["phone-3"]);
  });

  it("applies an event delivered twice once (the inbox)", async () => {
    const customerId = fakeId("cus");
    const input = riskInput(customerId, { toIban: "NL91ABNA0417164300", amountMinor: 1_000n });
    const event = completedEvent(app, input);
    await publish(app, [event]);
    await publish(app, [event]);
    // A later event for the same customer: once it is applied, both copies were handled.
    const marker = securityEvent(app, customerId, "password_changed");
    await publish(app, [marker]);
    const profile = await waitForProfile(app, customerId, (p) => p.lastCredentialChangeAt !== null);
    expect(profile.paymentsCount).toBe(1);
  });

  it("ignores events about staff and about nobody", async () => {
    const staffId = fakeId("stf");
    const event = securityEvent(app, staffId, "login_succeeded");
    event.data.subjectType = "staff";
    await publish(app, [event]);
    const customerId = fakeId("cus");
    await publish(app, [securityEvent(app, customerId, "mfa_enrolled")]);
    await waitForProfile(app, customerId, (p) => p.lastCredentialChangeAt !== null);
    expect((await profileOf(app, staffId)).known).toBe(false);
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/platform/clock.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";
import {
  auditRecords,
  bearer,
  decodeClaims,
  login,
  outboxEvents,
  PASSWORD,
  register,
} from "../identity.helpers.ts";
import {
  type AccountDto,
  deposit,
  eur,
  newStaff,
  openAccount,
  transferRequest,
} from "../payments/payments.helpers.ts";
import { DAY_MS, fakeId, pastPayment, riskInput, type Where, waitForProfile } from "./fraud.helpers.ts";

/**
 * The engine's decisions end to end on the default rule set: a customer's habits learned from
 * real sign-ins and completed payments, then a usual payment (allowed, no reasons) and an account
 * takeover (held, every signal named).
 */

/** 08:00:30 UTC: half a minute into every velocity bucket, so no previous bucket is weighed in. */
const clock = new ManualClock(new Date("2031-03-03T08:00:30Z"));
/** The edge the tests pretend to be: its country header is believed. */
const EDGE = "127.0.0.1";

let app: TestApp;
let teller: string;

interface Victim {
  customerId: string;
  email: string;
  account: AccountDto;
  payee: AccountDto;
  phone: Where;
}

let victim: Victim;

function fromPhone(country: string, deviceId: string): Record<string, string> {
  return { "x-channel": "mobile", "x-device-id": deviceId, "x-client-geo-country": country };
}

async function signIn(email: string, headers: Record<string, string>) {
  const tokens = await login(app, email, PASSWORD, headers);
  return { token: tokens.accessToken, sessionId: String(decodeClaims(tokens.accessToken).sid) };
}

/** A customer with funds and a phone in DE, and another customer who is their usual payee. */
async function newVictim(): Promise<Victim> {
  const email = `victim.${fakeId("x")}@example.com`;
  const customerId = await register(app, email);
  const { token, sessionId } = await signIn(email, fromPhone("DE", "phone-1"));
  const account = await openAccount(app, token);
  await deposit(app, teller, account.id, eur("20000.00"));
  const payeeEmail = `payee.${fakeId("x")}@example.com`;
  await register(app, payeeEmail);
  const payee = await openAccount(app, (await login(app, payeeEmail)).accessToken);
  await waitForProfile(app, customerId, (profile) => profile.devices.length > 0, "first sign-in learned");
  return {
    customerId,
    email,
    account,
    payee,
    phone: { channel: "mobile", deviceId: "phone-1", country: "DE", sessionId },
  };
}

/** Six weeks of paying the usual payee about 1,500.00 from the phone, once a week. */
async function sixWeeksOfHabits(customer: Victim): Promise<void> {
  for (let week = 1; week <= 6; week++) {
    clock.advance(7 * DAY_MS);
    const amountMinor = BigInt(150_000 + (week % 3) * 5_000);
    await pastPayment(
      app,
      riskInput(customer.customerId, { toIban: customer.payee.iban, amountMinor }, customer.phone),
    );
  }
}

beforeAll(async () => {
  app = await createTestApp({
    clock,
    env: {
      OMNICORE_TRUSTED_PROXIES: EDGE,
      OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "10000",
      OMNICORE_RATE_LIMIT_AUTH_PER_ACCOUNT_PER_MINUTE: "10000",
    },
  });
  teller = (await newStaff(app, "teller")).token;
  victim = await newVictim();
  await sixWeeksOfHabits(victim);
});

afterAll(async () => {
  await app?.destroy();
});

describe("the profile after six weeks", () => {
  it("knows the usual amount, payee, device and country", async () => {
    const profile = await app.services.fraud.profileSummary(victim.customerId);
    expect(profile.paymentsCount).toBe(6);
    expect(profile.usualAmounts).toEqual([
      expect.objectContaining({ channel: "mobile", currency: "EUR", count: 6, mean: "1550.00" }),
    ]);
    expect(profile.knownPayees.map((payee) => payee.iban)).toEqual([victim.payee.iban]);
    expect(profile.devices.map((device) => device.deviceId)).toEqual(["phone-1"]);
    expect(profile.countries.map((country) => country.country)).toEqual(["DE"]);
    expect(profile.lastPaymentChannel).toBe("mobile");
  });
});

describe("salary day", () => {
  it("allows the usual payment to the usual payee from the usual phone, with no reasons", async () => {
    clock.advance(7 * DAY_MS);
    const { token } = await signIn(victim.email, fromPhone("DE", "phone-1"));
    const response = await transferRequest(
      app,
      token,
      { fromAccountId: victim.account.id, toIban: victim.payee.iban, amount: eur("1525.00") },
      undefined,
    );
    expect(response.statusCode, response.body).toBe(201);
    const transferId = response.json<{ id: string }>().id;
    const [decision] = await app.services.fraud.decisionsForCustomer(victim.customerId, 1);
    expect(decision).toMatchObject({
      transferId,
      outcome: "allow",
      score: 0,
      reasons: [],
      ruleSetVersion: 1,
    });
  });
});

describe("account takeover", () => {
  it("holds a large payment to a new payee from a new device abroad right after a password change", async () => {
    clock.advance(2 * DAY_MS);
    const attacker = await signIn(victim.email, fromPhone("RU", "evil-phone"));
    const changed = await app.http.inject({
      method: "POST",
      url: "/v1/auth/password",
      headers: { ...bearer(attacker.token), ...fromPhone("RU", "evil-phone") },
      payload: { currentPassword: PASSWORD, newPassword: "a different long passphrase 42" },
    });
    expect(changed.statusCode, changed.body).toBe(204);
    await waitForProfile(
      app,
      victim.customerId,
      (profile) => profile.lastCredentialChangeAt !== null && profile.devices.length === 2,
      "takeover sign-in and password change learned",
    );
    clock.advance(5 * 60_000);

    const input = riskInput(
      victim.customerId,
      { toIban: "GB33BUKB20201555555555", amountMinor: 1_800_000n, external: true },
      { channel: "mobile", deviceId: "evil-phone", country: "RU", sessionId: attacker.sessionId },
    );
    const decision = await app.services.fraud.assessPayment(input);

    expect(decision.outcome).toBe("hold");
    expect(decision.reasons).toEqual([
      "new_device",
      "new_country",
      "credential_changed_recently",
      "new_payee",
      "amount_far_above_usual",
      "amount_many_times_usual",
      "daily_sum_many_times_usual",
    ]);
    expect(decision.score).toBe(80);
    expect(decision.ruleSetVersion).toBe(1);
    expect(decision.id).toMatch(/^fdc_[0-9a-f]{32}$/);

    const stored = await app.services.fraud.getDecision(decision.id);
    expect(stored).toMatchObject({
      ...decision,
      customerId: victim.customerId,
      transferId: input.transferId,
      input: {
        toIban: "GB33BUKB20201555555555",
        amountMinor: "1800000",
        currency: "EUR",
        deviceId: "evil-phone",
        country: "RU",
        channel: "mobile",
        external: true,
      },
    });
    expect(stored?.features).toMatchObject({
      new_device: true,
      new_country: true,
      credential_changed_24h: true,
      new_payee: true,
      session_age_minutes: 5,
      velocity_count_10m: 1,
    });
    expect(stored?.features.amount_z_score as number).toBeGreaterThan(4);
    expect(JSON.stringify(stored?.input)).not.toMatch(/192\.0\.2|password|token/i);

    const [event] = await outboxEvents(app, "fraud.decision_made", decision.id);
    expect(event?.data).toEqual({
      decisionId: decision.id,
      customerId: victim.customerId,
      transferId: input.transferId,
      outcome: "hold",
      score: 80,
      reasons: decision.reasons,
      ruleSetVersion: 1,
    });
    const audits = await auditRecords(app, "fraud.decision_made");
    expect(audits.find((record) => record.subject_id === decision.id)).toMatchObject({
      actor_type: "customer",
      actor_id: victim.customerId,
    });
  });
});

describe("reads for the investigation view", () => {
  it("lists a customer's decisions newest first, bounded, and nobody else's", async () => {
    const decisions = await app.services.fraud.decisionsForCustomer(victim.customerId, 1_000);
    expect(decisions.length).toBe(8);
    expect(decisions[0]?.outcome).toBe("hold");
    expect(decisions.every((decision) => decision.customerId === victim.customerId)).toBe(true);
    expect(await app.services.fraud.decisionsForCustomer(fakeId("cus"), 10)).toEqual([]);
    expect(await app.services.fraud.getDecision(fakeId("fdc"))).toBeUndefined();
  });

  it("summarises an unknown customer as unknown", async () => {
    const summary = await app.services.fraud.profileSummary(fakeId("cus"));
    expect(summary).toMatchObject({ known: false, paymentsCount: 0, knownPayees: [], devices: [] });
  });
});

describe("OMNICORE_FRAUD=off", () => {
  it("allows without scoring or storing anything", async () => {
    const off = await createTestApp({ env: { OMNICORE_FRAUD: "off" } });
    try {
      const input = riskInput(fakeId("cus"), { toIban: "GB33BUKB20201555555555", amountMinor: 1n });
      const decision = await off.services.fraud.assessPayment(input);
      expect(decision).toMatchObject({ outcome: "allow", score: 0, reasons: [], ruleSetVersion: 0 });
      expect(await off.services.fraud.getDecision(decision.id)).toBeUndefined();
    } finally {
      await off.destroy();
    }
  });
});

import { afterEach, describe, expect, it } from "vitest";
import { signWebhook } from "../../src/platform/webhook-signature.ts";
import type { TestApp } from "../helpers/test-app.ts";
import { bearer, expectProblem, login, outboxEvents, PASSWORD } from "../identity.helpers.ts";
import { deposit, eur, newCustomer, newStaff } from "../payments/payments.helpers.ts";
import { waitFor } from "../platform/wait.ts";
import {
  type ApplicationBody,
  applicant,
  apply,
  cleanUpOnboarding,
  KYC_SECRET,
  onboardingSetup,
  patchApplication,
  readApplication,
  startApplication,
  submitApplication,
} from "./onboarding.helpers.ts";

afterEach(cleanUpOnboarding);

async function settled(app: TestApp, token: string, id: string, status: string): Promise<ApplicationBody> {
  let current: ApplicationBody | undefined;
  await waitFor(
    async () => {
      current = await readApplication(app, token, id);
      return current.status === status;
    },
    400,
    25,
    `application ${status}`,
  );
  return current!;
}

async function accountsOf(app: TestApp, token: string) {
  const response = await app.http.inject({ method: "GET", url: "/v1/accounts", headers: bearer(token) });
  return response.json<{ items: Array<{ id: string; type: string; currency: string; status: string }> }>()
    .items;
}

async function tierOf(app: TestApp, customerId: string): Promise<string> {
  const row = await app.database.db
    .selectFrom("customers")
    .select("tier")
    .where("id", "=", customerId)
    .executeTakeFirstOrThrow();
  return row.tier as string;
}

describe("onboarding over HTTP with the KYC provider simulator", () => {
  it("approves, activates and opens one current account that accepts a deposit", async () => {
    const { app } = await onboardingSetup();
    const customer = await newCustomer(app);
    const submitted = await apply(app, customer.token);
    expect(submitted.status).toBe("submitted");
    const active = await settled(app, customer.token, submitted.id, "active");
    expect(active.kycLevel).toBe("full");
    expect(active.accountId).toMatch(/^acc_/);
    const accounts = await accountsOf(app, customer.token);
    expect(accounts).toEqual([
      expect.objectContaining({ id: active.accountId, type: "current", currency: "EUR" }),
    ]);
    expect(await tierOf(app, customer.customerId)).toBe("standard");
    const teller = await newStaff(app, "teller");
    await deposit(app, teller.token, active.accountId!, eur("50.00"));
    const welcome = await outboxEvents(app, "notification.requested", customer.customerId);
    expect(welcome.map((event) => event.data.template)).toContain("welcome");
    expect(await outboxEvents(app, "onboarding.application_activated", submitted.id)).toHaveLength(1);
  });

  it("resumes on another channel what was started on the phone, and keeps every consent answer", async () => {
    const { app } = await onboardingSetup();
    const customer = await newCustomer(app);
    const phone = await login(app, customer.email, PASSWORD, { "x-channel": "mobile" });
    const started = await startApplication(app, phone.accessToken);
    expect(started.missing).toEqual([
      "personal",
      "address",
      "taxResidences",
      "document",
      "consent:terms",
      "consent:privacy",
    ]);
    const data = applicant();
    expect(
      (await patchApplication(app, phone.accessToken, started.id, { personal: data.personal })).statusCode,
    ).toBe(200);
    const web = await login(app, customer.email, PASSWORD, { "x-channel": "web" });
    const list = await app.http.inject({
      method: "GET",
      url: "/v1/onboarding/applications",
      headers: bearer(web.accessToken),
    });
    expect(list.json<{ items: ApplicationBody[] }>().items.map((item) => item.id)).toEqual([started.id]);
    const { personal: _personal, ...rest } = data;
    const patched = await patchApplication(app, web.accessToken, started.id, rest);
    expect(patched.statusCode, patched.body).toBe(200);
    const withdrawn = await patchApplication(app, web.accessToken, started.id, {
      consents: [{ kind: "marketing", version: "2026-11", accepted: true }],
    });
    const body = withdrawn.json<ApplicationBody>();
    expect(body.channelStarted).toBe("mobile");
    expect(body.channelLast).toBe("web");
    expect(body.missing).toEqual([]);
    expect(
      body.consents.filter((consent) => consent.kind === "marketing").map((consent) => consent.accepted),
    ).toEqual([false, true]);
    expect((await submitApplication(app, web.accessToken, started.id)).statusCode).toBe(202);
    await settled(app, customer.token, started.id, "active");
  });

  it("refers an application to the review queue, where an analyst approves it", async () => {
    const { app } = await onboardingSetup();
    const customer = await newCustomer(app);
    const submitted = await apply(app, customer.token, applicant({ documentNumber: "REF123456" }));
    const referred = await settled(app, customer.token, submitted.id, "referred");
    expect(referred.referralReasons).toContain("manual_review");
    expect(await accountsOf(app, customer.token)).toEqual([]);
    const analyst = await newStaff(app, "compliance_analyst");
    const queue = await app.http.inject({
      method: "GET",
      url: "/v1/staff/onboarding/applications",
      headers: bearer(analyst.token),
    });
    expect(queue.statusCode, queue.body).toBe(200);
    expect(queue.json<{ items: Array<{ id: string }> }>().items.map((item) => item.id)).toContain(
      submitted.id,
    );
    const detail = await app.http.inject({
      method: "GET",
      url: `/v1/staff/onboarding/applications/${submitted.id}`,
      headers: bearer(analyst.token),
    });
    expect(detail.json()).toMatchObject({ screening: { status: "clear" }, kyc: { outcome: "referred" } });
    const approved = await app.http.inject({
      method: "POST",
      url: `/v1/staff/onboarding/applications/${submitted.id}/approve`,
      headers: bearer(analyst.token),
      payload: { reason: "Document checked by video call" },
    });
    expect(approved.statusCode, approved.body).toBe(200);
    expect(approved.json()).toMatchObject({
      status: "active",
      decision: { by: "analyst", staffId: analyst.id },
    });
    expect(await accountsOf(app, customer.token)).toHaveLength(1);
    const again = await app.http.inject({
      method: "POST",
      url: `/v1/staff/onboarding/applications/${submitted.id}/approve`,
      headers: bearer(analyst.token),
      payload: { reason: "twice" },
    });
    expectProblem(again, 409, "application-not-reviewable");
  });

  it("refers an applicant whose name is on the sanctions list, however the KYC provider decided", async () => {
    const { app } = await onboardingSetup();
    const customer = await newCustomer(app);
    // OFAC SDN entry 2676, "AL ZAWAHIRI, Dr. Ayman", DOB 19 Jun 1951, POB Giza, Egypt.
    const listed = applicant({
      givenName: "Ayman",
      familyName: "Al-Zawahiri",
      dateOfBirth: "1951-06-19",
      nationality: "EG",
    });
    const submitted = await apply(app, customer.token, listed);
    const referred = await settled(app, customer.token, submitted.id, "referred");
    expect(referred.referralReasons).toContain("screening_hit");
    expect(await accountsOf(app, customer.token)).toEqual([]);
    const analyst = await newStaff(app, "compliance_analyst");
    const detail = await app.http.inject({
      method: "GET",
      url: `/v1/staff/onboarding/applications/${submitted.id}`,
      headers: bearer(analyst.token),
    });
    expect(detail.json()).toMatchObject({
      screening: { status: "hit" },
      kyc: { outcome: "approved" },
      risk: { level: "high", factors: expect.arrayContaining(["screening_hit"]) },
    });
    const rejected = await app.http.inject({
      method: "POST",
      url: `/v1/staff/onboarding/applications/${submitted.id}/reject`,
      headers: bearer(analyst.token),
      payload: { reason: "Confirmed match with the SDN list" },
    });
    expect(rejected.json()).toMatchObject({ status: "rejected", accountId: null });
  });

  it("activates on basic KYC with low limits when the document is not verified, then moves to full KYC", async () => {
    const { app } = await onboardingSetup();
    const customer = await newCustomer(app);
    const submitted = await apply(app, customer.token, applicant({ documentNumber: "UNV445566" }));
    const active = await settled(app, customer.token, submitted.id, "active");
    expect(active.kycLevel).toBe("basic");
    expect(await tierOf(app, customer.customerId)).toBe("basic");
    const upgrade = await app.http.inject({
      method: "POST",
      url: `/v1/onboarding/applications/${submitted.id}/document-verification`,
      headers: bearer(customer.token),
      payload: { type: "national_id", number: "L01X00T47", issuingCountry: "DE", expiresOn: "2032-05-31" },
    });
    expect(upgrade.statusCode, upgrade.body).toBe(202);
    await waitFor(async () => (await readApplication(app, customer.token, submitted.id)).kycLevel === "full");
    expect(await tierOf(app, customer.customerId)).toBe("standard");
    expect(await outboxEvents(app, "onboarding.kyc_upgraded", submitted.id)).toHaveLength(1);
    expect(await accountsOf(app, customer.token)).toHaveLength(1);
    const again = await app.http.inject({
      method: "POST",
      url: `/v1/onboarding/applications/${submitted.id}/document-verification`,
      headers: bearer(customer.token),
      payload: { type: "national_id", number: "L01X00T47", issuingCountry: "DE", expiresOn: "2032-05-31" },
    });
    expectProblem(again, 409, "application-not-editable");
  });

  it("refers an unverified document to an analyst when basic KYC is switched off", async () => {
    const { app } = await onboardingSetup({}, { OMNICORE_ONBOARDING_BASIC_WITHOUT_DOCUMENT: "false" });
    const customer = await newCustomer(app);
    const submitted = await apply(app, customer.token, applicant({ documentNumber: "UNV445566" }));
    const referred = await settled(app, customer.token, submitted.id, "referred");
    expect(referred.referralReasons).toEqual(["document_not_verified"]);
  });

  it("rates an applicant from a high-risk country high: referred, and approved on basic limits", async () => {
    const { app } = await onboardingSetup();
    const customer = await newCustomer(app);
    const submitted = await apply(app, customer.token, applicant({ nationality: "IR" }));
    const referred = await settled(app, customer.token, submitted.id, "referred");
    expect(referred.referralReasons).toEqual(["high_risk"]);
    const analyst = await newStaff(app, "compliance_analyst");
    const approved = await app.http.inject({
      method: "POST",
      url: `/v1/staff/onboarding/applications/${submitted.id}/approve`,
      headers: bearer(analyst.token),
      payload: { reason: "Enhanced due diligence done" },
    });
    expect(approved.json()).toMatchObject({
      status: "active",
      kycLevel: "basic",
      risk: { level: "high", factors: expect.arrayContaining(["high_risk_country"]) },
    });
    expect(await tierOf(app, customer.customerId)).toBe("basic");
  });

  it("rejects an applicant the provider rejects: no account, the customer is told", async () => {
    const { app } = await onboardingSetup();
    const customer = await newCustomer(app);
    const submitted = await apply(app, customer.token, applicant({ documentNumber: "X1234REJ" }));
    await settled(app, customer.token, submitted.id, "rejected");
    expect(await accountsOf(app, customer.token)).toEqual([]);
    const told = await outboxEvents(app, "notification.requested", customer.customerId);
    expect(told.map((event) => event.data.template)).toEqual(["onboarding_rejected"]);
    // A rejected application is over: a new one may be started.
    await startApplication(app, customer.token);
  });

  it("recovers a lost webhook by polling the provider", async () => {
    const { app, provider } = await onboardingSetup({ controls: { dropNextCallbacks: 1 } });
    const customer = await newCustomer(app);
    const submitted = await apply(app, customer.token);
    await settled(app, customer.token, submitted.id, "active");
    // The provider's one callback was dropped: what the bank applied came from its own poll.
    expect(provider.deliveries().map((delivery) => delivery.dropped)).toEqual([true]);
    const applied = await app.database.db
      .selectFrom("onboarding_kyc_results")
      .select("received_via")
      .where("application_id", "=", submitted.id)
      .execute();
    expect(applied).toEqual([{ received_via: "poll" }]);
  });

  it("applies a replayed webhook once: one decision, one account", async () => {
    const { app, provider } = await onboardingSetup({ controls: { duplicateCallbacks: true } });
    const customer = await newCustomer(app);
    const submitted = await apply(app, customer.token);
    await settled(app, customer.token, submitted.id, "active");
    await provider.idle();
    expect(await accountsOf(app, customer.token)).toHaveLength(1);
    expect(await outboxEvents(app, "onboarding.application_approved", submitted.id)).toHaveLength(1);
    const applied = await app.database.db
      .selectFrom("onboarding_kyc_results")
      .selectAll()
      .where("application_id", "=", submitted.id)
      .execute();
    expect(applied).toHaveLength(1);
  });

  it("refuses a webhook with a bad or stale signature and changes nothing", async () => {
    const { app, provider } = await onboardingSetup({ controls: { wrongSignatureSecret: true } });
    const customer = await newCustomer(app);
    const submitted = await apply(app, customer.token);
    await provider.idle();
    // The provider's own (wrongly signed) deliveries were refused; the application still waits.
    expect((await readApplication(app, customer.token, submitted.id)).status).toBe("submitted");
    const body = JSON.stringify({
      eventId: "evt-forged",
      type: "verification.decided",
      verification: {
        verificationId: "ver-forged",
        reference: submitted.id,
        status: "approved",
        reasons: [],
        documentVerified: true,
        decidedAt: new Date().toISOString(),
      },
    });
    const now = Math.floor(Date.now() / 1000);
    for (const signature of [
      signWebhook("guessed-secret", body, now),
      signWebhook(KYC_SECRET, body, now - 3_600),
      undefined,
    ]) {
      const response = await app.http.inject({
        method: "POST",
        url: "/v1/onboarding/kyc/callbacks",
        headers: {
          "content-type": "application/json",
          ...(signature ? { "x-kyc-signature": signature } : {}),
        },
        payload: body,
      });
      expectProblem(response, 401, "webhook-signature-invalid");
    }
    expect(
      await app.database.db
        .selectFrom("onboarding_kyc_results")
        .selectAll()
        .where("application_id", "=", submitted.id)
        .execute(),
    ).toEqual([]);
  });

  it("validates the application: incomplete, twice, another customer's, staff only", async () => {
    const { app } = await onboardingSetup();
    const customer = await newCustomer(app);
    const started = await startApplication(app, customer.token);
    expectProblem(await submitApplication(app, customer.token, started.id), 422, "application-incomplete");
    const second = await app.http.inject({
      method: "POST",
      url: "/v1/onboarding/applications",
      headers: bearer(customer.token),
    });
    expectProblem(second, 409, "application-exists");
    const bad = await patchApplication(app, customer.token, started.id, { personal: { givenName: "A" } });
    expectProblem(bad, 400, "validation");
    const unknown = await patchApplication(app, customer.token, started.id, { isAdmin: true });
    expectProblem(unknown, 400, "validation");
    const other = await newCustomer(app);
    const foreign = await app.http.inject({
      method: "GET",
      url: `/v1/onboarding/applications/${started.id}`,
      headers: bearer(other.token),
    });
    expectProblem(foreign, 404, "not-found");
    expectProblem(await patchApplication(app, other.token, started.id, applicant()), 404, "not-found");
    // A customer token is not valid for staff routes at all (another audience); other roles are refused.
    const asCustomer = await app.http.inject({
      method: "GET",
      url: "/v1/staff/onboarding/applications",
      headers: bearer(customer.token),
    });
    expect(asCustomer.statusCode).toBe(401);
    for (const role of ["fraud_investigator", "teller", "agent"]) {
      const staff = await newStaff(app, role);
      const queue = await app.http.inject({
        method: "GET",
        url: "/v1/staff/onboarding/applications",
        headers: bearer(staff.token),
      });
      expect(queue.statusCode, role).toBe(403);
    }
  });
});

import { describe, expect, it } from "vitest";
import {
  ageYears,
  DEFAULT_KYC_RULES,
  decideKyc,
  isCalendarDate,
} from "../../../simulators/kyc-provider/rules.ts";
import { kycProviderOptionsFromEnv } from "../../../simulators/kyc-provider/server.ts";
import { loadConfig } from "../../../src/config.ts";
import { createKycConnector, parseKycWebhookBody } from "../../../src/modules/onboarding/kyc/index.ts";
import { ManualClock } from "../../../src/platform/clock.ts";
import { verificationRequest } from "./kyc-test-kit.ts";

const TODAY = "2026-06-15";

function applicant(overrides: Parameters<typeof verificationRequest>[1] = {}) {
  return verificationRequest("http://127.0.0.1:1/", overrides).applicant;
}

describe("the simulator's decision rules", () => {
  it("collects every rejection reason, and rejection wins over referral", () => {
    const decision = decideKyc(
      applicant({ expiresOn: "2020-01-01", dateOfBirth: "2010-01-01", documentNumber: "REF99REJ" }),
      DEFAULT_KYC_RULES,
      TODAY,
    );
    expect(decision).toEqual({
      outcome: "rejected",
      reasons: ["document_expired", "document_invalid", "applicant_underage"],
      documentVerified: false,
    });
  });

  it("counts a document expiring today as valid and an 18th birthday today as adult", () => {
    const decision = decideKyc(
      applicant({ expiresOn: TODAY, dateOfBirth: "2008-06-15" }),
      DEFAULT_KYC_RULES,
      TODAY,
    );
    expect(decision.outcome).toBe("approved");
  });

  it("takes its watch list, age, markers and nationalities from configuration", () => {
    const rules = {
      ...DEFAULT_KYC_RULES,
      minimumAgeYears: 21,
      watchList: ["Ada Lovelace"],
      referredNationalities: ["KP"],
    };
    expect(decideKyc(applicant(), rules, TODAY).reasons).toEqual(["manual_review", "watch_list_match"]);
    expect(decideKyc(applicant({ givenName: "Grace", nationality: "KP" }), rules, TODAY).reasons).toEqual([
      "manual_review",
      "high_risk_country",
    ]);
    expect(
      decideKyc(applicant({ givenName: "Grace", dateOfBirth: "2006-01-01" }), rules, TODAY).outcome,
    ).toBe("rejected");
  });

  it("computes ages in whole years and knows calendar dates", () => {
    expect(ageYears("2000-02-29", "2018-02-28")).toBe(17);
    expect(ageYears("2000-02-29", "2018-03-01")).toBe(18);
    expect(isCalendarDate("2024-02-29")).toBe(true);
    expect(isCalendarDate("2023-02-29")).toBe(false);
  });

  it("reads its options from the environment", () => {
    const options = kycProviderOptionsFromEnv({
      KYC_PORT: "4300",
      KYC_WATCH_LIST: "A B; C D",
      KYC_LATENCY_MS: "5-10",
    });
    expect(options).toMatchObject({
      port: 4300,
      latencyMs: { minMs: 5, maxMs: 10 },
      rules: { watchList: ["A B", "C D"] },
    });
  });
});

describe("KYC configuration and connector", () => {
  it("is not configured without OMNICORE_KYC_URL", () => {
    const config = loadConfig({});
    expect(config.kyc).toEqual({
      url: undefined,
      apiKey: undefined,
      webhookSecret: undefined,
      webhookToleranceS: 300,
      timeoutMs: 5_000,
      pollAfterS: 30,
    });
    expect(createKycConnector(config.kyc, { clock: new ManualClock() })).toBeUndefined();
  });

  it("refuses a URL without its API key and webhook secret", () => {
    expect(() => loadConfig({ OMNICORE_KYC_URL: "http://127.0.0.1:4200" })).toThrow(/OMNICORE_KYC_API_KEY/);
  });

  it("builds a client and a verifier from configuration", () => {
    const config = loadConfig({
      OMNICORE_KYC_URL: "http://127.0.0.1:4200",
      OMNICORE_KYC_API_KEY: "key",
      OMNICORE_KYC_WEBHOOK_SECRET: "secret",
      OMNICORE_KYC_POLL_AFTER_S: "45",
    });
    const connector = createKycConnector(config.kyc, { clock: new ManualClock() });
    expect(connector?.pollAfterS).toBe(45);
    expect(connector?.client.circuitState()).toBe("closed");
  });
});

describe("parseKycWebhookBody", () => {
  const body = {
    eventId: "kye_1",
    type: "verification.decided",
    verification: {
      verificationId: "kyv_1",
      reference: "app_1",
      status: "approved",
      reasons: [],
      documentVerified: true,
      decidedAt: "2026-06-15T10:00:00.000Z",
      providerScore: 0.97,
    },
  };

  it("accepts fields the provider adds, and checks every field it uses", () => {
    expect(parseKycWebhookBody(JSON.stringify(body))).toMatchObject({ ok: true, eventId: "kye_1" });
    const pending = { ...body, verification: { ...body.verification, status: "pending" } };
    expect(parseKycWebhookBody(JSON.stringify(pending))).toMatchObject({ ok: false, reason: "payload" });
    expect(parseKycWebhookBody("not json")).toMatchObject({ ok: false, reason: "payload" });
    const other = { ...body, type: "verification.created" };
    expect(parseKycWebhookBody(JSON.stringify(other))).toMatchObject({ ok: false, reason: "payload" });
  });

  it("names the broken field without echoing its value", () => {
    const broken = { ...body, verification: { ...body.verification, reference: "Ada Lovelace 1990-12-10" } };
    const result = parseKycWebhookBody(JSON.stringify(broken));
    expect(result.ok).toBe(false);
    expect(JSON.stringify(result)).not.toContain("Lovelace");
  });
});

import { afterEach, describe, expect, it } from "vitest";
import {
  KYC_SIGNATURE_HEADER,
  type KycResult,
  type KycWebhookVerification,
  KycWebhookVerifier,
} from "../../../src/modules/onboarding/kyc/index.ts";
import { ManualClock } from "../../../src/platform/clock.ts";
import { waitFor } from "../../platform/wait.ts";
import {
  API_KEY,
  type Callback,
  cleanUp,
  clientFor,
  SECRET,
  startProvider,
  startReceiver,
  TODAY,
  verificationRequest,
} from "./kyc-test-kit.ts";

afterEach(cleanUp);

function verifier(clock = new ManualClock(TODAY)): KycWebhookVerifier {
  return new KycWebhookVerifier({ secret: SECRET, toleranceS: 300, clock });
}

function verify(callback: Callback | undefined, with_ = verifier()): KycWebhookVerification {
  expect(callback).toBeDefined();
  return with_.verify({
    rawBody: callback?.body ?? "",
    signatureHeader: callback?.headers[KYC_SIGNATURE_HEADER],
  });
}

function verifiedResult(callback: Callback | undefined): KycResult {
  const verification = verify(callback);
  if (!verification.ok) throw new Error(`callback refused: ${JSON.stringify(verification)}`);
  return verification.result;
}

type Overrides = Parameters<typeof verificationRequest>[1];

/** Submits one applicant and answers the result of its (verified) callback and of polling. */
async function decide(overrides: Overrides) {
  const receiver = await startReceiver();
  const { provider } = await startProvider();
  const client = clientFor(provider);
  const request = verificationRequest(receiver.url, overrides);
  const submitted = await client.submitVerification(request);
  if (!submitted.ok) throw new Error(`submission failed: ${submitted.failure.code}`);
  await waitFor(() => receiver.received.length === 1, 400, 25, "the KYC callback");
  const result = verifiedResult(receiver.received[0]);
  expect(result.verificationId).toBe(submitted.verificationId);
  expect(result.reference).toBe(request.reference);
  expect(result.decidedAt).toEqual(TODAY);
  const polled = await client.getVerification(submitted.verificationId);
  expect(polled).toEqual({ ok: true, pending: false, result });
  return result;
}

describe("KYC provider simulator and connector: decisions", () => {
  it("approves an adult with a valid document, and the signed callback verifies", async () => {
    const result = await decide({});
    expect(result).toMatchObject({ outcome: "approved", reasons: [], documentVerified: true });
  });

  it("rejects an expired document with document_expired", async () => {
    const result = await decide({ expiresOn: "2026-06-14" });
    expect(result).toMatchObject({
      outcome: "rejected",
      reasons: ["document_expired"],
      documentVerified: false,
    });
  });

  it("rejects an applicant under 18 with applicant_underage", async () => {
    // Eighteen tomorrow.
    const result = await decide({ dateOfBirth: "2008-06-16" });
    expect(result).toMatchObject({
      outcome: "rejected",
      reasons: ["applicant_underage"],
      documentVerified: true,
    });
  });

  it("rejects a document number with the reject marker as document_invalid", async () => {
    const result = await decide({ documentNumber: "P7654REJ" });
    expect(result).toMatchObject({
      outcome: "rejected",
      reasons: ["document_invalid"],
      documentVerified: false,
    });
  });

  it("refers a document number starting with REF for manual_review", async () => {
    const result = await decide({ documentNumber: "REF123456" });
    expect(result).toMatchObject({ outcome: "referred", reasons: ["manual_review"], documentVerified: true });
  });

  it("refers a name on the watch list, whatever its case, accents or order", async () => {
    const result = await decide({ givenName: "WATCHLIST", familyName: "Wándá" });
    expect(result).toMatchObject({ outcome: "referred", reasons: ["manual_review", "watch_list_match"] });
  });
});

describe("KYC provider simulator and connector: delivery", () => {
  it("leaves a dropped callback to polling, which finds the decision", async () => {
    const receiver = await startReceiver();
    const { provider } = await startProvider({ controls: { dropNextCallbacks: 1 } });
    const client = clientFor(provider);
    const submitted = await client.submitVerification(verificationRequest(receiver.url));
    if (!submitted.ok) throw new Error("submission failed");
    await provider.idle();
    expect(receiver.received).toHaveLength(0);
    expect(provider.deliveries()).toMatchObject([{ dropped: true, delivered: false }]);
    const polled = await client.getVerification(submitted.verificationId);
    expect(polled).toMatchObject({ ok: true, pending: false, result: { outcome: "approved" } });
  });

  it("answers pending to polling before the decision", async () => {
    const receiver = await startReceiver();
    const { provider } = await startProvider({ latencyMs: 60_000 });
    const client = clientFor(provider);
    const request = verificationRequest(receiver.url);
    const submitted = await client.submitVerification(request);
    if (!submitted.ok) throw new Error("submission failed");
    expect(await client.getVerification(submitted.verificationId)).toEqual({
      ok: true,
      pending: true,
      verificationId: submitted.verificationId,
      reference: request.reference,
    });
  });

  it("delivers a duplicate callback that parses to the same result and event (dedup is the receiver's)", async () => {
    const receiver = await startReceiver();
    const { provider } = await startProvider({ controls: { duplicateCallbacks: true } });
    await clientFor(provider).submitVerification(verificationRequest(receiver.url));
    await waitFor(() => receiver.received.length === 2, 400, 25, "two copies");
    const [first, second] = [verify(receiver.received[0]), verify(receiver.received[1])];
    expect(first.ok && second.ok).toBe(true);
    if (!first.ok || !second.ok) return;
    expect(second.result).toEqual(first.result);
    expect(second.eventId).toBe(first.eventId);
    expect(receiver.received[1]?.body).toBe(receiver.received[0]?.body);
  });

  it("lets a byte-for-byte replay inside the tolerance verify again, to the same result", async () => {
    const receiver = await startReceiver();
    const { provider } = await startProvider();
    await clientFor(provider).submitVerification(verificationRequest(receiver.url));
    await waitFor(() => receiver.received.length === 1, 400, 25, "the KYC callback");
    const original = verify(receiver.received[0]);
    const replay = verify(receiver.received[0]);
    expect(replay).toEqual(original);
  });

  it("retries a callback the receiver did not take", async () => {
    const receiver = await startReceiver([500, 503]);
    const { provider } = await startProvider();
    await clientFor(provider).submitVerification(verificationRequest(receiver.url));
    await waitFor(() => receiver.received.length === 3, 400, 25, "three attempts");
    await provider.idle();
    expect(new Set(receiver.received.map((callback) => callback.body)).size).toBe(1);
    expect(provider.deliveries()).toMatchObject([{ copy: 1, attempts: 3, delivered: true }]);
  });
});

describe("KYC webhook verification", () => {
  it("refuses a callback signed with another secret, before reading it", async () => {
    const receiver = await startReceiver();
    const { provider } = await startProvider({ controls: { wrongSignatureSecret: true } });
    await clientFor(provider).submitVerification(verificationRequest(receiver.url));
    await waitFor(() => receiver.received.length === 1, 400, 25, "the KYC callback");
    expect(verify(receiver.received[0])).toEqual({
      ok: false,
      reason: "signature",
      signature: "bad-signature",
    });
  });

  it("refuses a callback whose signed time is outside the tolerance", async () => {
    const receiver = await startReceiver();
    const { provider } = await startProvider();
    await clientFor(provider).submitVerification(verificationRequest(receiver.url));
    await waitFor(() => receiver.received.length === 1, 400, 25, "the KYC callback");
    const late = new ManualClock(TODAY);
    late.advance(301_000);
    expect(verify(receiver.received[0], verifier(late))).toEqual({
      ok: false,
      reason: "signature",
      signature: "stale",
    });
    const early = new ManualClock(TODAY);
    early.advance(-301_000);
    expect(verify(receiver.received[0], verifier(early))).toMatchObject({ ok: false, signature: "stale" });
  });

  it("refuses a tampered body and a missing header", async () => {
    const receiver = await startReceiver();
    const { provider } = await startProvider();
    await clientFor(provider).submitVerification(
      verificationRequest(receiver.url, { documentNumber: "REF1" }),
    );
    await waitFor(() => receiver.received.length === 1, 400, 25, "the KYC callback");
    const callback = receiver.received[0] as Callback;
    const tampered = { ...callback, body: callback.body.replace('"referred"', '"approved"') };
    expect(tampered.body).not.toBe(callback.body);
    expect(verify(tampered)).toMatchObject({ ok: false, signature: "bad-signature" });
    expect(verifier().verify({ rawBody: callback.body, signatureHeader: undefined })).toMatchObject({
      ok: false,
      signature: "missing",
    });
  });

  it("accepts the previous secret during a rotation", async () => {
    const receiver = await startReceiver();
    const { provider } = await startProvider();
    await clientFor(provider).submitVerification(verificationRequest(receiver.url));
    await waitFor(() => receiver.received.length === 1, 400, 25, "the KYC callback");
    const rotating = new KycWebhookVerifier({
      secret: ["the-new-secret", SECRET],
      toleranceS: 300,
      clock: new ManualClock(TODAY),
    });
    expect(verify(receiver.received[0], rotating).ok).toBe(true);
  });
});

describe("KYC provider simulator: its API", () => {
  it("returns the same verification for a repeated submission (Idempotency-Key)", async () => {
    const receiver = await startReceiver();
    const { provider } = await startProvider();
    const client = clientFor(provider);
    const request = verificationRequest(receiver.url);
    const first = await client.submitVerification(request);
    const again = await client.submitVerification(request);
    expect(again).toEqual(first);
    await provider.idle();
    expect(provider.verifications()).toHaveLength(1);
    expect(receiver.received).toHaveLength(1);
    const changed = { ...request, applicant: { ...request.applicant, givenName: "Augusta" } };
    expect(await client.submitVerification(changed)).toEqual({
      ok: false,
      failure: { code: "conflict", retryable: false, status: 422 },
    });
    expect((await client.submitVerification(changed, { idempotencyKey: `${request.reference}:2` })).ok).toBe(
      true,
    );
  });

  it("refuses a wrong API key, unknown fields and impossible dates", async () => {
    const { provider } = await startProvider();
    const request = verificationRequest("http://127.0.0.1:1/callbacks");
    const wrongKey = clientFor(provider, { apiKey: "not-the-key" });
    expect(await wrongKey.submitVerification(request)).toEqual({
      ok: false,
      failure: { code: "unauthorized", retryable: false, status: 401 },
    });
    const post = (body: unknown) =>
      fetch(`${provider.url}/v1/verifications`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": API_KEY, "idempotency-key": "k" },
        body: JSON.stringify(body),
      });
    expect((await post({ ...request, extra: true })).status).toBe(400);
    const badDate = { ...request, applicant: { ...request.applicant, dateOfBirth: "1990-02-30" } };
    expect((await post(badDate)).status).toBe(400);
    expect(await clientFor(provider).getVerification("kyv_unknown")).toEqual({
      ok: false,
      failure: { code: "not-found", retryable: false, status: 404 },
    });
  });

  it("changes its controls through the admin endpoint, behind the API key", async () => {
    const { provider } = await startProvider();
    const patch = (key: string) =>
      fetch(`${provider.url}/admin/controls`, {
        method: "PATCH",
        headers: { "content-type": "application/json", "x-api-key": key },
        body: JSON.stringify({ dropNextCallbacks: 2, duplicateCallbacks: true }),
      });
    expect((await patch("wrong")).status).toBe(401);
    const response = await patch(API_KEY);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ dropNextCallbacks: 2, duplicateCallbacks: true });
    expect(provider.controls()).toMatchObject({ dropNextCallbacks: 2, duplicateCallbacks: true });
  });
});

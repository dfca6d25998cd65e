import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  parseSignatureHeader,
  signWebhook,
  verifyWebhook,
  type WebhookRejection,
  webhookSignatureId,
} from "../../src/platform/webhook-signature.ts";

const SECRET = "whsec_test_4f1c2b";
const BODY = '<?xml version="1.0"?><Document>settled &amp; done</Document>';
const SIGNED_AT_S = 1_780_000_000;
const TOLERANCE_S = 300;
const VALID_HEADER = signWebhook(SECRET, BODY, SIGNED_AT_S);
const VALID_HEX = VALID_HEADER.split("v1=")[1] ?? "";

function verify(overrides: Partial<Parameters<typeof verifyWebhook>[0]> = {}) {
  return verifyWebhook({
    secret: SECRET,
    header: signWebhook(SECRET, BODY, SIGNED_AT_S),
    rawBody: BODY,
    nowS: SIGNED_AT_S,
    toleranceS: TOLERANCE_S,
    ...overrides,
  });
}

function expectRejected(result: ReturnType<typeof verifyWebhook>, reason: WebhookRejection): void {
  expect(result).toEqual({ ok: false, reason });
}

describe("signWebhook", () => {
  it("signs <timestamp>.<body> with HMAC-SHA256 in the t=…,v1=… format", () => {
    const expected = createHmac("sha256", SECRET).update(`${SIGNED_AT_S}.${BODY}`).digest("hex");
    expect(signWebhook(SECRET, BODY, SIGNED_AT_S)).toBe(`t=${SIGNED_AT_S},v1=${expected}`);
  });

  it("signs bytes and the same text alike", () => {
    expect(signWebhook(SECRET, Buffer.from(BODY), SIGNED_AT_S)).toBe(signWebhook(SECRET, BODY, SIGNED_AT_S));
  });

  it("refuses an empty secret", () => {
    expect(() => signWebhook("", BODY, SIGNED_AT_S)).toThrow();
  });
});

describe("verifyWebhook", () => {
  it("accepts a valid signature and names it for replay caches", () => {
    const header = signWebhook(SECRET, BODY, SIGNED_AT_S);
    const result = verify({ header });
    expect(result).toEqual({ ok: true, timestampS: SIGNED_AT_S, signatureId: webhookSignatureId(header) });
  });

  it("accepts the raw body as bytes", () => {
    expect(verify({ rawBody: Buffer.from(BODY) }).ok).toBe(true);
  });

  it("accepts times at the edge of the tolerance, both ways", () => {
    expect(verify({ nowS: SIGNED_AT_S + TOLERANCE_S }).ok).toBe(true);
    expect(verify({ nowS: SIGNED_AT_S - TOLERANCE_S }).ok).toBe(true);
  });

  it("refuses a tampered body", () => {
    expectRejected(verify({ rawBody: BODY.replace("settled", "rejected") }), "bad-signature");
    expectRejected(verify({ rawBody: `${BODY} ` }), "bad-signature");
  });

  it("refuses a signature made with another secret", () => {
    expectRejected(verify({ secret: "another secret" }), "bad-signature");
  });

  it("refuses a re-timed signature (the time is signed too)", () => {
    const header = signWebhook(SECRET, BODY, SIGNED_AT_S).replace(`t=${SIGNED_AT_S}`, `t=${SIGNED_AT_S + 1}`);
    expectRejected(verify({ header, nowS: SIGNED_AT_S + 1 }), "bad-signature");
  });

  it("refuses a stale signature", () => {
    expectRejected(verify({ nowS: SIGNED_AT_S + TOLERANCE_S + 1 }), "stale");
  });

  it("refuses a signature from the future", () => {
    expectRejected(verify({ nowS: SIGNED_AT_S - TOLERANCE_S - 1 }), "stale");
  });

  it.each([undefined, null, "", "   ", []])("calls a header of %j missing", (header) => {
    expectRejected(verify({ header }), "missing");
  });

  const valid = VALID_HEADER;
  const hex = VALID_HEX;
  it.each([
    "garbage",
    `v1=${hex}`,
    `t=${SIGNED_AT_S}`,
    `t=abc,v1=${hex}`,
    `t=-5,v1=${hex}`,
    `t=${SIGNED_AT_S},v1=${hex.slice(2)}`,
    `t=${SIGNED_AT_S},v1=${hex.toUpperCase()}`,
    `t=${SIGNED_AT_S},t=${SIGNED_AT_S},v1=${hex}`,
    `t=${SIGNED_AT_S},v1=${hex}=`,
    `t=${SIGNED_AT_S},v1=${hex}${",v1=".padEnd(70, "0").repeat(20)}`,
    `t=${SIGNED_AT_S},v1=${hex},${"x".repeat(2_000)}`,
  ])("calls %s malformed", (header) => {
    expectRejected(verify({ header }), "malformed");
  });

  it("refuses several header values rather than guessing which one counts", () => {
    expectRejected(verify({ header: [valid, valid] }), "malformed");
    expect(verify({ header: [valid] }).ok).toBe(true);
  });

  it("accepts any of several signatures and any of several secrets (rotation)", () => {
    const old = signWebhook("retired secret", BODY, SIGNED_AT_S).split("v1=")[1];
    expect(verify({ header: `t=${SIGNED_AT_S},v1=${old},v1=${hex}` }).ok).toBe(true);
    expect(verify({ secret: ["new secret", SECRET] }).ok).toBe(true);
    expectRejected(verify({ secret: [] }), "bad-signature");
  });

  it("skips signature schemes it does not know", () => {
    expect(verify({ header: `t=${SIGNED_AT_S},v0=abc,v1=${hex}` }).ok).toBe(true);
  });
});

describe("webhookSignatureId", () => {
  it("is the first signature of a well-formed header and undefined otherwise", () => {
    expect(webhookSignatureId(VALID_HEADER)).toBe(VALID_HEX);
    expect(webhookSignatureId("garbage")).toBeUndefined();
    expect(parseSignatureHeader(VALID_HEADER)?.timestampS).toBe(SIGNED_AT_S);
  });
});

import { Compile } from "typebox/compile";
import type { Clock } from "../../../platform/clock.ts";
import {
  KYC_SIGNATURE_HEADER,
  verifyWebhook,
  type WebhookRejection,
} from "../../../platform/webhook-signature.ts";
import { KYC_WEBHOOK_BODY_MAX_BYTES, KycWebhookBodySchema } from "./kyc.schemas.ts";
import { type KycResult, toKycResult } from "./kyc-result.ts";

/**
 * The inbound side of the KYC provider: its decision arrives as JSON POSTed to our callback URL,
 * signed with HMAC-SHA256 over `<timestamp>.<raw body>` in `x-kyc-signature: t=…,v1=…`. The
 * signature is checked on the exact bytes received, before anything is parsed; only then is the
 * JSON read and validated. A valid delivery may be a replay or a provider retry: the result is the
 * same value every time, and deduplicating it (by `verificationId`, or `eventId`) is the
 * receiver's job, in the transaction that applies it.
 */

export { KYC_SIGNATURE_HEADER };

export interface KycWebhookVerifierOptions {
  /** Several secrets verify during a rotation: the new one and the one being retired. */
  secret: string | readonly string[];
  /** How far the signed time may be from now, either way, before a delivery is refused as stale. */
  toleranceS: number;
  clock: Clock;
}

export type KycWebhookRejection =
  /** The signature header is missing, malformed, wrong, or outside the tolerance. */
  | { ok: false; reason: "signature"; signature: WebhookRejection }
  /** Authentic, but not a decision we understand (a new event type, a broken body). */
  | { ok: false; reason: "payload"; detail: string }
  | { ok: false; reason: "too-large" };

export type KycWebhookVerification =
  | {
      ok: true;
      result: KycResult;
      /** The provider's id of this delivery; retries and replays of it carry the same one. */
      eventId: string;
      /** The signature's own id, for a replay cache keyed by signature. */
      signatureId: string;
    }
  | KycWebhookRejection;

export interface KycWebhookDelivery {
  /** The body exactly as received, before any parsing. */
  rawBody: string | Uint8Array;
  /** The value of the `x-kyc-signature` header, as the HTTP server gives it. */
  signatureHeader: string | readonly string[] | null | undefined;
}

const webhookBody = Compile(KycWebhookBodySchema);

export class KycWebhookVerifier {
  readonly #secret: string | readonly string[];
  readonly #toleranceS: number;
  readonly #clock: Clock;

  constructor(options: KycWebhookVerifierOptions) {
    const secrets = typeof options.secret === "string" ? [options.secret] : options.secret;
    if (!secrets.some((secret) => secret.length > 0)) throw new Error("a KYC webhook secret is required");
    if (!(options.toleranceS > 0)) throw new Error("the KYC webhook tolerance must be positive");
    this.#secret = options.secret;
    this.#toleranceS = options.toleranceS;
    this.#clock = options.clock;
  }

  verify(delivery: KycWebhookDelivery): KycWebhookVerification {
    const size =
      typeof delivery.rawBody === "string"
        ? Buffer.byteLength(delivery.rawBody)
        : delivery.rawBody.byteLength;
    if (size > KYC_WEBHOOK_BODY_MAX_BYTES) return { ok: false, reason: "too-large" };
    const signature = verifyWebhook({
      secret: this.#secret,
      header: delivery.signatureHeader,
      rawBody: delivery.rawBody,
      nowS: Math.floor(this.#clock.now().getTime() / 1000),
      toleranceS: this.#toleranceS,
    });
    if (!signature.ok) return { ok: false, reason: "signature", signature: signature.reason };
    const parsed = parseKycWebhookBody(delivery.rawBody);
    if (!parsed.ok) return parsed;
    return { ok: true, result: parsed.result, eventId: parsed.eventId, signatureId: signature.signatureId };
  }
}

/**
 * The decision in a webhook body. Exported for tests and tools; a receiver calls `verify`, which
 * never parses a body whose signature it has not checked.
 */
export function parseKycWebhookBody(
  rawBody: string | Uint8Array,
): { ok: true; result: KycResult; eventId: string } | { ok: false; reason: "payload"; detail: string } {
  let value: unknown;
  try {
    value = JSON.parse(typeof rawBody === "string" ? rawBody : Buffer.from(rawBody).toString("utf8"));
  } catch {
    return { ok: false, reason: "payload", detail: "the body is not JSON" };
  }
  if (!webhookBody.Check(value)) {
    // Paths and messages only, never values: the body may hold personal data.
    const first = [...webhookBody.Errors(value)][0];
    const where = first?.instancePath || "/";
    return { ok: false, reason: "payload", detail: `${where} ${first?.message ?? "is not valid"}` };
  }
  const result = toKycResult(value.verification);
  if (result === "pending")
    return { ok: false, reason: "payload", detail: "a webhook must carry a decision" };
  if (result === "invalid")
    return { ok: false, reason: "payload", detail: "/verification/decidedAt is missing" };
  return { ok: true, result, eventId: value.eventId };
}

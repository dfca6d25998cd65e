import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Signatures of the webhooks that external systems send us (the payment rail, the KYC provider):
 * HMAC-SHA256 over `${timestampS}.${rawBody}`, sent in one header as `t=<unix seconds>,v1=<hex>`.
 * The timestamp is signed with the body so that an old delivery cannot be replayed with a fresh
 * time; a receiver still keeps its own replay cache (by message id, or by `signatureId`), because
 * a delivery inside the tolerance can be replayed. Only the header's name differs per sender.
 */

/** The payment rail signs its pacs.002/004/008 callbacks in this header. */
export const RAIL_SIGNATURE_HEADER = "x-rail-signature";
/** The KYC provider signs its verification results in this header. */
export const KYC_SIGNATURE_HEADER = "x-kyc-signature";

export type WebhookRejection = "missing" | "malformed" | "bad-signature" | "stale";

export type WebhookVerification =
  | { ok: true; timestampS: number; signatureId: string }
  | { ok: false; reason: WebhookRejection };

export interface VerifyWebhookOptions {
  /** Several secrets verify during a rotation: the new one and the one being retired. */
  secret: string | readonly string[];
  header: string | readonly string[] | null | undefined;
  /** The body exactly as received, before any parsing. */
  rawBody: string | Uint8Array;
  nowS: number;
  /** How far the signed time may be from now, in either direction (clock skew, slow retries). */
  toleranceS: number;
}

/** Far longer than any real header (`t=` + 10 digits + a few `v1=` of 64 hex); refuse the rest unread. */
const HEADER_MAX_LENGTH = 1_024;
const SIGNATURES_MAX = 4;
const TIMESTAMP = /^\d{1,12}$/;
const SIGNATURE_HEX = /^[0-9a-f]{64}$/;

function signature(secret: string, timestampS: number, rawBody: string | Uint8Array): Buffer {
  return createHmac("sha256", secret).update(`${timestampS}.`).update(rawBody).digest();
}

/** The header value for `rawBody` signed at `nowS`. */
export function signWebhook(secret: string, rawBody: string | Uint8Array, nowS: number): string {
  if (secret.length === 0) throw new Error("a webhook secret must not be empty");
  const timestampS = Math.floor(nowS);
  return `t=${timestampS},v1=${signature(secret, timestampS, rawBody).toString("hex")}`;
}

interface ParsedHeader {
  timestampS: number;
  signatures: Buffer[];
}

/** `t=…,v1=…[,v1=…]`; unknown schemes (`v0=`, future `v2=`) are skipped, as receivers should. */
export function parseSignatureHeader(header: string): ParsedHeader | undefined {
  if (header.length > HEADER_MAX_LENGTH) return undefined;
  let timestampS: number | undefined;
  const signatures: Buffer[] = [];
  for (const part of header.split(",")) {
    const [key, value, extra] = part.trim().split("=");
    if (value === undefined || extra !== undefined) return undefined;
    if (key === "t") {
      if (timestampS !== undefined || !TIMESTAMP.test(value)) return undefined;
      timestampS = Number(value);
    } else if (key === "v1") {
      if (!SIGNATURE_HEX.test(value) || signatures.length >= SIGNATURES_MAX) return undefined;
      signatures.push(Buffer.from(value, "hex"));
    }
  }
  if (timestampS === undefined || signatures.length === 0) return undefined;
  return { timestampS, signatures };
}

function singleHeader(header: VerifyWebhookOptions["header"]): string | undefined {
  if (typeof header === "string") return header.trim() === "" ? undefined : header;
  if (header && header.length === 1) return singleHeader(header[0]);
  return undefined;
}

/**
 * Checks the signature first and the time second, so that `stale` always means an authentic
 * message that arrived too early or too late, never a forgery.
 */
export function verifyWebhook(options: VerifyWebhookOptions): WebhookVerification {
  if (options.header === undefined || options.header === null) return { ok: false, reason: "missing" };
  const header = singleHeader(options.header);
  if (header === undefined) {
    const empty = typeof options.header === "string" || options.header.length === 0;
    return { ok: false, reason: empty ? "missing" : "malformed" };
  }
  const parsed = parseSignatureHeader(header);
  if (!parsed) return { ok: false, reason: "malformed" };
  const secrets = typeof options.secret === "string" ? [options.secret] : options.secret;
  const matched = matchingSignature(secrets, parsed, options.rawBody);
  if (!matched) return { ok: false, reason: "bad-signature" };
  if (Math.abs(options.nowS - parsed.timestampS) > options.toleranceS) return { ok: false, reason: "stale" };
  return { ok: true, timestampS: parsed.timestampS, signatureId: matched.toString("hex") };
}

function matchingSignature(
  secrets: readonly string[],
  parsed: ParsedHeader,
  rawBody: string | Uint8Array,
): Buffer | undefined {
  for (const secret of secrets) {
    if (secret.length === 0) continue;
    const expected = signature(secret, parsed.timestampS, rawBody);
    // Every candidate is compared in constant time; lengths are equal by the header's syntax.
    const found = parsed.signatures.find((candidate) => timingSafeEqual(candidate, expected));
    if (found) return found;
  }
  return undefined;
}

/**
 * A key for a replay cache: the first signature of a well-formed header. It changes when the
 * sender re-signs a retry, so caches that must recognise retries key by message id instead.
 */
export function webhookSignatureId(header: string): string | undefined {
  return parseSignatureHeader(header)?.signatures[0]?.toString("hex");
}

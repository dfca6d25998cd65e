import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  randomUUID,
} from "node:crypto";
import { calculateJwkThumbprint, errors, exportJWK, type JWTPayload, jwtVerify, SignJWT } from "jose";
import type { Config } from "../../config.ts";
import type { Clock } from "../../platform/clock.ts";
import { CHANNELS, type Channel, STAFF_ROLES, type StaffRole } from "../../platform/context.ts";
import type { IdentityRepository } from "./identity.repository.ts";
import type { SubjectType } from "./identity.tables.ts";

/** Who a session belongs to; staff carry their role into the token so guards need no lookup. */
export type Subject = { type: "customer"; id: string } | { type: "staff"; id: string; role: StaffRole };

/** What an access token asserts, once its signature and standard claims are verified. */
export interface AccessClaims {
  subject: Subject;
  sessionId: string;
  channel: Channel;
  deviceId: string | undefined;
}

/** Customer and staff tokens have different audiences, so neither is accepted where the other is. */
export const AUDIENCES: Record<SubjectType, string> = {
  customer: "omnicore:customer",
  staff: "omnicore:staff",
};

const ALGORITHM = "EdDSA";
/** RFC 9068: the typ header tells an access token apart from any other JWT signed by the same key. */
const TOKEN_TYPE = "at+jwt";
const SIGNING_KEY_ID = "default";
/** Verified tokens remembered at most (oldest forgotten first); bounds the memory of the cache. */
const VERIFIED_TOKENS_MAX = 20_000;
const SUBJECT_ID_PATTERN: Record<SubjectType, RegExp> = { customer: /^cus_/, staff: /^stf_/ };

/**
 * Signs and verifies EdDSA (Ed25519) access tokens. The key comes from configuration, or is
 * generated once and shared through the database so that every node accepts every other node's
 * tokens. Time comes from the injected clock, for both issuing and checking.
 */
export class AccessTokenService {
  readonly #repository: IdentityRepository;
  readonly #clock: Clock;
  readonly #auth: Config["auth"];
  #keys: { privateKey: KeyObject; publicKey: KeyObject; keyId: string } | undefined;
  readonly #verified = new Map<string, { claims: AccessClaims; expiresAtMs: number }>();

  constructor(options: { repository: IdentityRepository; clock: Clock; auth: Config["auth"] }) {
    this.#repository = options.repository;
    this.#clock = options.clock;
    this.#auth = options.auth;
  }

  get ttlS(): number {
    return this.#auth.accessTokenTtlS;
  }

  async init(): Promise<void> {
    // A PEM passed through an environment variable often arrives with its newlines escaped.
    const pem = this.#auth.jwtPrivateKeyPem?.replaceAll("\\n", "\n") ?? (await this.#sharedGeneratedKey());
    const privateKey = createPrivateKey(pem);
    if (privateKey.asymmetricKeyType !== "ed25519") {
      throw new Error("OMNICORE_JWT_PRIVATE_KEY must be an Ed25519 private key in PKCS#8 PEM");
    }
    const publicKey = createPublicKey(privateKey);
    const keyId = await calculateJwkThumbprint(await exportJWK(publicKey));
    this.#keys = { privateKey, publicKey, keyId };
  }

  async sign(claims: AccessClaims): Promise<string> {
    const keys = this.#requireKeys();
    const issuedAtS = Math.floor(this.#clock.now().getTime() / 1000);
    const { subject } = claims;
    return new SignJWT({
      sid: claims.sessionId,
      chn: claims.channel,
      ...(claims.deviceId === undefined ? {} : { dev: claims.deviceId }),
      ...(subject.type === "staff" ? { role: subject.role } : {}),
    })
      .setProtectedHeader({ alg: ALGORITHM, typ: TOKEN_TYPE, kid: keys.keyId })
      .setIssuer(this.#auth.issuer)
      .setAudience(AUDIENCES[subject.type])
      .setSubject(subject.id)
      .setJti(randomUUID())
      .setIssuedAt(issuedAtS)
      .setExpirationTime(issuedAtS + this.#auth.accessTokenTtlS)
      .sign(keys.privateKey);
  }

  /** The token's claims, or undefined for any token that is not ours, not for `audience`, or expired. */
  async verify(token: string, audience: SubjectType): Promise<AccessClaims | undefined> {
    const cacheKey = `${audience}:${token}`;
    const cached = this.#verified.get(cacheKey);
    if (cached) {
      if (cached.expiresAtMs > this.#clock.now().getTime()) return cached.claims;
      this.#verified.delete(cacheKey);
    }
    const claims = await this.#verifySignature(token, audience);
    if (claims) this.#remember(cacheKey, claims);
    return claims;
  }

  /**
   * A token's signature and claims never change, so a verified token is remembered until it
   * expires: a session sends many requests with the same token, and Ed25519 verification through
   * WebCrypto was the largest single cost of a request (measured: 14% of the server's CPU under
   * the transfer benchmark). Revocation is not cached: the caller checks the deny-list every time.
   */
  #remember(cacheKey: string, claims: AccessClaims & { expiresAtS?: number }): void {
    if (this.#verified.size >= VERIFIED_TOKENS_MAX) {
      const oldest = this.#verified.keys().next();
      if (!oldest.done) this.#verified.delete(oldest.value);
    }
    this.#verified.set(cacheKey, { claims, expiresAtMs: (claims.expiresAtS ?? 0) * 1000 });
  }

  async #verifySignature(
    token: string,
    audience: SubjectType,
  ): Promise<(AccessClaims & { expiresAtS?: number }) | undefined> {
    const keys = this.#requireKeys();
    try {
      const { payload, protectedHeader } = await jwtVerify(token, keys.publicKey, {
        algorithms: [ALGORITHM],
        typ: TOKEN_TYPE,
        issuer: this.#auth.issuer,
        audience: AUDIENCES[audience],
        requiredClaims: ["sub", "sid", "chn", "jti", "iat", "exp"],
        currentDate: this.#clock.now(),
        // Also refuses tokens issued in the future, or living longer than we would ever issue.
        maxTokenAge: this.#auth.accessTokenTtlS,
      });
      if (protectedHeader.kid !== keys.keyId) return undefined;
      const claims = parseClaims(payload, audience);
      return claims && { ...claims, expiresAtS: payload.exp };
    } catch (error) {
      // Every way a token can be wrong is a JOSEError; anything else is a bug and must surface.
      if (error instanceof errors.JOSEError) return undefined;
      throw error;
    }
  }

  #requireKeys() {
    if (!this.#keys) throw new Error("AccessTokenService.init() was not called");
    return this.#keys;
  }

  async #sharedGeneratedKey(): Promise<string> {
    // Generating a key that loses the race costs microseconds; the stored one is what counts.
    const { privateKey } = generateKeyPairSync("ed25519");
    const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    return this.#repository.ensureSigningKey(SIGNING_KEY_ID, pem, this.#clock.now());
  }
}

/** Reads the private claims defensively: a signature proves who wrote them, not that they are well formed. */
function parseClaims(payload: JWTPayload, audience: SubjectType): AccessClaims | undefined {
  const { sub, sid, chn, dev, role } = payload;
  if (typeof sub !== "string" || !SUBJECT_ID_PATTERN[audience].test(sub)) return undefined;
  if (typeof sid !== "string" || typeof chn !== "string") return undefined;
  if (!(CHANNELS as readonly string[]).includes(chn)) return undefined;
  if (dev !== undefined && typeof dev !== "string") return undefined;
  const base = { sessionId: sid, channel: chn as Channel, deviceId: dev };
  if (audience === "customer") return { ...base, subject: { type: "customer", id: sub } };
  if (typeof role !== "string" || !(STAFF_ROLES as readonly string[]).includes(role)) return undefined;
  return { ...base, subject: { type: "staff", id: sub, role: role as StaffRole } };
}

/** 32 random bytes: an opaque refresh token that is only ever stored as a hash. */
export function newRefreshToken(): string {
  return randomBytes(32).toString("base64url");
}

/**
 * SHA-256 suffices here (unlike passwords): the token has 256 bits of entropy, so there is nothing
 * to guess, and a fast hash keeps the lookup by hash cheap.
 */
export function hashRefreshToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

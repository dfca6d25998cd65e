import { generate, generateSecret, generateURI, verify } from "otplib";

/** RFC 6238 with what every authenticator app supports: SHA-1, 6 digits, 30-second steps. */
export const TOTP_PERIOD_S = 30;
const TOTP_PARAMETERS = { algorithm: "sha1", digits: 6, period: TOTP_PERIOD_S } as const;
/** RFC 6238 sec. 4.2 uses 20 bytes (160 bits), the HMAC-SHA-1 key size. */
const SECRET_BYTES = 20;
/** One step either side absorbs clock drift between the phone and the server (RFC 6238 sec. 5.2). */
const DRIFT_STEPS = 1;
const CODE_SHAPE = /^[0-9]{6}$/;

export type TotpCheck = { ok: true; step: number } | { ok: false; reason: "invalid" | "replayed" };

function epochSeconds(at: Date): number {
  return Math.floor(at.getTime() / 1000);
}

/** Base32, as authenticator apps expect it. */
export function newTotpSecret(): string {
  return generateSecret({ length: SECRET_BYTES });
}

/** otpauth:// URI for the enrolment QR code. */
export function totpUri(options: { issuer: string; label: string; secret: string }): string {
  return generateURI({ ...options, ...TOTP_PARAMETERS });
}

export function totpStep(at: Date): number {
  return Math.floor(epochSeconds(at) / TOTP_PERIOD_S);
}

/** The code an authenticator app shows at `at`; used by tests and simulators. */
export async function totpCode(secret: string, at: Date): Promise<string> {
  return generate({ secret, epoch: epochSeconds(at), ...TOTP_PARAMETERS });
}

/**
 * Accepts the code of the current step or one step either side, never a step at or before
 * `lastUsedStep`: each code is accepted once (RFC 6238 sec. 5.2). Time comes only from `at`, the
 * caller's injected clock. otplib compares in constant time and skips steps <= `afterTimeStep`.
 */
export async function verifyTotp(input: {
  secret: string;
  code: string;
  at: Date;
  lastUsedStep: number | null;
}): Promise<TotpCheck> {
  const { secret, code, at, lastUsedStep } = input;
  if (!CODE_SHAPE.test(code)) return { ok: false, reason: "invalid" };
  const window = {
    secret,
    token: code,
    epoch: epochSeconds(at),
    epochTolerance: DRIFT_STEPS * TOTP_PERIOD_S,
    ...TOTP_PARAMETERS,
  };
  // otplib throws when afterTimeStep lies beyond the window; then every step in it is already used.
  const freshStepsLeft = lastUsedStep === null || lastUsedStep < totpStep(at) + DRIFT_STEPS;
  if (freshStepsLeft) {
    const afterTimeStep = lastUsedStep === null ? {} : { afterTimeStep: lastUsedStep };
    const fresh = await verify({ ...window, ...afterTimeStep });
    // The functional API's result type also covers HOTP, which has no timeStep; delta is from `at`'s step.
    if (fresh.valid) return { ok: true, step: totpStep(at) + fresh.delta };
    if (lastUsedStep === null) return { ok: false, reason: "invalid" };
  }
  // Only to tell the caller (and the audit trail) that a correct code was presented a second time.
  const anyStep = await verify(window);
  return { ok: false, reason: anyStep.valid ? "replayed" : "invalid" };
}

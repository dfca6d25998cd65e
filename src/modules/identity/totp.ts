import { timingSafeEqual } from "node:crypto";
import { generate, generateSecret, generateURI, verify } from "otplib";

/** RFC 6238 with what every authenticator app supports: SHA-1, 6 digits, 30-second steps. */
export const TOTP_PERIOD_S = 30;
const CODE_SHAPE = /^[0-9]{6}$/;
/** One step either side for clock drift between the phone and the server (RFC 6238 sec. 5.2). */
const DRIFT_STEPS = 1;

export type TotpCheck = { ok: true; step: number } | { ok: false; reason: "invalid" | "replayed" };

export function newTotpSecret(): string {
  return generateSecret({ length: 20 });
}

export function totpUri(options: { issuer: string; label: string; secret: string }): string {
  return generateURI(options);
}

export function totpStep(at: Date): number {
  return Math.floor(at.getTime() / 1000 / TOTP_PERIOD_S);
}

export async function totpCode(secret: string, at: Date): Promise<string> {
  return generate({ secret, epoch: Math.floor(at.getTime() / 1000) });
}

/**
 * Accepts the code of the current step or one step either side, never a step at or before
 * `lastUsedStep`: each code is accepted once. Time comes from the caller's (injected) clock.
 */
export async function verifyTotp(input: {
  secret: string;
  code: string;
  at: Date;
  lastUsedStep: number | null;
}): Promise<TotpCheck> {
  if (!CODE_SHAPE.test(input.code)) return { ok: false, reason: "invalid" };
  const current = totpStep(input.at);
  let replayed = false;
  for (let offset = -DRIFT_STEPS; offset <= DRIFT_STEPS; offset += 1) {
    const step = current + offset;
    const expected = await generate({ secret: input.secret, epoch: step * TOTP_PERIOD_S });
    if (!timingSafeEqual(Buffer.from(expected), Buffer.from(input.code))) continue;
    if (input.lastUsedStep !== null && step <= input.lastUsedStep) {
      replayed = true;
      continue;
    }
    return { ok: true, step };
  }
  return { ok: false, reason: replayed ? "replayed" : "invalid" };
}

void verify;

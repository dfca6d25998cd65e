import { createHash, randomInt } from "node:crypto";

export const RECOVERY_CODE_COUNT = 10;
/**
 * No 0/O and no 1/I/L, so a code read off paper is typed back without confusion; lower case
 * because that is the normalised form. 31 symbols: 12 of them give 12 * log2(31) ≈ 59.5 bits.
 */
const ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789";
const CODE_CHARS = 12;
const GROUP_CHARS = 6;

function randomCode(): string {
  // randomInt draws from the CSPRNG without modulo bias.
  const chars = Array.from({ length: CODE_CHARS }, () => ALPHABET[randomInt(ALPHABET.length)]).join("");
  return `${chars.slice(0, GROUP_CHARS)}-${chars.slice(GROUP_CHARS)}`;
}

/** Shown once as `xxxxx-xxxxx`; only their hashes are stored. */
export function newRecoveryCodes(count = RECOVERY_CODE_COUNT): string[] {
  return Array.from({ length: count }, randomCode);
}

/** What people type back: any case, with or without the hyphen, maybe with spaces. */
export function normalizeRecoveryCode(input: string): string {
  return input.toLowerCase().replace(/[\s-]/g, "");
}

/** SHA-256 hex of the normalised code: the codes are random, not chosen by people, so a fast hash suffices. */
export function hashRecoveryCode(code: string): string {
  return createHash("sha256").update(normalizeRecoveryCode(code)).digest("hex");
}

/** A shape check, so that obvious garbage is refused without a database look-up. */
export function looksLikeRecoveryCode(input: string): boolean {
  const normalized = normalizeRecoveryCode(input);
  return normalized.length === CODE_CHARS && [...normalized].every((char) => ALPHABET.includes(char));
}

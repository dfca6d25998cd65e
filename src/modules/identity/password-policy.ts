import { dictionary } from "@zxcvbn-ts/language-common";
import { AppError } from "../../platform/errors.ts";

/**
 * NIST SP 800-63B rev. 4, sec. 3.1.1.2: a length floor that depends on whether the password stands
 * alone, no composition rules, every printable character and space allowed, and a blocklist of
 * common, breached and context-specific passwords.
 */
export const PASSWORD_LENGTH_MAX = 256;
export const PASSWORD_MIN_SINGLE_FACTOR = 15;
export const PASSWORD_MIN_WITH_MFA = 8;
/** Shorter names ("Ada", "Li") occur inside too many unrelated passwords to refuse them. */
const CONTEXT_WORD_MIN_CHARS = 4;
/** Orders a "simple sequence" walks through, forwards or backwards; cyclic so "7890123" counts too. */
const SEQUENCE_ORDERS = ["0123456789", "abcdefghijklmnopqrstuvwxyz"];

export interface PasswordContext {
  mfaEnabled: boolean;
  email?: string | undefined;
  givenName?: string | undefined;
  familyName?: string | undefined;
}

/** One form for every comparison: NIST recommends NFKC, and all the checks ignore case. */
function canonical(text: string): string {
  return text.normalize("NFKC").toLowerCase();
}

let commonPasswords: Set<string> | undefined;

/** zxcvbn-ts's "passwords-common" list (~49k entries from breach corpora), indexed on first use. */
export function isCommonPassword(password: string): boolean {
  commonPasswords ??= new Set(dictionary["passwords-common"].map(canonical));
  return commonPasswords.has(canonical(password));
}

function isOneCharacterRepeated(codePoints: string[]): boolean {
  return new Set(codePoints).size === 1;
}

function isSimpleSequence(text: string): boolean {
  const reversed = [...text].reverse().join("");
  return SEQUENCE_ORDERS.some((order) => {
    // Enough turns of the cycle to hold any window of the text's length at any starting point.
    const cycle = order.repeat(Math.ceil(text.length / order.length) + 1);
    return cycle.includes(text) || cycle.includes(reversed);
  });
}

function emailLocalPart(email: string | undefined): string | undefined {
  if (email === undefined) return undefined;
  const at = email.lastIndexOf("@");
  return at === -1 ? email : email.slice(0, at);
}

function contextWords(context: PasswordContext): string[] {
  return [emailLocalPart(context.email), context.givenName, context.familyName]
    .filter((word) => word !== undefined)
    .map(canonical)
    .filter((word) => [...word].length >= CONTEXT_WORD_MIN_CHARS);
}

function lengthProblem(lengthChars: number, context: PasswordContext): string | undefined {
  const minimumChars = context.mfaEnabled ? PASSWORD_MIN_WITH_MFA : PASSWORD_MIN_SINGLE_FACTOR;
  if (lengthChars < minimumChars) {
    return context.mfaEnabled
      ? `The password must have at least ${minimumChars} characters.`
      : `Without a second factor the password must have at least ${minimumChars} characters.`;
  }
  if (lengthChars > PASSWORD_LENGTH_MAX) {
    return `The password must have at most ${PASSWORD_LENGTH_MAX} characters.`;
  }
  return undefined;
}

/** undefined when acceptable, else a short human-readable reason (never echoing the password). */
export function passwordProblem(password: string, context: PasswordContext): string | undefined {
  // Counted before lower-casing, which can change the count (U+0130 becomes two code points).
  const lengthChars = [...password.normalize("NFKC")].length;
  const tooShortOrLong = lengthProblem(lengthChars, context);
  if (tooShortOrLong !== undefined) return tooShortOrLong;
  const text = canonical(password);
  if (isCommonPassword(text)) return "This password is among the most commonly used or breached ones.";
  if (isOneCharacterRepeated([...text]) || isSimpleSequence(text)) {
    return "The password must not be one repeated character or a simple sequence.";
  }
  if (contextWords(context).some((word) => text.includes(word))) {
    return "The password must not contain your name or the first part of your e-mail address.";
  }
  return undefined;
}

export function assertPasswordAcceptable(password: string, context: PasswordContext): void {
  const problem = passwordProblem(password, context);
  if (problem !== undefined) throw new AppError("password-rejected", problem);
}

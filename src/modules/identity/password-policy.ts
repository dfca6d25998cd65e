import { dictionary } from "@zxcvbn-ts/language-common";
import { AppError } from "../../platform/errors.ts";

/** NIST SP 800-63B rev. 4, sec. 3.1.1.2: lengths, no composition rules, a blocklist. */
export const PASSWORD_LENGTH_MAX = 256;
export const PASSWORD_MIN_SINGLE_FACTOR = 15;
export const PASSWORD_MIN_WITH_MFA = 8;
/** Context words shorter than this are too common inside unrelated passwords to refuse them. */
const CONTEXT_WORD_MIN = 4;

export interface PasswordContext {
  mfaEnabled: boolean;
  email?: string | undefined;
  givenName?: string | undefined;
  familyName?: string | undefined;
}

let common: Set<string> | undefined;

/** zxcvbn-ts's list of the most common passwords from breach corpora, loaded once. */
export function isCommonPassword(password: string): boolean {
  common ??= new Set(dictionary["passwords-common"].map((entry) => entry.toLowerCase()));
  return common.has(password.toLowerCase());
}

/** Length in Unicode code points after NFKC normalisation, as NIST counts it. */
function codePoints(password: string): number {
  return [...password.normalize("NFKC")].length;
}

function isTrivial(password: string): boolean {
  const chars = [...password.toLowerCase()];
  if (new Set(chars).size === 1) return true;
  const codes = chars.map((char) => char.codePointAt(0) ?? 0);
  const ascending = codes.every((code, i) => i === 0 || code - codes[i - 1]! === 1);
  const descending = codes.every((code, i) => i === 0 || codes[i - 1]! - code === 1);
  return ascending || descending;
}

function contextWords(context: PasswordContext): string[] {
  const local = context.email?.split("@")[0];
  return [local, context.givenName, context.familyName]
    .filter((word): word is string => word !== undefined && word.length >= CONTEXT_WORD_MIN)
    .map((word) => word.toLowerCase());
}

/** undefined when acceptable, else why not (never echoing the password). */
export function passwordProblem(password: string, context: PasswordContext): string | undefined {
  const minimum = context.mfaEnabled ? PASSWORD_MIN_WITH_MFA : PASSWORD_MIN_SINGLE_FACTOR;
  const length = codePoints(password);
  if (length < minimum) {
    return context.mfaEnabled
      ? `The password must have at least ${minimum} characters.`
      : `Without a second factor the password must have at least ${minimum} characters.`;
  }
  if (length > PASSWORD_LENGTH_MAX)
    return `The password must have at most ${PASSWORD_LENGTH_MAX} characters.`;
  if (isCommonPassword(password) || isCommonPassword(password.replace(/\s+/g, ""))) {
    return "This password is among the most commonly used or breached ones.";
  }
  if (isTrivial(password)) return "The password must not be a repeated character or a simple sequence.";
  const lower = password.toLowerCase();
  if (contextWords(context).some((word) => lower.includes(word))) {
    return "The password must not contain your name or your e-mail address.";
  }
  return undefined;
}

export function assertPasswordAcceptable(password: string, context: PasswordContext): void {
  const problem = passwordProblem(password, context);
  if (problem) throw new AppError("password-rejected", problem);
}

import { AppError } from "../../platform/errors.ts";

/** RFC 5321 caps a forward path at 256 octets, which leaves 254 for the address itself. */
export const EMAIL_LENGTH_MAX = 254;
const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Letter case never distinguishes two log-ins: addresses are stored and compared lower-cased. */
export function canonicalEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** For addresses being stored; the HTTP schema checks the format, this guards direct callers too. */
export function normalizeEmail(email: string): string {
  const canonical = canonicalEmail(email);
  if (canonical.length > EMAIL_LENGTH_MAX || !EMAIL_SHAPE.test(canonical)) {
    throw new AppError("validation", "email is not a valid e-mail address.");
  }
  return canonical;
}

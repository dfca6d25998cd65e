import { randomBytes } from "node:crypto";
import { type Algorithm, hash, verify } from "@node-rs/argon2";
import { AppError } from "../../platform/errors.ts";

import { PASSWORD_LENGTH_MAX } from "./password-policy.ts";

/**
 * `Algorithm` is an ambient const enum, which `isolatedModules` and type stripping cannot inline,
 * so the member's value is written out: 2 is Argon2id in @node-rs/argon2.
 */
const ARGON2ID = 2 as Algorithm.Argon2id;

/**
 * OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane). Stated explicitly rather than taken from
 * the library's defaults, so that an upgrade cannot weaken new hashes without a visible change.
 */
const ARGON2_OPTIONS = { algorithm: ARGON2ID, memoryCost: 19_456, timeCost: 2, parallelism: 1 };

/** The policy (password-policy.ts) decides what is acceptable; this only bounds the hashing work. */
function assertHashable(password: string): void {
  const length = [...password].length;
  if (length === 0 || length > PASSWORD_LENGTH_MAX) {
    throw new AppError("validation", `password must be 1 to ${PASSWORD_LENGTH_MAX} characters long.`);
  }
}

/**
 * NIST 800-63B: Unicode passwords are normalised (NFKC) before hashing, so the same password typed
 * on devices that compose characters differently still matches.
 */
function normalized(password: string): string {
  return password.normalize("NFKC");
}

/** A strong random password for accounts created without one (the initial admin). */
export function generatePassword(): string {
  return randomBytes(24).toString("base64url");
}

/**
 * Argon2id hashing, plus a dummy hash with the same cost so that a login for an e-mail that has no
 * account spends as long as one with a wrong password: the response time must not tell an
 * attacker which e-mail addresses are registered.
 */
export class PasswordHasher {
  #dummyHash: string | undefined;

  async init(): Promise<void> {
    this.#dummyHash = await hash(randomBytes(32), ARGON2_OPTIONS);
  }

  async hash(password: string): Promise<string> {
    assertHashable(password);
    return hash(normalized(password), ARGON2_OPTIONS);
  }

  /** Verifies against `passwordHash`, or against the dummy hash (always false) when absent. */
  async verify(passwordHash: string | undefined, password: string): Promise<boolean> {
    const target = passwordHash ?? this.#dummyHash;
    if (target === undefined) throw new Error("PasswordHasher.init() was not called");
    // A malformed stored hash throws: that is a broken invariant, not a wrong password.
    const matches = await verify(target, normalized(password));
    return matches && passwordHash !== undefined;
  }
}

import { createHash } from "node:crypto";
import type { Clock } from "../../platform/clock.ts";
import type { RequestContext } from "../../platform/context.ts";
import type { Tx } from "../../platform/db/database.ts";
import { AppError } from "../../platform/errors.ts";
import type { FactorsRepository } from "./factors.repository.ts";
import type { SubjectRef } from "./identity.repository.ts";
import type { Factor } from "./identity.tables.ts";
import type { SecurityEvents } from "./security-events.ts";

export interface LockoutPolicy {
  attemptsMax: number;
  durationS: number;
}

export interface FailureOutcome {
  attemptsRemaining: number;
  locked: boolean;
  /** When `locked`: the end of the lock. */
  lockedUntil?: Date | undefined;
}

/** The lock-out key of a subject. */
export function subjectKey(subject: SubjectRef): string {
  return `${subject.type}:${subject.id}`;
}

/** The key for a password tried against an e-mail address with no account: counted all the same. */
export function unknownEmailKey(canonicalEmail: string): string {
  return `email:${createHash("sha256").update(canonicalEmail).digest("hex")}`;
}

/**
 * PSD2 RTS art. 4(3)(b): a factor locks after N consecutive failures (5 by default) for a while,
 * or until staff unlock it. One attempt before the lock the subject is warned. Unknown e-mail
 * addresses are counted and locked exactly like known ones, so the answers reveal nothing.
 */
export class FactorLockout {
  readonly #repository: FactorsRepository;
  readonly #clock: Clock;
  readonly #policy: LockoutPolicy;
  readonly #security: SecurityEvents;

  constructor(options: {
    repository: FactorsRepository;
    clock: Clock;
    policy: LockoutPolicy;
    security: SecurityEvents;
  }) {
    this.#repository = options.repository;
    this.#clock = options.clock;
    this.#policy = options.policy;
    this.#security = options.security;
  }

  /** The time the lock ends, or undefined when the factor may be tried; an expired lock is lifted. */
  async lockedUntil(tx: Tx, key: string, factor: Factor): Promise<Date | undefined> {
    const row = await this.#repository.failures(tx, key, factor);
    if (!row?.locked_until) return undefined;
    if (row.locked_until > this.#clock.now()) return row.locked_until;
    await this.#repository.clearFailures(tx, key, factor);
    return undefined;
  }

  async assertUnlocked(tx: Tx, key: string, factor: Factor): Promise<void> {
    const until = await this.lockedUntil(tx, key, factor);
    if (until) throw lockedError(until);
  }

  async fail(
    tx: Tx,
    context: RequestContext,
    input: { key: string; factor: Factor; subject: SubjectRef | undefined },
  ): Promise<FailureOutcome> {
    const now = this.#clock.now();
    const row = await this.#repository.addFailure(tx, input.key, input.factor, now);
    const attemptsRemaining = Math.max(0, this.#policy.attemptsMax - row.failed_count);
    const details = { factor: input.factor, attemptsRemaining };
    if (attemptsRemaining === 0) {
      const until = new Date(now.getTime() + this.#policy.durationS * 1000);
      await this.#repository.lock(tx, input.key, input.factor, until);
      if (input.subject) {
        await this.#security.record(tx, context, { kind: "factor_locked", subject: input.subject, details });
      }
      return { attemptsRemaining, locked: true, lockedUntil: until };
    }
    if (attemptsRemaining === 1 && input.subject) {
      await this.#security.record(tx, context, { kind: "lockout_warning", subject: input.subject, details });
    }
    return { attemptsRemaining, locked: false };
  }

  async succeed(tx: Tx, key: string, factor: Factor): Promise<void> {
    await this.#repository.clearFailures(tx, key, factor);
  }

  /** Staff unlock: clears every factor's counter and lock. True when anything was locked or counted. */
  async unlock(tx: Tx, context: RequestContext, subject: SubjectRef): Promise<boolean> {
    const cleared = await this.#repository.clearFailures(tx, subjectKey(subject));
    if (cleared > 0) await this.#security.record(tx, context, { kind: "factor_unlocked", subject });
    return cleared > 0;
  }

  async recentFailures(tx: Tx, subject: SubjectRef): Promise<number> {
    return this.#repository.totalFailures(tx, subjectKey(subject));
  }
}

/** The answer to a failed second factor: how many attempts are left, or the lock that now holds. */
export function factorRejected(outcome: FailureOutcome): AppError {
  if (outcome.locked && outcome.lockedUntil) return lockedError(outcome.lockedUntil);
  return new AppError("factor-rejected", "The code or passkey was not accepted.", {
    attemptsRemaining: outcome.attemptsRemaining,
  });
}

export function lockedError(until: Date): AppError {
  return new AppError("factor-locked", "Too many failed attempts. Try again later or contact the bank.", {
    lockedUntil: until.toISOString(),
  });
}

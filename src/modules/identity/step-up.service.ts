import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Config } from "../../config.ts";
import type { RequestContext } from "../../platform/context.ts";
import { inTransaction, type Tx } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { AppError } from "../../platform/errors.ts";
import { requestHash } from "../../platform/idempotency.ts";
import type { StepUpGate, StepUpOperation, TransferForStepUp } from "../../platform/step-up.ts";
import type { ChallengeRepository } from "./challenge.repository.ts";
import type { SubjectRef } from "./identity.repository.ts";
import type { ChallengeRow } from "./identity.tables.ts";
import { factorRejected } from "./lockout.ts";
import { type FactorAnswer, MfaService } from "./mfa.service.ts";
import type { SecurityEvents } from "./security-events.ts";

export type Operation = StepUpOperation;
export type TransferAssessment = TransferForStepUp;

export interface StepUpServiceOptions extends Pick<ServiceDependencies, "db" | "ids" | "clock"> {
  challenges: ChallengeRepository;
  mfa: MfaService;
  security: SecurityEvents;
  auth: Config["auth"];
}

const PROOF_SEPARATOR = ".";

/**
 * Step-up authentication with dynamic linking. A risky operation without a proof answers
 * 401 step-up-required with a challenge bound to the operation; the customer answers it with a
 * TOTP code or a passkey and gets a single-use proof, and retries the operation with the proof in
 * `X-Step-Up-Proof`. The proof is checked against the operation as it is retried.
 */
export class StepUpService implements StepUpGate {
  readonly #options: StepUpServiceOptions;

  constructor(options: StepUpServiceOptions) {
    this.#options = options;
  }

  appliesTo(context: RequestContext): boolean {
    return this.#options.auth.stepUp.enabled && context.actor.type !== "system";
  }

  /** Demands a step-up for `operation` unless `proof` approves exactly it. Consumes the proof. */
  async require(context: RequestContext, operation: Operation, proof: string | undefined): Promise<void> {
    if (!this.#options.auth.stepUp.enabled) return;
    if (proof !== undefined) {
      await inTransaction(this.#options.db, (tx) => this.#consume(tx, context, operation, proof));
      return;
    }
    await this.#challenge(context, operation);
  }

  /** A transfer: exempt (own account, known payee under the thresholds) or a step-up as above. */
  async authorizeTransfer(
    context: RequestContext,
    transfer: TransferAssessment,
    proof: string | undefined,
  ): Promise<void> {
    const { db, challenges } = this.#options;
    // System-initiated payments (standing orders, the demo seed) were authorised when set up.
    if (!this.appliesTo(context) || transfer.ownAccount) return;
    const operation: Operation = {
      type: "transfer",
      fromAccountId: transfer.fromAccountId,
      payee: transfer.payee,
      amount: transfer.amount,
      currency: transfer.currency,
    };
    if (proof !== undefined) {
      await inTransaction(db, async (tx) => {
        await this.#consume(tx, context, operation, proof);
        await challenges.addKnownPayee(tx, transfer.customerId, transfer.payee, this.#options.clock.now());
      });
      return;
    }
    const exempt = await inTransaction(db, (tx) => this.#exempt(tx, transfer));
    if (!exempt) await this.#challenge(context, operation);
  }

  /** Answers a step-up challenge; returns the single-use proof for the retried operation. */
  async approve(
    context: RequestContext,
    challengeId: string,
    answer: FactorAnswer,
  ): Promise<{ proof: string; expiresAt: Date }> {
    const { db, mfa, challenges, clock, security } = this.#options;
    const subject = callerSubject(context);
    const outcome = await inTransaction(db, async (tx) => {
      const challenge = await this.#liveChallenge(tx, context, challengeId);
      if (challenge.approved_at)
        throw new AppError("challenge-invalid", "This challenge was already answered.");
      const verdict = await mfa.verifyAnswer(tx, context, {
        subject,
        answer,
        webauthnChallenge: challenge.webauthn_challenge,
      });
      if (!verdict.ok) {
        await security.record(tx, context, { kind: "step_up_failed", subject, details: { challengeId } });
        return verdict;
      }
      const secret = randomBytes(32).toString("base64url");
      await challenges.approve(tx, challenge.id, clock.now(), hashProof(secret));
      if (subject.type === "customer") await challenges.resetSca(tx, subject.id, clock.now());
      await security.record(tx, context, {
        kind: "step_up_succeeded",
        subject,
        sessionId: challenge.session_id ?? undefined,
        details: { challengeId, method: verdict.method },
      });
      return {
        ok: true as const,
        proof: `${challenge.id}${PROOF_SEPARATOR}${secret}`,
        expiresAt: challenge.expires_at,
      };
    });
    if (!outcome.ok) throw factorRejected(outcome);
    return { proof: outcome.proof, expiresAt: outcome.expiresAt };
  }

  /** PSD2 RTS art. 16: low value, and few or small enough since the last strong authentication. */
  async #exempt(tx: Tx, transfer: TransferAssessment): Promise<boolean> {
    const { challenges } = this.#options;
    const policy = this.#options.auth.stepUp;
    if (!(await challenges.isKnownPayee(tx, transfer.customerId, transfer.payee))) return false;
    if (transfer.currency !== policy.currency) return false;
    if (transfer.amountMinor > BigInt(policy.transferAboveMinor)) return false;
    // Between the low-value limit and the step-up threshold the bank's risk analysis exempts it.
    if (transfer.amountMinor > BigInt(policy.exemptSingleMaxMinor)) return true;
    const state = await challenges.lockScaState(tx, transfer.customerId);
    const sum = BigInt(state.exempt_sum_minor) + transfer.amountMinor;
    if (state.exempt_count + 1 > policy.exemptCountMax) return false;
    if (sum > BigInt(policy.exemptCumulativeMaxMinor)) return false;
    await challenges.addExemptPayment(tx, transfer.customerId, transfer.amountMinor);
    return true;
  }

  async #challenge(context: RequestContext, operation: Operation): Promise<never> {
    const { db, mfa, challenges, ids, clock, auth, security } = this.#options;
    const subject = callerSubject(context);
    const factors = await mfa.available(db, subject);
    const names = MfaService.names(factors);
    if (names.length === 0) {
      throw new AppError(
        "step-up-required",
        "Enrol an authenticator app or a passkey to approve this operation.",
        {
          challengeId: null,
          factors: [],
          operation,
        },
      );
    }
    const passkeyOptions =
      factors.passkeys.length > 0 ? await mfa.passkeyRequestOptions(factors.passkeys) : undefined;
    const now = clock.now();
    const row: ChallengeRow = {
      id: ids.next("chl"),
      purpose: "step_up",
      subject_type: subject.type,
      subject_id: subject.id,
      session_id: sessionOf(context),
      webauthn_challenge: passkeyOptions?.challenge ?? null,
      operation_hash: operationHash(subject, operation),
      operation: JSON.stringify(operation),
      login: null,
      created_at: now,
      expires_at: new Date(now.getTime() + auth.challengeTtlS * 1000),
      approved_at: null,
      proof_hash: null,
      consumed_at: null,
    };
    await inTransaction(db, async (tx) => {
      await challenges.insert(tx, row);
      await security.record(tx, context, {
        kind: "step_up_required",
        subject,
        sessionId: row.session_id ?? undefined,
        details: { challengeId: row.id, operation: operation.type },
      });
    });
    throw new AppError(
      "step-up-required",
      "Approve this operation with your authenticator app or a passkey.",
      {
        challengeId: row.id,
        factors: names,
        expiresAt: row.expires_at.toISOString(),
        operation,
        ...(passkeyOptions ? { passkeyOptions } : {}),
      },
    );
  }

  async #consume(tx: Tx, context: RequestContext, operation: Operation, proof: string): Promise<void> {
    const { challenges, clock } = this.#options;
    const [challengeId, secret] = proof.split(PROOF_SEPARATOR);
    if (!challengeId || !secret) throw new AppError("challenge-invalid", "X-Step-Up-Proof is malformed.");
    const challenge = await this.#liveChallenge(tx, context, challengeId);
    const subject = callerSubject(context);
    const matches =
      challenge.approved_at !== null &&
      challenge.proof_hash !== null &&
      safeEqual(challenge.proof_hash, hashProof(secret)) &&
      challenge.operation_hash === operationHash(subject, operation);
    if (!matches) throw new AppError("challenge-invalid", "The proof does not approve this operation.");
    await challenges.consume(tx, challenge.id, clock.now());
  }

  /** The caller's own step-up challenge, in this session, neither expired nor used. */
  async #liveChallenge(tx: Tx, context: RequestContext, challengeId: string): Promise<ChallengeRow> {
    const challenge = await this.#options.challenges.lock(tx, challengeId);
    const subject = callerSubject(context);
    const valid =
      challenge?.purpose === "step_up" &&
      challenge.subject_type === subject.type &&
      challenge.subject_id === subject.id &&
      challenge.session_id === sessionOf(context) &&
      challenge.consumed_at === null &&
      challenge.expires_at > this.#options.clock.now();
    if (!valid) throw new AppError("challenge-invalid");
    return challenge;
  }
}

export function callerSubject(context: RequestContext): SubjectRef {
  const actor = context.actor;
  if (actor.type !== "customer" && actor.type !== "staff") throw new AppError("unauthorized");
  return { type: actor.type, id: actor.id };
}

/** The session of a signed-in caller. */
export function sessionOf(context: RequestContext): string {
  const actor = context.actor;
  if (actor.type !== "customer" && actor.type !== "staff") throw new AppError("unauthorized");
  return actor.sessionId;
}

/** The subject is part of the hash: one customer's approval can never match another's operation. */
export function operationHash(subject: SubjectRef, operation: Operation): string {
  return requestHash({ subject: `${subject.type}:${subject.id}`, operation });
}

function hashProof(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

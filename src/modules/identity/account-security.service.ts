import type { RegistrationResponseJSON } from "@simplewebauthn/server";
import type { Config } from "../../config.ts";
import type { RequestContext } from "../../platform/context.ts";
import { inTransaction, isUniqueViolation, type Tx } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { AppError } from "../../platform/errors.ts";
import type { CustomerService } from "../customers/index.ts";
import type { ChallengeRepository } from "./challenge.repository.ts";
import { normalizeEmail } from "./email.ts";
import type { IdentityRepository, SubjectRef } from "./identity.repository.ts";
import { factorRejected } from "./lockout.ts";
import { emptyChallenge } from "./login.service.ts";
import { MfaService } from "./mfa.service.ts";
import type { PasswordHasher } from "./password.ts";
import { assertPasswordAcceptable } from "./password-policy.ts";
import type { SecurityEvents } from "./security-events.ts";
import type { SessionService } from "./session.service.ts";
import { callerSubject, type StepUpService, sessionOf } from "./step-up.service.ts";

export interface AccountSecurityOptions extends ServiceDependencies {
  customers: CustomerService;
  auth: Config["auth"];
  repository: IdentityRepository;
  challenges: ChallengeRepository;
  passwords: PasswordHasher;
  mfa: MfaService;
  stepUp: StepUpService;
  security: SecurityEvents;
  sessions: SessionService;
}

/**
 * What a signed-in customer changes about how they sign in: password, e-mail, authenticator app,
 * recovery codes and passkeys. Every change after the first factor needs step-up, and each one is
 * recorded as a credential change (it raises the anomaly score for a day).
 */
export class AccountSecurityService {
  readonly #options: AccountSecurityOptions;
  readonly #repository: IdentityRepository;
  readonly #challenges: ChallengeRepository;
  readonly #passwords: PasswordHasher;
  readonly #mfa: MfaService;
  readonly #stepUp: StepUpService;
  readonly #security: SecurityEvents;
  readonly #sessions: SessionService;

  constructor(options: AccountSecurityOptions) {
    this.#options = options;
    this.#repository = options.repository;
    this.#challenges = options.challenges;
    this.#passwords = options.passwords;
    this.#mfa = options.mfa;
    this.#stepUp = options.stepUp;
    this.#security = options.security;
    this.#sessions = options.sessions;
  }

  // Credentials.

  /** Step-up, the current password, the policy; then every other session of the subject ends. */
  async changePassword(
    context: RequestContext,
    input: { currentPassword: string; newPassword: string },
    proof: string | undefined,
  ): Promise<void> {
    const subject = callerSubject(context);
    if (subject.type !== "customer") throw new AppError("forbidden");
    await this.#stepUp.require(context, { type: "change_password" }, proof);
    const credential = await inTransaction(this.#options.db, (tx) =>
      this.#repository.credentialById(tx, subject.id),
    );
    if (!credential || !(await this.#passwords.verify(credential.password_hash, input.currentPassword))) {
      throw new AppError("validation", "The current password is not correct.");
    }
    const mfaEnabled = MfaService.names(await this.#mfa.available(this.#options.db, subject)).length > 0;
    assertPasswordAcceptable(input.newPassword, { mfaEnabled, email: credential.email });
    const passwordHash = await this.#passwords.hash(input.newPassword);
    const revoked = await inTransaction(this.#options.db, async (tx) => {
      await this.#repository.updateCredential(
        tx,
        subject.id,
        { password_hash: passwordHash },
        this.#options.clock.now(),
      );
      await this.#security.record(tx, context, { kind: "password_changed", subject });
      return this.#sessions.revokeAll(tx, context, subject, "password_changed", sessionOf(context));
    });
    await this.#sessions.denyList(revoked);
  }

  async changeEmail(context: RequestContext, newEmail: string, proof: string | undefined): Promise<void> {
    const subject = callerSubject(context);
    if (subject.type !== "customer") throw new AppError("forbidden");
    const email = normalizeEmail(newEmail);
    await this.#stepUp.require(context, { type: "change_email", email }, proof);
    try {
      await inTransaction(this.#options.db, async (tx) => {
        await this.#repository.updateCredential(tx, subject.id, { email }, this.#options.clock.now());
        await this.#options.customers.changeEmail(tx, context, subject.id, email);
        await this.#security.record(tx, context, { kind: "email_changed", subject });
      });
    } catch (error) {
      if (isUniqueViolation(error, "identity_credentials_email_key")) {
        throw new AppError("email-taken", "This e-mail address is already registered.");
      }
      throw error;
    }
  }

  // Second factors.

  async mfaStatus(context: RequestContext) {
    const subject = callerSubject(context);
    const factors = await this.#mfa.available(this.#options.db, subject);
    return {
      totp: factors.totp,
      passkeys: factors.passkeys.length,
      recoveryCodesRemaining: await this.#mfa.recoveryCodesRemaining(this.#options.db, subject),
    };
  }

  /** The first factor needs no step-up (there is nothing to step up with); any later change does. */
  async startTotp(context: RequestContext, proof: string | undefined) {
    const subject = callerSubject(context);
    await this.#requireIfEnrolled(context, subject, { type: "mfa_change", action: "totp_enrol" }, proof);
    // The label the authenticator app shows next to the code.
    const label =
      subject.type === "customer" ? (await this.#options.customers.get(subject.id))?.email : undefined;
    return inTransaction(this.#options.db, (tx) => this.#mfa.startTotp(tx, subject, label ?? subject.id));
  }

  async confirmTotp(context: RequestContext, code: string): Promise<{ recoveryCodes: string[] }> {
    const subject = callerSubject(context);
    const outcome = await inTransaction(this.#options.db, async (tx) => {
      const result = await this.#mfa.confirmTotp(tx, context, subject, code);
      if (result.ok) await this.#repository.markCredentialChanged(tx, subject, this.#options.clock.now());
      return result;
    });
    if (!outcome.ok) throw factorRejected(outcome);
    return { recoveryCodes: outcome.recoveryCodes };
  }

  async removeTotp(context: RequestContext, proof: string | undefined): Promise<void> {
    const subject = callerSubject(context);
    if (subject.type === "staff") throw new AppError("forbidden", "Staff must keep their authenticator app.");
    await this.#stepUp.require(context, { type: "mfa_change", action: "totp_remove" }, proof);
    await this.#inChange(subject, (tx) => this.#mfa.removeTotp(tx, context, subject));
  }

  async regenerateRecoveryCodes(context: RequestContext, proof: string | undefined) {
    const subject = callerSubject(context);
    await this.#stepUp.require(context, { type: "mfa_change", action: "recovery_codes" }, proof);
    return {
      recoveryCodes: await this.#inChange(subject, (tx) =>
        this.#mfa.regenerateRecoveryCodes(tx, context, subject),
      ),
    };
  }

  async passkeyRegistrationOptions(context: RequestContext, proof: string | undefined) {
    const subject = callerSubject(context);
    if (subject.type !== "customer") throw new AppError("forbidden");
    await this.#requireIfEnrolled(
      context,
      subject,
      { type: "mfa_change", action: "passkey_register" },
      proof,
    );
    const profile = await this.#options.customers.get(subject.id);
    if (!profile) throw new AppError("not-found");
    const { ids, clock, auth, db } = this.#options;
    return inTransaction(db, async (tx) => {
      const options = await this.#mfa.passkeyCreationOptions(tx, subject, {
        name: profile.email,
        displayName: `${profile.givenName} ${profile.familyName}`,
      });
      const row = emptyChallenge({
        id: ids.next("chl"),
        purpose: "passkey_registration",
        now: clock.now(),
        ttlS: auth.challengeTtlS,
      });
      row.subject_type = subject.type;
      row.subject_id = subject.id;
      row.session_id = sessionOf(context);
      row.webauthn_challenge = options.challenge;
      await this.#challenges.insert(tx, row);
      return { challengeId: row.id, expiresAt: row.expires_at.toISOString(), options };
    });
  }

  async registerPasskey(
    context: RequestContext,
    input: { challengeId: string; response: RegistrationResponseJSON; name?: string | undefined },
  ) {
    const subject = callerSubject(context);
    const { clock } = this.#options;
    return this.#inChange(subject, async (tx) => {
      const challenge = await this.#challenges.lock(tx, input.challengeId);
      const valid =
        challenge?.purpose === "passkey_registration" &&
        challenge.subject_id === subject.id &&
        challenge.session_id === sessionOf(context) &&
        challenge.consumed_at === null &&
        challenge.expires_at > clock.now() &&
        challenge.webauthn_challenge !== null;
      if (!valid || !challenge?.webauthn_challenge) throw new AppError("challenge-invalid");
      await this.#challenges.consume(tx, challenge.id, clock.now());
      return this.#mfa.registerPasskey(tx, context, {
        subject,
        expectedChallenge: challenge.webauthn_challenge,
        response: input.response,
        name: input.name ?? "Passkey",
      });
    });
  }

  async listPasskeys(context: RequestContext) {
    return this.#mfa.listPasskeys(this.#options.db, callerSubject(context));
  }

  async removePasskey(context: RequestContext, passkeyId: string, proof: string | undefined): Promise<void> {
    const subject = callerSubject(context);
    // Ownership before the step-up: someone else's passkey id is simply not found.
    const owned = (await this.#mfa.listPasskeys(this.#options.db, subject)).some((p) => p.id === passkeyId);
    if (!owned) throw new AppError("not-found", "No such passkey.");
    await this.#stepUp.require(
      context,
      { type: "mfa_change", action: "passkey_remove", target: passkeyId },
      proof,
    );
    await this.#inChange(subject, (tx) => this.#mfa.removePasskey(tx, context, subject, passkeyId));
  }

  async #requireIfEnrolled(
    context: RequestContext,
    subject: SubjectRef,
    operation: Parameters<StepUpService["require"]>[1],
    proof: string | undefined,
  ) {
    const enrolled = MfaService.names(await this.#mfa.available(this.#options.db, subject)).length > 0;
    if (enrolled) await this.#stepUp.require(context, operation, proof);
  }

  /** A change of second factors, recorded as a credential change for the anomaly score. */
  async #inChange<T>(subject: SubjectRef, work: (tx: Tx) => Promise<T>): Promise<T> {
    return inTransaction(this.#options.db, async (tx) => {
      const result = await work(tx);
      await this.#repository.markCredentialChanged(tx, subject, this.#options.clock.now());
      return result;
    });
  }
}

import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from "@simplewebauthn/server";
import type { Config } from "../../config.ts";
import type { RequestContext } from "../../platform/context.ts";
import type { Db, Tx } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { AppError } from "../../platform/errors.ts";
import type { FactorsRepository } from "./factors.repository.ts";
import type { SubjectRef } from "./identity.repository.ts";
import type { PasskeyRow } from "./identity.tables.ts";
import { type FactorLockout, type FailureOutcome, subjectKey } from "./lockout.ts";
import { hashRecoveryCode, looksLikeRecoveryCode, newRecoveryCodes } from "./recovery-codes.ts";
import type { SecurityEvents } from "./security-events.ts";
import { newTotpSecret, totpUri, verifyTotp } from "./totp.ts";

/** An answer to a challenge: exactly one factor. */
export interface FactorAnswer {
  totp?: string | undefined;
  recoveryCode?: string | undefined;
  passkey?: AuthenticationResponseJSON | undefined;
}

export type FactorMethod = "totp" | "recovery_code" | "passkey";

export type AnswerOutcome =
  | { ok: true; method: FactorMethod; subject: SubjectRef }
  | ({ ok: false } & FailureOutcome);

export interface AvailableFactors {
  totp: boolean;
  passkeys: PasskeyRow[];
}

export interface MfaServiceOptions extends Pick<ServiceDependencies, "db" | "ids" | "clock"> {
  repository: FactorsRepository;
  lockout: FactorLockout;
  security: SecurityEvents;
  auth: Config["auth"];
}

export interface PasskeyDto {
  id: string;
  name: string;
  deviceType: string;
  backedUp: boolean;
  createdAt: string;
  lastUsedAt: string | null;
}

/**
 * Second factors: TOTP with single-use recovery codes, and passkeys (WebAuthn). Verifies answers
 * to challenges with the lock-out of each factor; the challenge itself is the caller's business.
 */
export class MfaService {
  readonly #options: MfaServiceOptions;

  constructor(options: MfaServiceOptions) {
    this.#options = options;
  }

  async available(tx: Tx | Db, subject: SubjectRef): Promise<AvailableFactors> {
    const { repository } = this.#options;
    const totp = await repository.totp(tx, subject);
    return { totp: totp?.status === "active", passkeys: await repository.passkeys(tx, subject) };
  }

  static names(factors: AvailableFactors): Array<"totp" | "passkey"> {
    const names: Array<"totp" | "passkey"> = [];
    if (factors.totp) names.push("totp");
    if (factors.passkeys.length > 0) names.push("passkey");
    return names;
  }

  /** WebAuthn request options for a challenge; no allowed credentials = any passkey (passkey-only login). */
  async passkeyRequestOptions(passkeys: PasskeyRow[]): Promise<PublicKeyCredentialRequestOptionsJSON> {
    return generateAuthenticationOptions({
      rpID: this.#options.auth.webauthn.rpId,
      userVerification: "required",
      timeout: this.#options.auth.challengeTtlS * 1000,
      allowCredentials: passkeys.map((passkey) => ({
        id: passkey.credential_id,
        transports: JSON.parse(passkey.transports) as string[],
      })),
    });
  }

  // TOTP enrolment.

  async startTotp(
    tx: Tx,
    subject: SubjectRef,
    label: string,
  ): Promise<{ secret: string; otpauthUri: string }> {
    const { repository, clock, auth } = this.#options;
    const existing = await repository.totp(tx, subject, { lock: true });
    if (existing?.status === "active") {
      throw new AppError("conflict", "An authenticator app is already enrolled; remove it first.");
    }
    const secret = newTotpSecret();
    await repository.upsertPendingTotp(tx, {
      subject_type: subject.type,
      subject_id: subject.id,
      secret,
      status: "pending",
      created_at: clock.now(),
      confirmed_at: null,
      last_used_step: null,
    });
    return { secret, otpauthUri: totpUri({ issuer: auth.totpIssuer, label, secret }) };
  }

  /**
   * The first good code activates the authenticator and returns fresh recovery codes, once. A
   * wrong code is returned, not thrown, so that the caller commits its count towards the lock-out.
   */
  async confirmTotp(
    tx: Tx,
    context: RequestContext,
    subject: SubjectRef,
    code: string,
  ): Promise<
    { ok: true; recoveryCodes: string[] } | { ok: false; attemptsRemaining: number; locked: boolean }
  > {
    const { repository, clock, lockout, security } = this.#options;
    const key = subjectKey(subject);
    await lockout.assertUnlocked(tx, key, "totp");
    const factor = await repository.totp(tx, subject, { lock: true });
    if (factor?.status !== "pending") throw new AppError("conflict", "There is no enrolment to confirm.");
    const check = await verifyTotp({ secret: factor.secret, code, at: clock.now(), lastUsedStep: null });
    if (!check.ok)
      return { ok: false, ...(await lockout.fail(tx, context, { key, factor: "totp", subject })) };
    await repository.activateTotp(tx, subject, clock.now(), check.step);
    await lockout.succeed(tx, key, "totp");
    const codes = await this.#replaceRecoveryCodes(tx, subject);
    await security.record(tx, context, { kind: "mfa_enrolled", subject, details: { factor: "totp" } });
    return { ok: true, recoveryCodes: codes };
  }

  async removeTotp(tx: Tx, context: RequestContext, subject: SubjectRef): Promise<void> {
    const { repository, security } = this.#options;
    if (!(await repository.deleteTotp(tx, subject))) throw new AppError("not-found", "No authenticator app.");
    const remaining = await this.available(tx, subject);
    // Recovery codes only make sense next to an authenticator app or a passkey.
    if (MfaService.names(remaining).length === 0) await repository.deleteRecoveryCodes(tx, subject);
    await security.record(tx, context, { kind: "mfa_removed", subject, details: { factor: "totp" } });
  }

  async regenerateRecoveryCodes(tx: Tx, context: RequestContext, subject: SubjectRef): Promise<string[]> {
    const factors = await this.available(tx, subject);
    if (MfaService.names(factors).length === 0) {
      throw new AppError("conflict", "Enrol an authenticator app or a passkey first.");
    }
    const codes = await this.#replaceRecoveryCodes(tx, subject);
    await this.#options.security.record(tx, context, { kind: "recovery_codes_generated", subject });
    return codes;
  }

  async recoveryCodesRemaining(db: Db, subject: SubjectRef): Promise<number> {
    return this.#options.repository.unusedRecoveryCodes(db, subject);
  }

  // Passkey registration.

  async passkeyCreationOptions(
    tx: Tx,
    subject: SubjectRef,
    user: { name: string; displayName: string },
  ): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const { auth, repository } = this.#options;
    const existing = await repository.passkeys(tx, subject);
    return generateRegistrationOptions({
      rpName: auth.webauthn.rpName,
      rpID: auth.webauthn.rpId,
      userName: user.name,
      userDisplayName: user.displayName,
      // The user handle is the subject id: a passkey-only login finds the subject by it.
      userID: new TextEncoder().encode(subject.id),
      attestationType: "none",
      timeout: auth.challengeTtlS * 1000,
      excludeCredentials: existing.map((passkey) => ({
        id: passkey.credential_id,
        transports: JSON.parse(passkey.transports) as string[],
      })),
      authenticatorSelection: { residentKey: "required", userVerification: "required" },
    });
  }

  async registerPasskey(
    tx: Tx,
    context: RequestContext,
    input: {
      subject: SubjectRef;
      expectedChallenge: string;
      response: RegistrationResponseJSON;
      name: string;
    },
  ): Promise<PasskeyDto> {
    const { auth, ids, clock, repository, security } = this.#options;
    const verification = await verifyRegistrationResponse({
      response: input.response,
      expectedChallenge: input.expectedChallenge,
      expectedOrigin: auth.webauthn.origins,
      expectedRPID: auth.webauthn.rpId,
      requireUserVerification: true,
    }).catch((error: unknown) => {
      throw new AppError("validation", `The passkey could not be verified: ${(error as Error).message}`);
    });
    if (!verification.verified) throw new AppError("validation", "The passkey could not be verified.");
    const info = verification.registrationInfo;
    const row: PasskeyRow = {
      id: ids.next("pky"),
      subject_type: input.subject.type,
      subject_id: input.subject.id,
      credential_id: info.credential.id,
      public_key: Buffer.from(info.credential.publicKey).toString("base64url"),
      counter: info.credential.counter,
      transports: JSON.stringify(info.credential.transports ?? []),
      device_type: info.credentialDeviceType,
      backed_up: info.credentialBackedUp,
      name: input.name,
      created_at: clock.now(),
      last_used_at: null,
    };
    await repository.insertPasskey(tx, row);
    await security.record(tx, context, {
      kind: "passkey_registered",
      subject: input.subject,
      details: { passkeyId: row.id },
    });
    return toPasskeyDto(row);
  }

  async listPasskeys(db: Db, subject: SubjectRef): Promise<PasskeyDto[]> {
    return (await this.#options.repository.passkeys(db, subject)).map(toPasskeyDto);
  }

  async removePasskey(
    tx: Tx,
    context: RequestContext,
    subject: SubjectRef,
    passkeyId: string,
  ): Promise<void> {
    const { repository, security } = this.#options;
    if (!(await repository.deletePasskey(tx, subject, passkeyId))) {
      throw new AppError("not-found", "No such passkey.");
    }
    if (MfaService.names(await this.available(tx, subject)).length === 0) {
      await repository.deleteRecoveryCodes(tx, subject);
    }
    await security.record(tx, context, { kind: "passkey_removed", subject, details: { passkeyId } });
  }

  // Answers.

  /**
   * Checks one answer. `subject` is undefined for a passkey-only login, where the passkey names
   * the subject. Failures count towards the factor's lock-out; the caller commits them before it
   * answers the client, which is why failures are returned rather than thrown.
   */
  async verifyAnswer(
    tx: Tx,
    context: RequestContext,
    input: { subject: SubjectRef | undefined; answer: FactorAnswer; webauthnChallenge: string | null },
  ): Promise<AnswerOutcome> {
    const { answer } = input;
    const given = [answer.totp, answer.recoveryCode, answer.passkey].filter((value) => value !== undefined);
    if (given.length !== 1) {
      throw new AppError("validation", "Answer with exactly one of totp, recoveryCode or passkey.");
    }
    if (answer.passkey !== undefined) return this.#verifyPasskey(tx, context, input, answer.passkey);
    if (!input.subject) throw new AppError("validation", "This challenge is answered with a passkey.");
    if (answer.totp !== undefined) return this.#verifyTotp(tx, context, input.subject, answer.totp);
    return this.#verifyRecoveryCode(tx, context, input.subject, answer.recoveryCode ?? "");
  }

  async #verifyTotp(
    tx: Tx,
    context: RequestContext,
    subject: SubjectRef,
    code: string,
  ): Promise<AnswerOutcome> {
    const { repository, clock, lockout } = this.#options;
    const key = subjectKey(subject);
    await lockout.assertUnlocked(tx, key, "totp");
    const factor = await repository.totp(tx, subject, { lock: true });
    if (factor?.status !== "active") throw new AppError("validation", "No authenticator app is enrolled.");
    const lastUsedStep = factor.last_used_step === null ? null : Number(factor.last_used_step);
    const check = await verifyTotp({ secret: factor.secret, code, at: clock.now(), lastUsedStep });
    if (!check.ok)
      return { ok: false, ...(await lockout.fail(tx, context, { key, factor: "totp", subject })) };
    await repository.recordTotpStep(tx, subject, check.step);
    await lockout.succeed(tx, key, "totp");
    return { ok: true, method: "totp", subject };
  }

  /** Recovery codes count against the TOTP factor's lock-out: they stand in for it. */
  async #verifyRecoveryCode(
    tx: Tx,
    context: RequestContext,
    subject: SubjectRef,
    code: string,
  ): Promise<AnswerOutcome> {
    const { repository, clock, lockout, security } = this.#options;
    const key = subjectKey(subject);
    await lockout.assertUnlocked(tx, key, "totp");
    const spent =
      looksLikeRecoveryCode(code) &&
      (await repository.useRecoveryCode(tx, subject, hashRecoveryCode(code), clock.now()));
    if (!spent) return { ok: false, ...(await lockout.fail(tx, context, { key, factor: "totp", subject })) };
    await lockout.succeed(tx, key, "totp");
    const remaining = await repository.unusedRecoveryCodes(tx, subject);
    await security.record(tx, context, { kind: "recovery_code_used", subject, details: { remaining } });
    return { ok: true, method: "recovery_code", subject };
  }

  async #verifyPasskey(
    tx: Tx,
    context: RequestContext,
    input: { subject: SubjectRef | undefined; webauthnChallenge: string | null },
    response: AuthenticationResponseJSON,
  ): Promise<AnswerOutcome> {
    const { repository, clock, lockout, auth } = this.#options;
    if (!input.webauthnChallenge)
      throw new AppError("validation", "This challenge cannot be answered with a passkey.");
    const passkey = await repository.passkeyByCredentialId(tx, String(response.id));
    const owner = passkey && { type: passkey.subject_type, id: passkey.subject_id };
    // A passkey of someone else, or an unknown one, is simply not an answer to this challenge.
    if (!passkey || !owner || (input.subject && input.subject.id !== owner.id)) {
      return { ok: false, attemptsRemaining: auth.lockout.attemptsMax, locked: false };
    }
    const key = subjectKey(owner);
    await lockout.assertUnlocked(tx, key, "passkey");
    const verification = await verifyAuthenticationResponse({
      response,
      expectedChallenge: input.webauthnChallenge,
      expectedOrigin: auth.webauthn.origins,
      expectedRPID: auth.webauthn.rpId,
      requireUserVerification: true,
      credential: {
        id: passkey.credential_id,
        publicKey: new Uint8Array(Buffer.from(passkey.public_key, "base64url")),
        counter: Number(passkey.counter),
        transports: JSON.parse(passkey.transports),
      },
    }).catch(() => ({ verified: false, authenticationInfo: undefined }));
    if (!verification.verified || !verification.authenticationInfo) {
      return { ok: false, ...(await lockout.fail(tx, context, { key, factor: "passkey", subject: owner })) };
    }
    await repository.recordPasskeyUse(
      tx,
      passkey.id,
      verification.authenticationInfo.newCounter,
      clock.now(),
    );
    await lockout.succeed(tx, key, "passkey");
    return { ok: true, method: "passkey", subject: owner };
  }

  async #replaceRecoveryCodes(tx: Tx, subject: SubjectRef): Promise<string[]> {
    const { repository, ids, clock } = this.#options;
    const codes = newRecoveryCodes();
    const rows = codes.map((code) => ({ id: ids.next("rcv"), code_hash: hashRecoveryCode(code) }));
    await repository.replaceRecoveryCodes(tx, subject, rows, clock.now());
    return codes;
  }
}

function toPasskeyDto(row: PasskeyRow): PasskeyDto {
  return {
    id: row.id,
    name: row.name,
    deviceType: row.device_type,
    backedUp: row.backed_up,
    createdAt: row.created_at.toISOString(),
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
  };
}

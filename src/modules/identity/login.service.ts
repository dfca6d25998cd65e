import type { AuthenticationResponseJSON } from "@simplewebauthn/server";
import type { Config } from "../../config.ts";
import type { ClientOrigin, RequestContext } from "../../platform/context.ts";
import { inTransaction, type Tx } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { AppError } from "../../platform/errors.ts";
import type { LoginRiskGate } from "../../platform/fraud.ts";
import { type AnomalyAssessment, assessSignIn, DEFAULT_ANOMALY_POLICY } from "./anomaly.ts";
import type { ChallengeRepository } from "./challenge.repository.ts";
import type { FactorsRepository } from "./factors.repository.ts";
import type { IdentityRepository, SubjectRef } from "./identity.repository.ts";
import type { ChallengeRow, SessionRow, SessionStrength } from "./identity.tables.ts";
import { type FactorLockout, factorRejected } from "./lockout.ts";
import { type FactorAnswer, MfaService } from "./mfa.service.ts";
import type { SecurityEvents } from "./security-events.ts";
import { type IssuedTokens, type SessionService, sessionContext } from "./session.service.ts";
import type { Subject } from "./token.service.ts";

/** What the client reports about its device at login (besides X-Device-Id). */
export interface DeviceReport {
  platform?: string | undefined;
  appVersion?: string | undefined;
}

/** The login a challenge is waiting to finish: it opens exactly this session. */
interface PendingLogin {
  subject: Subject;
  channel: string;
  deviceId: string | null;
  device: DeviceReport;
  /** The TOTP enrolment a staff user must finish on first sign-in. */
  enrolment: boolean;
  anomaly: { score: number; reasons: string[] };
}

export interface LoginServiceOptions extends ServiceDependencies {
  repository: IdentityRepository;
  factors: FactorsRepository;
  challenges: ChallengeRepository;
  sessions: SessionService;
  mfa: MfaService;
  lockout: FactorLockout;
  security: SecurityEvents;
  auth: Config["auth"];
  /** The fraud engine's view of a customer's sign-in (bound by the composition root once built). */
  loginRisk?: (() => LoginRiskGate | undefined) | undefined;
}

/** Sessions looked at for the anomaly history of a subject. */
const HISTORY_SESSIONS = 20;

/**
 * What happens after the password (or instead of it, with a passkey): device trust, the anomaly
 * score, the second factor when it is due, and the session that results. Login challenges are
 * single-use and bound to the channel and device the login started on.
 */
export class LoginService {
  readonly #options: LoginServiceOptions;

  constructor(options: LoginServiceOptions) {
    this.#options = options;
  }

  /**
   * Called once the password is proven. Opens a session when the device is trusted and nothing
   * looks wrong; otherwise throws mfa-required with a challenge (or enrolment for staff).
   */
  async afterPassword(
    context: RequestContext,
    subject: Subject,
    device: DeviceReport,
    priorFailures = 0,
  ): Promise<IssuedTokens> {
    const { db } = this.#options;
    const decision = await inTransaction(db, async (tx) => {
      const assessment = await this.#assess(tx, context, subject, undefined, priorFailures);
      if (assessment.action === "deny") {
        await this.#recordDenied(tx, context, subject, assessment);
        return { kind: "denied" as const };
      }
      const trusted = await this.#isTrustedDevice(tx, subject, context.deviceId);
      const factors = await this.#options.mfa.available(tx, subject);
      const names = MfaService.names(factors);
      const staffWithoutTotp = subject.type === "staff" && !factors.totp;
      if (staffWithoutTotp || ((!trusted || assessment.action === "step_up") && names.length > 0)) {
        return { kind: "challenge" as const, assessment, enrolment: staffWithoutTotp, factors };
      }
      const opened = await this.#open(tx, context, subject, device, {
        strength: "password",
        trusted,
        assessment,
      });
      return { kind: "session" as const, opened };
    });
    if (decision.kind === "denied") throw new AppError("unauthorized", "The sign-in was refused.");
    if (decision.kind === "session") return this.#issue(subject, decision.opened);
    return this.#throwChallenge(context, subject, device, decision);
  }

  /** Finishes a login with the second factor; the device becomes trusted. */
  async complete(context: RequestContext, challengeId: string, answer: FactorAnswer): Promise<IssuedTokens> {
    const { db, mfa, challenges, clock } = this.#options;
    const outcome = await inTransaction(db, async (tx) => {
      const challenge = await this.#liveLoginChallenge(tx, context, challengeId);
      const pending = readJson<PendingLogin>(challenge.login);
      if (pending.enrolment) {
        const confirmed = await mfa.confirmTotp(tx, context, pending.subject, answer.totp ?? "");
        if (!confirmed.ok) return confirmed;
        await challenges.consume(tx, challenge.id, clock.now());
        const opened = await this.#openStrong(tx, context, pending, "mfa");
        return { ok: true as const, opened, pending, recoveryCodes: confirmed.recoveryCodes };
      }
      const verdict = await mfa.verifyAnswer(tx, context, {
        subject: pending.subject,
        answer,
        webauthnChallenge: challenge.webauthn_challenge,
      });
      if (!verdict.ok) return verdict;
      await challenges.consume(tx, challenge.id, clock.now());
      const strength: SessionStrength = verdict.method === "passkey" ? "passkey" : "mfa";
      const opened = await this.#openStrong(tx, context, pending, strength);
      return { ok: true as const, opened, pending, recoveryCodes: undefined };
    });
    if (!outcome.ok) throw factorRejected(outcome);
    const tokens = await this.#issue(outcome.pending.subject, outcome.opened);
    return outcome.recoveryCodes ? { ...tokens, recoveryCodes: outcome.recoveryCodes } : tokens;
  }

  /** WebAuthn options for a passkey-only login: any of the user's passkeys may answer. */
  async passkeyOptions(context: RequestContext) {
    const { db, mfa, ids, clock, auth, challenges } = this.#options;
    const options = await mfa.passkeyRequestOptions([]);
    const now = clock.now();
    const row = emptyChallenge({
      id: ids.next("chl"),
      purpose: "passkey_login",
      now,
      ttlS: auth.challengeTtlS,
      login: JSON.stringify({ channel: context.channel, deviceId: context.deviceId ?? null }),
    });
    row.webauthn_challenge = options.challenge;
    await inTransaction(db, (tx) => challenges.insert(tx, row));
    return { challengeId: row.id, expiresAt: row.expires_at.toISOString(), options };
  }

  /** A passkey alone is strong (possession and the phone's biometrics): the device becomes trusted. */
  async passkeyLogin(
    context: RequestContext,
    challengeId: string,
    response: AuthenticationResponseJSON,
    device: DeviceReport,
  ): Promise<IssuedTokens> {
    const { db, mfa, challenges, clock } = this.#options;
    const outcome = await inTransaction(db, async (tx) => {
      const challenge = await challenges.lock(tx, challengeId);
      const bound = readJson<{ channel?: string; deviceId?: string | null }>(challenge?.login ?? null);
      const valid =
        challenge?.purpose === "passkey_login" &&
        challenge.consumed_at === null &&
        challenge.expires_at > clock.now() &&
        bound.channel === context.channel &&
        (bound.deviceId ?? null) === (context.deviceId ?? null);
      if (!valid || !challenge) throw new AppError("challenge-invalid");
      const verdict = await mfa.verifyAnswer(tx, context, {
        subject: undefined,
        answer: { passkey: response },
        webauthnChallenge: challenge.webauthn_challenge,
      });
      if (!verdict.ok) return verdict;
      await challenges.consume(tx, challenge.id, clock.now());
      const subject = await this.#subjectOf(tx, verdict.subject);
      if (!subject) return { ok: false as const, attemptsRemaining: 0, locked: false };
      const assessment = await this.#assess(tx, context, subject);
      if (assessment.action === "deny") {
        await this.#recordDenied(tx, context, subject, assessment);
        return { ok: false as const, attemptsRemaining: 0, locked: false };
      }
      const pending: PendingLogin = {
        subject,
        channel: context.channel,
        deviceId: context.deviceId ?? null,
        device,
        enrolment: false,
        anomaly: { score: assessment.score, reasons: assessment.reasons },
      };
      return { ok: true as const, subject, opened: await this.#openStrong(tx, context, pending, "passkey") };
    });
    if (!outcome.ok) throw new AppError("unauthorized", "The passkey was not accepted.");
    return this.#issue(outcome.subject, outcome.opened);
  }

  /** Scores a refresh; a deny revokes the session (the caller does), a step-up spends the exemptions. */
  async assessRefresh(tx: Tx, context: RequestContext, subject: Subject, session: SessionRow) {
    const sessionOrigin = { ...context, deviceId: session.device_id ?? undefined };
    const assessment = await this.#assess(tx, sessionOrigin, subject, session.id);
    if (assessment.reasons.length > 0) {
      await this.#options.security.record(tx, sessionOrigin, {
        kind: "anomaly_detected",
        subject,
        sessionId: session.id,
        details: { at: "refresh", ...assessmentDetails(assessment) },
      });
    }
    if (assessment.action === "step_up" && subject.type === "customer") {
      // The next payment cannot ride on the low-value exemption: it needs a strong authentication.
      await this.#options.challenges.exhaustExemptions(tx, subject.id);
    }
    return assessment.action === "deny" ? ("deny" as const) : ("allow" as const);
  }

  async #assess(
    tx: Tx,
    context: RequestContext,
    subject: SubjectRef,
    currentSessionId?: string,
    priorFailures = 0,
  ) {
    const { repository, clock, lockout, auth } = this.#options;
    const now = clock.now();
    const history = await repository.recentSessions(tx, subject, HISTORY_SESSIONS);
    const others = history.filter((row) => row.id !== currentSessionId);
    const located = others.filter((row) => row.latitude !== null && row.longitude !== null);
    const previous = located[0];
    const live = located.filter(
      (row) =>
        row.revoked_at === null &&
        row.expires_at > now &&
        now.getTime() - row.last_seen_at.getTime() <= row.idle_timeout_s * 1000,
    );
    const device = context.deviceId ? await repository.device(tx, subject, context.deviceId) : undefined;
    const origin: ClientOrigin | undefined = context.origin;
    const behaviour =
      subject.type === "customer"
        ? await this.#options.loginRisk?.()?.assessLogin(tx, {
            customerId: subject.id,
            channel: context.channel,
            deviceId: context.deviceId,
            country: origin?.country,
            at: now,
          })
        : undefined;
    const assessment = assessSignIn(
      {
        at: now,
        newDevice: currentSessionId === undefined && !device,
        country: origin?.country,
        knownCountries: [...new Set(others.map((row) => row.country).filter((c): c is string => c !== null))],
        location: origin?.location,
        previous: previous && {
          at: previous.last_seen_at,
          location: { latitude: previous.latitude!, longitude: previous.longitude! },
        },
        concurrentSessions: live.map((row) => ({
          location: { latitude: row.latitude!, longitude: row.longitude! },
        })),
        recentFailures: Math.max(priorFailures, await lockout.recentFailures(tx, subject)),
        credentialChangedAt: await repository.credentialChangedAt(tx, subject),
        behaviourScore: behaviour?.score,
      },
      {
        ...DEFAULT_ANOMALY_POLICY,
        impossibleTravelKmh: auth.anomaly.impossibleTravelKmh,
        concurrentDistanceKm: auth.anomaly.concurrentDistanceKm,
        stepUpScore: auth.anomaly.stepUpScore,
        denyScore: auth.anomaly.denyScore,
      },
    );
    return behaviour && behaviour.reasons.length > 0
      ? { ...assessment, behaviourReasons: behaviour.reasons }
      : assessment;
  }

  async #isTrustedDevice(tx: Tx, subject: SubjectRef, deviceId: string | undefined): Promise<boolean> {
    if (!deviceId) return false;
    const device = await this.#options.repository.device(tx, subject, deviceId);
    return device?.trusted_at != null;
  }

  async #throwChallenge(
    context: RequestContext,
    subject: Subject,
    device: DeviceReport,
    decision: {
      assessment: AnomalyAssessment;
      enrolment: boolean;
      factors: Awaited<ReturnType<MfaService["available"]>>;
    },
  ): Promise<never> {
    const { db, mfa, ids, clock, auth, challenges, security } = this.#options;
    const { assessment, enrolment, factors } = decision;
    const passkeyOptions =
      !enrolment && factors.passkeys.length > 0
        ? await mfa.passkeyRequestOptions(factors.passkeys)
        : undefined;
    const pending: PendingLogin = {
      subject,
      channel: context.channel,
      deviceId: context.deviceId ?? null,
      device,
      enrolment,
      anomaly: { score: assessment.score, reasons: assessment.reasons },
    };
    const row = emptyChallenge({
      id: ids.next("chl"),
      purpose: "login",
      now: clock.now(),
      ttlS: auth.challengeTtlS,
      login: JSON.stringify(pending),
    });
    row.subject_type = subject.type;
    row.subject_id = subject.id;
    row.webauthn_challenge = passkeyOptions?.challenge ?? null;
    const totp = await inTransaction(db, async (tx) => {
      await challenges.insert(tx, row);
      if (assessment.reasons.length > 0) {
        await security.record(tx, context, {
          kind: "anomaly_detected",
          subject,
          details: { at: "login", ...assessmentDetails(assessment) },
        });
      }
      if (!enrolment) return undefined;
      // The label the authenticator app shows: the staff member's e-mail address.
      const user = await this.#options.repository.staffUserById(tx, subject.id);
      return mfa.startTotp(tx, subject, user?.email ?? subject.id);
    });
    const extensions = { challengeId: row.id, expiresAt: row.expires_at.toISOString() };
    if (totp) {
      throw new AppError("mfa-enrolment-required", "Staff sign in with an authenticator app: enrol it now.", {
        ...extensions,
        totp,
      });
    }
    throw new AppError("mfa-required", "Confirm this sign-in with your second factor.", {
      ...extensions,
      factors: MfaService.names(factors),
      ...(passkeyOptions ? { passkeyOptions } : {}),
    });
  }

  async #liveLoginChallenge(tx: Tx, context: RequestContext, challengeId: string): Promise<ChallengeRow> {
    const challenge = await this.#options.challenges.lock(tx, challengeId);
    const pending = challenge?.login ? readJson<PendingLogin>(challenge.login) : undefined;
    const valid =
      challenge?.purpose === "login" &&
      challenge.consumed_at === null &&
      challenge.expires_at > this.#options.clock.now() &&
      pending?.channel === context.channel &&
      pending.deviceId === (context.deviceId ?? null);
    if (!valid || !challenge) throw new AppError("challenge-invalid");
    return challenge;
  }

  async #openStrong(tx: Tx, context: RequestContext, pending: PendingLogin, strength: SessionStrength) {
    if (pending.subject.type === "customer") {
      await this.#options.challenges.resetSca(tx, pending.subject.id, this.#options.clock.now());
    }
    const assessment = {
      score: pending.anomaly.score,
      reasons: pending.anomaly.reasons,
    } as AnomalyAssessment;
    return this.#open(tx, context, pending.subject, pending.device, { strength, trusted: true, assessment });
  }

  /** Opens the session, records the device (trusted after a strong login) and the security events. */
  async #open(
    tx: Tx,
    context: RequestContext,
    subject: Subject,
    device: DeviceReport,
    how: {
      strength: SessionStrength;
      trusted: boolean;
      assessment: Pick<AnomalyAssessment, "score" | "reasons" | "behaviourReasons">;
    },
  ) {
    const { sessions, repository, clock, security } = this.#options;
    const now = clock.now();
    const strong = how.strength !== "password";
    const known = context.deviceId ? await repository.device(tx, subject, context.deviceId) : undefined;
    const opened = await sessions.open(tx, context, subject, {
      strength: how.strength,
      trustedDevice: how.trusted || strong,
      platform: device.platform,
      appVersion: device.appVersion,
    });
    const eventContext = sessionContext(context, subject, opened.session);
    if (context.deviceId) {
      await repository.upsertDevice(tx, {
        subject_type: subject.type,
        subject_id: subject.id,
        device_id: context.deviceId,
        platform: device.platform ?? null,
        app_version: device.appVersion ?? null,
        first_seen_at: now,
        last_seen_at: now,
        trusted_at: strong ? now : null,
      });
    }
    // Without an X-Device-Id there is no device to remember; the anomaly score still counts it new.
    if (!known && context.deviceId) {
      await security.record(tx, eventContext, {
        kind: "new_device",
        subject,
        sessionId: opened.session.id,
        details: { trusted: strong },
      });
    }
    await security.record(tx, eventContext, {
      kind: "login_succeeded",
      subject,
      sessionId: opened.session.id,
      details: {
        strength: how.strength,
        anomalyScore: how.assessment.score,
        reasons: how.assessment.reasons,
        ...(how.assessment.behaviourReasons ? { behaviourReasons: how.assessment.behaviourReasons } : {}),
      },
    });
    return opened;
  }

  async #recordDenied(tx: Tx, context: RequestContext, subject: SubjectRef, assessment: AnomalyAssessment) {
    const details = assessmentDetails(assessment);
    await this.#options.security.record(tx, context, {
      kind: "anomaly_detected",
      subject,
      details: { at: "login", ...details },
    });
    await this.#options.security.record(tx, context, { kind: "login_denied", subject, details });
  }

  async #subjectOf(tx: Tx, ref: SubjectRef): Promise<Subject | undefined> {
    if (ref.type === "customer") return { type: "customer", id: ref.id };
    const user = await this.#options.repository.staffUserById(tx, ref.id);
    if (user?.status !== "active") return undefined;
    return { type: "staff", id: user.id, role: user.role };
  }

  async #issue(
    subject: Subject,
    opened: { session: SessionRow; refreshToken: string },
  ): Promise<IssuedTokens> {
    return this.#options.sessions.issue(subject, opened.session, opened.refreshToken);
  }
}

/** `json` columns come back parsed from PostgreSQL and PGlite; a string is parsed here. */
function readJson<T>(value: unknown): T {
  if (value === null || value === undefined) return {} as T;
  return (typeof value === "string" ? JSON.parse(value) : value) as T;
}

function assessmentDetails(assessment: AnomalyAssessment) {
  return {
    score: assessment.score,
    reasons: assessment.reasons,
    action: assessment.action,
    ...(assessment.travelSpeedKmh === undefined ? {} : { travelSpeedKmh: assessment.travelSpeedKmh }),
    ...(assessment.behaviourReasons ? { behaviourReasons: assessment.behaviourReasons } : {}),
  };
}

export function emptyChallenge(input: {
  id: string;
  purpose: ChallengeRow["purpose"];
  now: Date;
  ttlS: number;
  login?: string;
}): ChallengeRow {
  return {
    id: input.id,
    purpose: input.purpose,
    subject_type: null,
    subject_id: null,
    session_id: null,
    webauthn_challenge: null,
    operation_hash: null,
    operation: null,
    login: input.login ?? null,
    created_at: input.now,
    expires_at: new Date(input.now.getTime() + input.ttlS * 1000),
    approved_at: null,
    proof_hash: null,
    consumed_at: null,
  };
}

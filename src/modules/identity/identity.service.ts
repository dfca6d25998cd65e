import type { AuthenticationResponseJSON } from "@simplewebauthn/server";
import type { Config } from "../../config.ts";
import type { Cache } from "../../platform/cache/cache.ts";
import type { Channel, RequestContext } from "../../platform/context.ts";
import { inTransaction, isUniqueViolation, type Tx } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { AppError } from "../../platform/errors.ts";
import type { LoginRiskGate } from "../../platform/fraud.ts";
import type { Authenticator } from "../../platform/http/auth.ts";
import type { CustomerService } from "../customers/index.ts";
import { AccountSecurityService } from "./account-security.service.ts";
import { ChallengeRepository } from "./challenge.repository.ts";
import { canonicalEmail, normalizeEmail } from "./email.ts";
import { FactorsRepository } from "./factors.repository.ts";
import { IdentityRepository } from "./identity.repository.ts";
import type { SessionRow, SubjectType } from "./identity.tables.ts";
import { FactorLockout, type FailureOutcome, lockedError, subjectKey, unknownEmailKey } from "./lockout.ts";
import { type DeviceReport, LoginService } from "./login.service.ts";
import { type FactorAnswer, MfaService } from "./mfa.service.ts";
import { PasswordHasher } from "./password.ts";
import { assertPasswordAcceptable } from "./password-policy.ts";
import { SecurityEvents } from "./security-events.ts";
import { type IssuedTokens, SessionService } from "./session.service.ts";
import { type NewStaffUser, StaffService, type StaffUser } from "./staff.service.ts";
import { callerSubject, StepUpService, sessionOf } from "./step-up.service.ts";
import { AccessTokenService, type Subject } from "./token.service.ts";

export interface IdentityServiceOptions extends ServiceDependencies {
  cache: Cache;
  customers: CustomerService;
  auth: Config["auth"];
  /** The fraud engine's view of a customer's sign-in, bound once fraud is built (it is built later). */
  loginRisk?: () => LoginRiskGate | undefined;
}

export interface Credentials {
  email: string;
  password: string;
}

export interface NewCustomerRegistration extends Credentials {
  givenName: string;
  familyName: string;
}

/** Expired challenges and idle failure counters are removed after a day. */
const STALE_AFTER_MS = 86_400_000;

/** Staff work from a branch or the contact centre, never from the customer channels. */
export const STAFF_CHANNELS: readonly Channel[] = ["branch", "contact_centre"];

type PasswordCheck =
  | { kind: "ok"; subject: Subject; priorFailures: number }
  | ({ kind: "failed" } & FailureOutcome)
  | { kind: "locked"; until: Date };

/**
 * Identity: registration, login with second factors and passkeys, sessions, step-up, lock-out
 * and the `authenticate` function the HTTP guards use. Every failure to log in looks the same to
 * the caller, whatever the reason, and unknown e-mail addresses are treated like known ones.
 */
export class IdentityService {
  readonly #options: IdentityServiceOptions;
  readonly #repository: IdentityRepository;
  readonly #passwords = new PasswordHasher();
  readonly #tokens: AccessTokenService;
  readonly #security: SecurityEvents;
  readonly #lockout: FactorLockout;
  readonly #challenges = new ChallengeRepository();
  readonly #factors = new FactorsRepository();
  readonly #mfa: MfaService;
  readonly #login: LoginService;
  readonly sessions: SessionService;
  readonly stepUp: StepUpService;
  readonly #staff: StaffService;
  /** Password, e-mail and second-factor changes of a signed-in customer. */
  readonly accountSecurity: AccountSecurityService;

  constructor(options: IdentityServiceOptions) {
    this.#options = options;
    const repository = new IdentityRepository({ db: options.db });
    const factors = this.#factors;
    this.#repository = repository;
    this.#tokens = new AccessTokenService({ repository, clock: options.clock, auth: options.auth });
    this.#security = new SecurityEvents(options);
    const security = this.#security;
    this.#lockout = new FactorLockout({
      repository: factors,
      clock: options.clock,
      policy: options.auth.lockout,
      security,
    });
    this.#mfa = new MfaService({ ...options, repository: factors, lockout: this.#lockout, security });
    this.sessions = new SessionService({
      ...options,
      repository,
      security,
      tokens: this.#tokens,
      currentSubject: (tx, session) => this.#currentSubject(tx, session),
      assessRefresh: (tx, context, subject, session) =>
        this.#login.assessRefresh(tx, context, subject, session),
    });
    this.#login = new LoginService({
      ...options,
      repository,
      factors,
      challenges: this.#challenges,
      sessions: this.sessions,
      mfa: this.#mfa,
      lockout: this.#lockout,
      security,
    });
    this.stepUp = new StepUpService({ ...options, challenges: this.#challenges, mfa: this.#mfa, security });
    this.#staff = new StaffService({ ...options, repository, passwords: this.#passwords });
    this.accountSecurity = new AccountSecurityService({
      ...options,
      repository,
      challenges: this.#challenges,
      passwords: this.#passwords,
      mfa: this.#mfa,
      stepUp: this.stepUp,
      security,
      sessions: this.sessions,
    });
  }

  /** Loads (or creates and shares) the signing key and prepares the dummy password hash. */
  async init(): Promise<void> {
    await this.#tokens.init();
    await this.#passwords.init();
  }

  /** Verifies an access token for one audience; undefined for anything not valid right now. */
  authenticate: Authenticator = async (token, audience) => {
    const claims = await this.#tokens.verify(token, audience);
    if (!claims || !(await this.sessions.isActive(claims.sessionId))) return undefined;
    const { subject, sessionId, channel, deviceId } = claims;
    const actor =
      subject.type === "customer"
        ? { type: "customer" as const, id: subject.id, sessionId }
        : { type: "staff" as const, id: subject.id, sessionId, role: subject.role };
    return { context: { channel, deviceId, actor } };
  };

  /**
   * Housekeeping, run by every node's maintenance loop in bounded batches: expired challenges
   * (kept a day for investigations), and failure counters idle for a day and not locked — a
   * streak of failures that stopped a day ago is no longer "consecutive".
   */
  async prune(limit = 5_000): Promise<number> {
    const { db, clock } = this.#options;
    const now = clock.now();
    const dayAgo = new Date(now.getTime() - STALE_AFTER_MS);
    return inTransaction(db, async (tx) => {
      const challenges = await this.#challenges.deleteExpired(tx, dayAgo, limit);
      return challenges + (await this.#factors.deleteStaleFailures(tx, dayAgo, now, limit));
    });
  }

  // Registration and login.

  /** Customer record and credential in one transaction: neither exists without the other. */
  async registerCustomer(context: RequestContext, input: NewCustomerRegistration) {
    const email = normalizeEmail(input.email);
    const { givenName, familyName } = input;
    // No second factor yet: NIST 800-63B asks 15 characters of a password that stands alone.
    assertPasswordAcceptable(input.password, { mfaEnabled: false, email, givenName, familyName });
    // Hashed before the duplicate check, so a taken address costs the same time as a free one.
    const passwordHash = await this.#passwords.hash(input.password);
    try {
      return await inTransaction(this.#options.db, async (tx) => {
        const customer = await this.#options.customers.create(tx, context, { email, givenName, familyName });
        await this.#repository.insertCredential(tx, {
          customer_id: customer.id,
          email,
          password_hash: passwordHash,
          created_at: this.#options.clock.now(),
          credential_changed_at: null,
        });
        await this.#options.audit.record(tx, context, {
          action: "credential.created",
          subjectId: customer.id,
        });
        return { customerId: customer.id };
      });
    } catch (error) {
      if (isUniqueViolation(error, "identity_credentials_email_key")) {
        throw new AppError("email-taken", "This e-mail address is already registered.");
      }
      throw error;
    }
  }

  /** Password first; then the device, the anomaly score and, when due, the second factor. */
  async login(
    context: RequestContext,
    credentials: Credentials,
    device: DeviceReport = {},
  ): Promise<IssuedTokens> {
    const email = canonicalEmail(credentials.email);
    const credential = await this.#repository.credentialByEmail(email);
    const subject: Subject | undefined = credential && { type: "customer", id: credential.customer_id };
    const key = subject ? subjectKey(subject) : unknownEmailKey(email);
    const check = await this.#checkPassword(
      context,
      { key, subject, hash: credential?.password_hash },
      credentials.password,
    );
    return this.#afterCheck(context, check, device);
  }

  async staffLogin(
    context: RequestContext,
    credentials: Credentials,
    device: DeviceReport = {},
  ): Promise<IssuedTokens> {
    if (!STAFF_CHANNELS.includes(context.channel)) {
      throw new AppError("validation", `Staff sign in on channel ${STAFF_CHANNELS.join(" or ")}.`);
    }
    const email = canonicalEmail(credentials.email);
    const user = await this.#repository.staffUserByEmail(email);
    const active = user?.status === "active" ? user : undefined;
    const subject: Subject | undefined = active && { type: "staff", id: active.id, role: active.role };
    const key = user ? subjectKey({ type: "staff", id: user.id }) : unknownEmailKey(`staff:${email}`);
    const check = await this.#checkPassword(
      context,
      { key, subject, hash: user?.password_hash },
      credentials.password,
    );
    return this.#afterCheck(context, check, device);
  }

  async completeLogin(
    context: RequestContext,
    challengeId: string,
    answer: FactorAnswer,
  ): Promise<IssuedTokens> {
    return this.#login.complete(context, challengeId, answer);
  }

  async passkeyLoginOptions(context: RequestContext) {
    return this.#login.passkeyOptions(context);
  }

  async passkeyLogin(
    context: RequestContext,
    challengeId: string,
    response: AuthenticationResponseJSON,
    device: DeviceReport = {},
  ): Promise<IssuedTokens> {
    return this.#login.passkeyLogin(context, challengeId, response, device);
  }

  /** Rotates a customer's refresh token (or a staff user's, with `subjectType` "staff"). */
  async refresh(context: RequestContext, refreshToken: string, subjectType: SubjectType = "customer") {
    return this.sessions.refresh(context, refreshToken, subjectType);
  }

  /** Ends the caller's own session: its refresh tokens and access tokens stop working. */
  async logout(context: RequestContext): Promise<void> {
    const actor = context.actor;
    if (actor.type !== "customer" && actor.type !== "staff") throw new AppError("unauthorized");
    await this.sessions.revoke(context, actor.sessionId, "logout");
  }

  // Sessions and devices.

  async listSessions(context: RequestContext) {
    return this.sessions.list(callerSubject(context), sessionOf(context));
  }

  async revokeSession(context: RequestContext, sessionId: string): Promise<void> {
    await this.sessions.revokeOwned(context, callerSubject(context), sessionId, "revoked_by_customer");
  }

  async listDevices(context: RequestContext) {
    const rows = await this.#repository.devices(this.#options.db, callerSubject(context));
    return rows.map((row) => ({
      deviceId: row.device_id,
      platform: row.platform,
      appVersion: row.app_version,
      trusted: row.trusted_at !== null,
      firstSeenAt: row.first_seen_at.toISOString(),
      lastSeenAt: row.last_seen_at.toISOString(),
    }));
  }

  /** Forgets a device: it is no longer trusted and its sessions end. */
  async removeDevice(context: RequestContext, deviceId: string): Promise<void> {
    const subject = callerSubject(context);
    const revoked = await inTransaction(this.#options.db, async (tx) => {
      if (!(await this.#repository.untrustDevice(tx, subject, deviceId)))
        throw new AppError("not-found", "No such device.");
      const live = await this.#repository.liveSessions(tx, subject, this.#options.clock.now());
      const ids: string[] = [];
      for (const row of live.filter((session) => session.device_id === deviceId)) {
        if (await this.sessions.revokeInTx(tx, context, row.id, "device_removed")) ids.push(row.id);
      }
      await this.#security.record(tx, context, { kind: "device_removed", subject, details: { deviceId } });
      return ids;
    });
    await this.sessions.denyList(revoked);
  }

  // Staff acting for a customer.

  /** Staff reading a customer's sessions is itself recorded: access to customer data is audited. */
  async staffListSessions(context: RequestContext, customerId: string) {
    await this.#assertCustomer(customerId);
    await inTransaction(this.#options.db, (tx) =>
      this.#options.audit.record(tx, actingFor(context, customerId), {
        action: "staff.customer_sessions_viewed",
        subjectId: customerId,
      }),
    );
    return this.sessions.list({ type: "customer", id: customerId }, undefined);
  }

  async staffRevokeSession(context: RequestContext, customerId: string, sessionId: string): Promise<void> {
    await this.sessions.revokeOwned(
      actingFor(context, customerId),
      { type: "customer", id: customerId },
      sessionId,
      "revoked_by_staff",
    );
  }

  /** Lifts every lock of the customer's factors (after the customer was identified by staff). */
  async staffUnlock(context: RequestContext, customerId: string): Promise<{ unlocked: boolean }> {
    await this.#assertCustomer(customerId);
    const unlocked = await inTransaction(this.#options.db, (tx) =>
      this.#lockout.unlock(tx, actingFor(context, customerId), { type: "customer", id: customerId }),
    );
    return { unlocked };
  }

  // Reads and actions for other modules' investigations (fraud cases). The caller checks the
  // staff role and writes the audit record of the access, as the context it assembles is one read.

  /** The customer's most recent sessions in any state (ended ones are evidence too), newest first. */
  async recentSessionsOf(customerId: string, limit: number): Promise<CustomerSessionRecord[]> {
    const rows = await inTransaction(this.#options.db, (tx) =>
      this.#repository.recentSessions(tx, { type: "customer", id: customerId }, limit),
    );
    return rows.map(toSessionRecord);
  }

  /** The devices the customer signed in from, most recently seen first. */
  async devicesOf(customerId: string): Promise<CustomerDeviceRecord[]> {
    const rows = await this.#repository.devices(this.#options.db, { type: "customer", id: customerId });
    return rows.map((row) => ({
      deviceId: row.device_id,
      platform: row.platform,
      appVersion: row.app_version,
      trusted: row.trusted_at !== null,
      firstSeenAt: row.first_seen_at,
      lastSeenAt: row.last_seen_at,
    }));
  }

  /**
   * Ends every session of the customer inside the caller's transaction (confirmed fraud). Returns
   * the session ids; pass them to `denyListSessions` after the commit so that their access tokens
   * stop at once on every node, not only at their expiry.
   */
  async revokeAllCustomerSessions(
    tx: Tx,
    context: RequestContext,
    customerId: string,
    reason: string,
  ): Promise<string[]> {
    const subject = { type: "customer" as const, id: customerId };
    const revoked = await this.sessions.revokeAll(tx, actingFor(context, customerId), subject, reason);
    if (revoked.length > 0) {
      await this.#security.record(tx, actingFor(context, customerId), {
        kind: "session_revoked",
        subject,
        details: { reason, sessionCount: revoked.length },
      });
    }
    return revoked;
  }

  async denyListSessions(sessionIds: string[]): Promise<void> {
    await this.sessions.denyList(sessionIds);
  }

  async createStaffUser(context: RequestContext, input: NewStaffUser): Promise<StaffUser> {
    // Staff always have an authenticator app, so the with-MFA minimum applies.
    assertPasswordAcceptable(input.password, { mfaEnabled: true, email: input.email });
    return this.#staff.create(context, input);
  }

  async ensureInitialAdmin(input: { email?: string | undefined; password?: string | undefined } = {}) {
    return this.#staff.ensureInitialAdmin(input);
  }

  async #checkPassword(
    context: RequestContext,
    target: { key: string; subject: Subject | undefined; hash: string | undefined },
    password: string,
  ): Promise<PasswordCheck> {
    const { db } = this.#options;
    const until = await inTransaction(db, (tx) => this.#lockout.lockedUntil(tx, target.key, "password"));
    if (until) return { kind: "locked", until };
    // Runs even when there is no such e-mail, against a dummy hash, so timing reveals nothing.
    const valid = await this.#passwords.verify(target.hash, password);
    return inTransaction(db, async (tx) => {
      if (valid && target.subject) {
        // Read before the success clears them: many failures before a success is a signal.
        const priorFailures = await this.#lockout.recentFailures(tx, target.subject);
        await this.#lockout.succeed(tx, target.key, "password");
        return { kind: "ok", subject: target.subject, priorFailures };
      }
      const outcome = await this.#lockout.fail(tx, context, {
        key: target.key,
        factor: "password",
        subject: target.subject,
      });
      await this.#security.record(tx, context, {
        kind: "login_failed",
        subject: target.subject,
        details: { reason: "invalid_credentials", attemptsRemaining: outcome.attemptsRemaining },
      });
      return { kind: "failed", ...outcome };
    });
  }

  async #afterCheck(
    context: RequestContext,
    check: PasswordCheck,
    device: DeviceReport,
  ): Promise<IssuedTokens> {
    if (check.kind === "locked") throw lockedError(check.until);
    if (check.kind === "failed") {
      if (check.locked && check.lockedUntil) throw lockedError(check.lockedUntil);
      // The same words for a wrong password and an unknown e-mail; the warning comes before the lock.
      const warning = check.attemptsRemaining === 1 ? " One attempt is left before sign-in is locked." : "";
      throw new AppError("unauthorized", `The e-mail address or the password is not correct.${warning}`, {
        attemptsRemaining: check.attemptsRemaining,
      });
    }
    return this.#login.afterPassword(context, check.subject, device, check.priorFailures);
  }

  async #assertCustomer(customerId: string): Promise<void> {
    if (!(await this.#options.customers.exists(customerId)))
      throw new AppError("not-found", "No such customer.");
  }

  /** A refresh re-reads the subject, so a disabled staff user or a changed role takes effect. */
  async #currentSubject(tx: Tx, session: SessionRow): Promise<Subject | undefined> {
    if (session.subject_type === "customer") return { type: "customer", id: session.subject_id };
    const user = await this.#repository.staffUserById(tx, session.subject_id);
    if (user?.status !== "active") return undefined;
    return { type: "staff", id: user.id, role: user.role };
  }
}

/** A staff member's context, marked as acting for `customerId` in every event and audit record. */
function actingFor(context: RequestContext, customerId: string): RequestContext {
  return { ...context, onBehalfOf: customerId };
}

/** A session as an investigator reads it: where and how the customer signed in, and how it ended. */
export interface CustomerSessionRecord {
  id: string;
  channel: string;
  deviceId: string | null;
  platform: string | null;
  strength: string;
  ip: string | null;
  country: string | null;
  createdAt: Date;
  lastSeenAt: Date;
  revokedAt: Date | null;
  revokedReason: string | null;
}

export interface CustomerDeviceRecord {
  deviceId: string;
  platform: string | null;
  appVersion: string | null;
  trusted: boolean;
  firstSeenAt: Date;
  lastSeenAt: Date;
}

function toSessionRecord(row: SessionRow): CustomerSessionRecord {
  return {
    id: row.id,
    channel: row.channel,
    deviceId: row.device_id,
    platform: row.platform,
    strength: row.strength,
    ip: row.ip,
    country: row.country,
    createdAt: row.created_at,
    lastSeenAt: row.last_seen_at,
    revokedAt: row.revoked_at,
    revokedReason: row.revoked_reason,
  };
}

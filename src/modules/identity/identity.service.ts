import type { Config } from "../../config.ts";
import type { Cache } from "../../platform/cache/cache.ts";
import type { Channel, RequestContext } from "../../platform/context.ts";
import { inTransaction, isUniqueViolation, type Tx } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { AppError } from "../../platform/errors.ts";
import type { Authenticator } from "../../platform/http/auth.ts";
import type { CustomerService } from "../customers/index.ts";
import { canonicalEmail, normalizeEmail } from "./email.ts";
import { IdentityRepository } from "./identity.repository.ts";
import type { SessionRow, SubjectType } from "./identity.tables.ts";
import { PasswordHasher } from "./password.ts";
import { type IssuedTokens, SessionService, sessionContext } from "./session.service.ts";
import { type NewStaffUser, StaffService, type StaffUser } from "./staff.service.ts";
import { AccessTokenService, type Subject } from "./token.service.ts";

export interface IdentityServiceOptions extends ServiceDependencies {
  cache: Cache;
  customers: CustomerService;
  auth: Config["auth"];
}

export interface Credentials {
  email: string;
  password: string;
}

export interface NewCustomerRegistration extends Credentials {
  givenName: string;
  familyName: string;
}

/** Staff work from a branch or the contact centre, never from the customer channels. */
export const STAFF_CHANNELS: readonly Channel[] = ["branch", "contact_centre"];

/**
 * Identity: customer registration and login, staff users and login, sessions with rotating
 * refresh tokens, and the `authenticate` function the HTTP guards use to verify access tokens.
 * Every failure to log in looks the same to the caller, whatever the reason.
 */
export class IdentityService {
  readonly #options: IdentityServiceOptions;
  readonly #repository: IdentityRepository;
  readonly #passwords = new PasswordHasher();
  readonly #tokens: AccessTokenService;
  readonly #sessions: SessionService;
  readonly #staff: StaffService;

  constructor(options: IdentityServiceOptions) {
    this.#options = options;
    this.#repository = new IdentityRepository({ db: options.db });
    const repository = this.#repository;
    this.#tokens = new AccessTokenService({ repository, clock: options.clock, auth: options.auth });
    this.#sessions = new SessionService({
      ...options,
      repository,
      tokens: this.#tokens,
      currentSubject: (tx, session) => this.#currentSubject(tx, session),
    });
    this.#staff = new StaffService({ ...options, repository, passwords: this.#passwords });
  }

  /** Loads (or creates and shares) the signing key and prepares the dummy password hash. */
  async init(): Promise<void> {
    await this.#tokens.init();
    await this.#passwords.init();
  }

  /** Verifies an access token for one audience; undefined for anything not valid right now. */
  authenticate: Authenticator = async (token, audience) => {
    const claims = await this.#tokens.verify(token, audience);
    if (!claims || (await this.#sessions.isRevoked(claims.sessionId))) return undefined;
    const { subject, sessionId, channel, deviceId } = claims;
    const actor =
      subject.type === "customer"
        ? { type: "customer" as const, id: subject.id, sessionId }
        : { type: "staff" as const, id: subject.id, sessionId, role: subject.role };
    return { context: { channel, deviceId, actor } };
  };

  /** Customer record and credential in one transaction: neither exists without the other. */
  async registerCustomer(
    context: RequestContext,
    input: NewCustomerRegistration,
  ): Promise<{ customerId: string }> {
    const email = normalizeEmail(input.email);
    // Hashed before the duplicate check, so a taken address costs the same time as a free one.
    const passwordHash = await this.#passwords.hash(input.password);
    try {
      return await inTransaction(this.#options.db, async (tx) => {
        const { givenName, familyName } = input;
        const customer = await this.#options.customers.create(tx, context, { email, givenName, familyName });
        await this.#repository.insertCredential(tx, {
          customer_id: customer.id,
          email,
          password_hash: passwordHash,
          created_at: this.#options.clock.now(),
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

  /** Starts a customer session on the channel and device of `context` (claimed at login). */
  async login(context: RequestContext, credentials: Credentials): Promise<IssuedTokens> {
    const credential = await this.#repository.credentialByEmail(canonicalEmail(credentials.email));
    // Runs even when there is no such e-mail, against a dummy hash, so timing reveals nothing.
    const valid = await this.#passwords.verify(credential?.password_hash, credentials.password);
    if (!credential || !valid) return this.#failLogin(context, "customer", credential?.customer_id);
    return this.#startSession(context, { type: "customer", id: credential.customer_id });
  }

  async staffLogin(context: RequestContext, credentials: Credentials): Promise<IssuedTokens> {
    if (!STAFF_CHANNELS.includes(context.channel)) {
      throw new AppError("validation", `Staff sign in on channel ${STAFF_CHANNELS.join(" or ")}.`);
    }
    const user = await this.#repository.staffUserByEmail(canonicalEmail(credentials.email));
    const valid = await this.#passwords.verify(user?.password_hash, credentials.password);
    if (!user || !valid || user.status !== "active") return this.#failLogin(context, "staff", user?.id);
    return this.#startSession(context, { type: "staff", id: user.id, role: user.role });
  }

  /** Rotates a customer's refresh token (or a staff user's, with `subjectType` "staff"). */
  async refresh(context: RequestContext, refreshToken: string, subjectType: SubjectType = "customer") {
    return this.#sessions.refresh(context, refreshToken, subjectType);
  }

  /** Ends the caller's own session: its refresh tokens and access tokens stop working. */
  async logout(context: RequestContext): Promise<void> {
    const actor = context.actor;
    if (actor.type !== "customer" && actor.type !== "staff") throw new AppError("unauthorized");
    await this.#sessions.revoke(context, actor.sessionId, "logout");
  }

  async createStaffUser(context: RequestContext, input: NewStaffUser): Promise<StaffUser> {
    return this.#staff.create(context, input);
  }

  async ensureInitialAdmin(input: { email?: string | undefined; password?: string | undefined } = {}) {
    return this.#staff.ensureInitialAdmin(input);
  }

  async #startSession(context: RequestContext, subject: Subject): Promise<IssuedTokens> {
    const { session, refreshToken } = await inTransaction(this.#options.db, async (tx) => {
      const opened = await this.#sessions.open(tx, context, subject);
      // The actor is the one who just proved who they are, in the session they now hold.
      await this.#options.audit.record(tx, sessionContext(context, subject, opened.session), {
        action: "login.succeeded",
        subjectId: subject.id,
        details: { subjectType: subject.type, sessionId: opened.session.id },
      });
      return opened;
    });
    return this.#sessions.issue(subject, session, refreshToken);
  }

  /** Audits the failure (never with the e-mail that was tried) and answers like every other failure. */
  async #failLogin(
    context: RequestContext,
    subjectType: SubjectType,
    subjectId: string | undefined,
  ): Promise<never> {
    await inTransaction(this.#options.db, (tx) =>
      this.#options.audit.record(tx, context, {
        action: "login.failed",
        ...(subjectId === undefined ? {} : { subjectId }),
        details: { subjectType, reason: "invalid_credentials" },
      }),
    );
    throw new AppError("unauthorized", "The e-mail address or the password is not correct.");
  }

  /** A refresh re-reads the subject, so a disabled staff user or a changed role takes effect. */
  async #currentSubject(tx: Tx, session: SessionRow): Promise<Subject | undefined> {
    if (session.subject_type === "customer") return { type: "customer", id: session.subject_id };
    const user = await this.#repository.staffUserById(tx, session.subject_id);
    if (user?.status !== "active") return undefined;
    return { type: "staff", id: user.id, role: user.role };
  }
}

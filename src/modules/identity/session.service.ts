import type { Config } from "../../config.ts";
import type { Cache } from "../../platform/cache/cache.ts";
import type { Actor, Channel, RequestContext } from "../../platform/context.ts";
import { inTransaction, type Tx } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { AppError, assertInvariant } from "../../platform/errors.ts";
import { appendToOutbox } from "../../platform/events/outbox.ts";
import type { IdentityRepository } from "./identity.repository.ts";
import type { SessionRow, SubjectType } from "./identity.tables.ts";
import { type AccessTokenService, hashRefreshToken, newRefreshToken, type Subject } from "./token.service.ts";

/** What a login or a refresh hands back; the route maps it to the wire. */
export interface IssuedTokens {
  accessToken: string;
  refreshToken: string;
  expiresInS: number;
  sessionId: string;
  subjectId: string;
}

export interface SessionStartedEvent extends Record<string, unknown> {
  sessionId: string;
  subjectType: SubjectType;
  subjectId: string;
  channel: string;
  deviceId: string | null;
}

export interface SessionRevokedEvent extends Record<string, unknown> {
  sessionId: string;
  reason: string;
}

export interface RefreshTokenReusedEvent extends Record<string, unknown> {
  sessionId: string;
  subjectType: SubjectType;
  subjectId: string;
}

export interface SessionRefreshedEvent extends Record<string, unknown> {
  sessionId: string;
}

export interface SessionServiceOptions extends ServiceDependencies {
  cache: Cache;
  repository: IdentityRepository;
  tokens: AccessTokenService;
  auth: Config["auth"];
  /** The subject as it is now (staff role and status can change), or undefined when it may not log in. */
  currentSubject: (tx: Tx, session: SessionRow) => Promise<Subject | undefined>;
}

type RotationOutcome =
  | { kind: "rotated"; subject: Subject; session: SessionRow; refreshToken: string }
  | { kind: "reused"; sessionId: string }
  | { kind: "invalid" };

const DENY_LIST_PREFIX = "session-revoked:";

/**
 * Sessions and their refresh-token families. A session binds the channel and device claimed at
 * login; its refresh tokens rotate on every use, and a token used twice revokes the whole family,
 * because only a thief or a replaying attacker would present a token that was already spent.
 */
export class SessionService {
  readonly #options: SessionServiceOptions;

  constructor(options: SessionServiceOptions) {
    this.#options = options;
  }

  /** Opens a session inside the caller's (login) transaction; the tokens are signed after commit. */
  async open(
    tx: Tx,
    context: RequestContext,
    subject: Subject,
  ): Promise<{ session: SessionRow; refreshToken: string }> {
    const { ids, clock, repository, auth, events } = this.#options;
    const now = clock.now();
    const session: SessionRow = {
      id: ids.next("ses"),
      subject_type: subject.type,
      subject_id: subject.id,
      channel: context.channel,
      device_id: context.deviceId ?? null,
      created_at: now,
      last_seen_at: now,
      // The absolute lifetime: rotations renew the refresh token but never extend this.
      expires_at: new Date(now.getTime() + auth.refreshTokenTtlS * 1000),
      revoked_at: null,
      revoked_reason: null,
    };
    await repository.insertSession(tx, session);
    const refreshToken = await this.#insertRefreshToken(tx, session, now);
    const data: SessionStartedEvent = {
      sessionId: session.id,
      subjectType: subject.type,
      subjectId: subject.id,
      channel: session.channel,
      deviceId: session.device_id,
    };
    await appendToOutbox(tx, [
      events.create(sessionContext(context, subject, session), "session.started", session.id, data),
    ]);
    return { session, refreshToken };
  }

  async issue(subject: Subject, session: SessionRow, refreshToken: string): Promise<IssuedTokens> {
    const { tokens } = this.#options;
    const accessToken = await tokens.sign({
      subject,
      sessionId: session.id,
      channel: session.channel as Channel,
      deviceId: session.device_id ?? undefined,
    });
    return {
      accessToken,
      refreshToken,
      expiresInS: tokens.ttlS,
      sessionId: session.id,
      subjectId: subject.id,
    };
  }

  /**
   * Rotates a refresh token. A spent or revoked token revokes its whole session; that revocation
   * commits before the caller is told 401, which is why the transaction returns an outcome
   * instead of throwing.
   */
  async refresh(
    context: RequestContext,
    refreshToken: string,
    subjectType: SubjectType,
  ): Promise<IssuedTokens> {
    const tokenHash = hashRefreshToken(refreshToken);
    const outcome = await inTransaction(this.#options.db, (tx) =>
      this.#rotate(tx, context, tokenHash, subjectType),
    );
    if (outcome.kind === "reused") {
      await this.#denyList(outcome.sessionId);
      this.#options.logger.warn({ sessionId: outcome.sessionId }, "refresh token reused; session revoked");
    }
    if (outcome.kind !== "rotated") throw new AppError("unauthorized", "The refresh token is not valid.");
    return this.issue(outcome.subject, outcome.session, outcome.refreshToken);
  }

  /** Revokes a session and all its refresh tokens; its access tokens stop working at once. */
  async revoke(context: RequestContext, sessionId: string, reason: string): Promise<void> {
    await inTransaction(this.#options.db, async (tx) => {
      const revokedNow = await this.#revokeFamily(tx, context, sessionId, reason);
      if (!revokedNow) return;
      await this.#options.audit.record(tx, context, {
        action: "session.revoked",
        subjectId: sessionId,
        details: { reason },
      });
    });
    await this.#denyList(sessionId);
  }

  async isRevoked(sessionId: string): Promise<boolean> {
    return (await this.#options.cache.get(DENY_LIST_PREFIX + sessionId)) !== undefined;
  }

  async #rotate(
    tx: Tx,
    context: RequestContext,
    tokenHash: string,
    subjectType: SubjectType,
  ): Promise<RotationOutcome> {
    const { repository, clock } = this.#options;
    // Session first, then token: the same lock order as revocation, so the two cannot deadlock.
    const session = await repository.lockSessionOfRefreshToken(tx, tokenHash);
    if (!session || session.subject_type !== subjectType) return { kind: "invalid" };
    const token = await repository.lockRefreshToken(tx, tokenHash);
    assertInvariant(token, "a refresh token vanished while its session was locked");
    if (token.status !== "active") return this.#handleReuse(tx, context, session);
    const now = clock.now();
    const expired = token.expires_at <= now || session.expires_at <= now;
    if (expired || session.revoked_at !== null) return { kind: "invalid" };
    const subject = await this.#options.currentSubject(tx, session);
    if (!subject) return { kind: "invalid" };
    await repository.markRefreshTokenRotated(tx, token.id, now);
    await repository.touchSession(tx, session.id, now);
    const refreshToken = await this.#insertRefreshToken(tx, session, now);
    const data: SessionRefreshedEvent = { sessionId: session.id };
    const event = this.#options.events.create(
      sessionContext(context, subject, session),
      "session.refreshed",
      session.id,
      data,
    );
    await appendToOutbox(tx, [event]);
    return { kind: "rotated", subject, session, refreshToken };
  }

  /**
   * The presenter of a spent token is unknown (it may be the thief or the victim), so the event
   * and the audit record carry the anonymous request context and name the session's owner.
   */
  async #handleReuse(tx: Tx, context: RequestContext, session: SessionRow): Promise<RotationOutcome> {
    await this.#revokeFamily(tx, context, session.id, "refresh_token_reused");
    const data: RefreshTokenReusedEvent = {
      sessionId: session.id,
      subjectType: session.subject_type,
      subjectId: session.subject_id,
    };
    await appendToOutbox(tx, [
      this.#options.events.create(context, "session.refresh_token_reused", session.id, data),
    ]);
    await this.#options.audit.record(tx, context, {
      action: "session.refresh_token_reused",
      subjectId: session.subject_id,
      details: { sessionId: session.id, subjectType: session.subject_type },
    });
    return { kind: "reused", sessionId: session.id };
  }

  /** Revokes the session and its tokens; the event is written only when this call revoked it. */
  async #revokeFamily(tx: Tx, context: RequestContext, sessionId: string, reason: string): Promise<boolean> {
    const { repository, clock, events } = this.#options;
    const revokedNow = await repository.revokeSession(tx, sessionId, clock.now(), reason);
    await repository.revokeRefreshTokens(tx, sessionId);
    if (revokedNow) {
      const data: SessionRevokedEvent = { sessionId, reason };
      await appendToOutbox(tx, [events.create(context, "session.revoked", sessionId, data)]);
    }
    return revokedNow;
  }

  async #insertRefreshToken(tx: Tx, session: SessionRow, now: Date): Promise<string> {
    const { ids, repository, auth } = this.#options;
    const refreshToken = newRefreshToken();
    const renewedUntilMs = now.getTime() + auth.refreshTokenTtlS * 1000;
    await repository.insertRefreshToken(tx, {
      id: ids.next("rtk"),
      session_id: session.id,
      token_hash: hashRefreshToken(refreshToken),
      status: "active",
      created_at: now,
      expires_at: new Date(Math.min(renewedUntilMs, session.expires_at.getTime())),
      rotated_at: null,
    });
    return refreshToken;
  }

  /**
   * Access tokens are not looked up per request; the deny-list in the shared cache is what stops
   * a revoked session's tokens on every node. It only needs to outlive the longest access token.
   */
  async #denyList(sessionId: string): Promise<void> {
    await this.#options.cache.set(DENY_LIST_PREFIX + sessionId, "1", this.#options.tokens.ttlS);
  }
}

/** The context of an event about a session: its owner as the actor, its bound channel and device. */
export function sessionContext(
  context: RequestContext,
  subject: Subject,
  session: SessionRow,
): RequestContext {
  const actor: Actor =
    subject.type === "customer"
      ? { type: "customer", id: subject.id, sessionId: session.id }
      : { type: "staff", id: subject.id, sessionId: session.id, role: subject.role };
  return {
    requestId: context.requestId,
    channel: session.channel as Channel,
    deviceId: session.device_id ?? undefined,
    actor,
  };
}

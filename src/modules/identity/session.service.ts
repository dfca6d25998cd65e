import type { Config, SessionChannel } from "../../config.ts";
import type { Cache } from "../../platform/cache/cache.ts";
import type { Actor, Channel, ClientOrigin, RequestContext } from "../../platform/context.ts";
import { inTransaction, type Tx } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { AppError, assertInvariant } from "../../platform/errors.ts";
import { appendToOutbox } from "../../platform/events/outbox.ts";
import type { IdentityRepository, SubjectRef } from "./identity.repository.ts";
import type { RefreshTokenRow, SessionRow, SessionStrength, SubjectType } from "./identity.tables.ts";
import type { SecurityEvents } from "./security-events.ts";
import { type AccessTokenService, hashRefreshToken, newRefreshToken, type Subject } from "./token.service.ts";

/** What a login or a refresh hands back; the route maps it to the wire. */
export interface IssuedTokens {
  accessToken: string;
  refreshToken: string;
  expiresInS: number;
  sessionId: string;
  subjectId: string;
  /** Only when a login enrolled the first authenticator app: shown once. */
  recoveryCodes?: string[] | undefined;
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
  security: SecurityEvents;
  /** Scores a refresh for anomalies inside its transaction; "deny" revokes the session. */
  assessRefresh: (
    tx: Tx,
    context: RequestContext,
    subject: Subject,
    session: SessionRow,
  ) => Promise<"allow" | "deny">;
  /** The subject as it is now (staff role and status can change), or undefined when it may not log in. */
  currentSubject: (tx: Tx, session: SessionRow) => Promise<Subject | undefined>;
}

type RotationOutcome =
  | { kind: "rotated"; subject: Subject; session: SessionRow; refreshToken: string }
  | { kind: "reused"; sessionId: string }
  | { kind: "denied"; sessionId: string }
  | { kind: "invalid" };

/** How a session is opened: the strength of the login and what the client reported. */
export interface SessionOpening {
  strength: SessionStrength;
  /** The device is trusted (now or before): the channel's longer idle timeout applies. */
  trustedDevice: boolean;
  platform: string | undefined;
  appVersion: string | undefined;
}

export interface SessionDto {
  id: string;
  channel: string;
  deviceId: string | null;
  platform: string | null;
  appVersion: string | null;
  strength: SessionStrength;
  country: string | null;
  createdAt: string;
  lastSeenAt: string;
  expiresAt: string;
  idleTimeoutS: number;
  current: boolean;
}

/**
 * One cache entry per session, read on every request: "revoked", or
 * `<lastSeenMs>:<idleTimeoutS>:<expiresAtMs>`. It is a cache: when it is missing the session row
 * is read and the entry rebuilt, so losing the cache never revives a revoked session.
 */
const SESSION_STATE_PREFIX = "session:";
const REVOKED = "revoked";
/** Activity is written back at most this often per session, not on every request. */
const TOUCH_INTERVAL_MS = 15_000;

interface SessionState {
  lastSeenMs: number;
  idleTimeoutS: number;
  expiresAtMs: number;
}

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
    opening: SessionOpening,
  ): Promise<{ session: SessionRow; refreshToken: string }> {
    const { ids, clock, repository, events } = this.#options;
    const now = clock.now();
    const policy = this.policy(context.channel);
    const origin = context.origin;
    const session: SessionRow = {
      id: ids.next("ses"),
      subject_type: subject.type,
      subject_id: subject.id,
      channel: context.channel,
      device_id: context.deviceId ?? null,
      created_at: now,
      last_seen_at: now,
      // The absolute lifetime: rotations renew the refresh token but never extend this.
      expires_at: new Date(now.getTime() + policy.absoluteS * 1000),
      revoked_at: null,
      revoked_reason: null,
      strength: opening.strength,
      idle_timeout_s: opening.trustedDevice ? policy.trustedIdleS : policy.idleS,
      platform: opening.platform ?? null,
      app_version: opening.appVersion ?? null,
      ...originColumns(origin),
    };
    await repository.insertSession(tx, session);
    const { token: refreshToken } = await this.#insertRefreshToken(tx, session, now);
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
    if (outcome.kind === "reused" || outcome.kind === "denied") {
      await this.#denyList(outcome.sessionId);
      const why = outcome.kind === "reused" ? "refresh token reused" : "refresh refused as an anomaly";
      this.#options.logger.warn({ sessionId: outcome.sessionId }, `${why}; session revoked`);
    }
    if (outcome.kind !== "rotated") throw new AppError("unauthorized", "The refresh token is not valid.");
    // A refresh is activity: the access tokens' idle clock restarts too, on every node.
    const { session } = outcome;
    await this.#writeState(session.id, {
      lastSeenMs: session.last_seen_at.getTime(),
      idleTimeoutS: session.idle_timeout_s,
      expiresAtMs: session.expires_at.getTime(),
    });
    return this.issue(outcome.subject, session, outcome.refreshToken);
  }

  /** Revokes a session and all its refresh tokens; its access tokens stop working at once. */
  async revoke(
    context: RequestContext,
    sessionId: string,
    reason: string,
    subject?: SubjectRef,
  ): Promise<void> {
    await inTransaction(this.#options.db, async (tx) => {
      const revokedNow = await this.#revokeFamily(tx, context, sessionId, reason);
      if (!revokedNow) return;
      await this.#options.security.record(tx, context, {
        kind: "session_revoked",
        subject: subject ?? ownSubject(context),
        sessionId,
        details: { reason },
      });
    });
    await this.#denyList(sessionId);
  }

  /** The idle timeout and absolute lifetime of sessions on `channel`. */
  policy(channel: Channel) {
    const policy = this.#options.auth.sessions[channel as SessionChannel];
    assertInvariant(policy, `no session policy for channel ${channel}`);
    return policy;
  }

  /**
   * True while the session may be used: not revoked, not idle longer than its timeout, not past
   * its absolute end. Records the activity (at most every few seconds) so that use keeps it
   * alive. One cache read per request in the steady state.
   */
  async isActive(sessionId: string): Promise<boolean> {
    const { cache, clock } = this.#options;
    const key = SESSION_STATE_PREFIX + sessionId;
    const cached = await cache.get(key);
    if (cached === REVOKED) return false;
    const state = cached === undefined ? await this.#loadState(sessionId) : parseState(cached);
    if (!state) return false;
    const nowMs = clock.now().getTime();
    if (nowMs - state.lastSeenMs > state.idleTimeoutS * 1000 || nowMs >= state.expiresAtMs) return false;
    if (cached === undefined || nowMs - state.lastSeenMs >= TOUCH_INTERVAL_MS) {
      await this.#writeState(sessionId, { ...state, lastSeenMs: nowMs });
    }
    return true;
  }

  /** The subject's live sessions, for the customer (or staff acting for them). */
  async list(subject: SubjectRef, currentSessionId: string | undefined): Promise<SessionDto[]> {
    const { repository, db, clock } = this.#options;
    const now = clock.now();
    const rows = await repository.liveSessions(db, subject, now);
    const live: SessionDto[] = [];
    for (const row of rows) {
      const lastSeen = await this.#lastSeen(row);
      if (now.getTime() - lastSeen.getTime() > row.idle_timeout_s * 1000) continue;
      live.push(toSessionDto(row, lastSeen, row.id === currentSessionId));
    }
    return live;
  }

  /** Revokes one of `subject`'s sessions; not-found for anyone else's (BOLA). */
  async revokeOwned(context: RequestContext, subject: SubjectRef, sessionId: string, reason: string) {
    const row = await this.#options.repository.sessionById(this.#options.db, sessionId);
    if (!row || row.subject_type !== subject.type || row.subject_id !== subject.id || row.revoked_at) {
      throw new AppError("not-found", "No such session.");
    }
    await this.revoke(context, sessionId, reason, subject);
  }

  /** Revokes every live session of the subject (password change, staff action), except `keep`. */
  async revokeAll(tx: Tx, context: RequestContext, subject: SubjectRef, reason: string, keep?: string) {
    const { repository, clock } = this.#options;
    const revoked: string[] = [];
    for (const row of await repository.liveSessions(tx, subject, clock.now())) {
      if (row.id === keep) continue;
      if (await this.#revokeFamily(tx, context, row.id, reason)) revoked.push(row.id);
    }
    return revoked;
  }

  /** Revokes one session inside the caller's transaction; call `denyList` after commit. */
  async revokeInTx(tx: Tx, context: RequestContext, sessionId: string, reason: string): Promise<boolean> {
    return this.#revokeFamily(tx, context, sessionId, reason);
  }

  /** After commit: stops the access tokens of sessions revoked by `revokeAll`. */
  async denyList(sessionIds: string[]): Promise<void> {
    for (const id of sessionIds) await this.#denyList(id);
  }

  async #loadState(sessionId: string): Promise<SessionState | undefined> {
    const row = await this.#options.repository.sessionById(this.#options.db, sessionId);
    if (!row) return undefined;
    if (row.revoked_at) {
      await this.#denyList(sessionId);
      return undefined;
    }
    return {
      lastSeenMs: row.last_seen_at.getTime(),
      idleTimeoutS: row.idle_timeout_s,
      expiresAtMs: row.expires_at.getTime(),
    };
  }

  async #writeState(sessionId: string, state: SessionState): Promise<void> {
    const ttlS = Math.max(60, state.idleTimeoutS + 60);
    const value = `${state.lastSeenMs}:${state.idleTimeoutS}:${state.expiresAtMs}`;
    await this.#options.cache.set(SESSION_STATE_PREFIX + sessionId, value, ttlS);
  }

  /** The later of the stored and the cached activity: requests touch the cache, not the row. */
  async #lastSeen(row: SessionRow): Promise<Date> {
    const cached = await this.#options.cache.get(SESSION_STATE_PREFIX + row.id);
    const state = cached && cached !== REVOKED ? parseState(cached) : undefined;
    const cachedMs = state?.lastSeenMs ?? 0;
    return new Date(Math.max(cachedMs, row.last_seen_at.getTime()));
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
    const now = clock.now();
    if (token.status !== "active" && !(await this.#isRetryOfLostResponse(tx, token, now))) {
      return this.#handleReuse(tx, context, session);
    }
    const idleMs = now.getTime() - (await this.#lastSeen(session)).getTime();
    const expired =
      token.expires_at <= now || session.expires_at <= now || idleMs > session.idle_timeout_s * 1000;
    if (expired || session.revoked_at !== null) return { kind: "invalid" };
    const subject = await this.#options.currentSubject(tx, session);
    if (!subject) return { kind: "invalid" };
    if ((await this.#options.assessRefresh(tx, context, subject, session)) === "deny") {
      await this.#revokeFamily(tx, context, session.id, "anomaly");
      await this.#options.security.record(tx, context, {
        kind: "session_revoked",
        subject,
        sessionId: session.id,
        details: { reason: "anomaly" },
      });
      return { kind: "denied", sessionId: session.id };
    }
    const { id: newTokenId, token: refreshToken } = await this.#insertRefreshToken(tx, session, now);
    await this.#retire(tx, token.id, now, newTokenId);
    await repository.touchSession(tx, session.id, now, originColumns(context.origin));
    const data: SessionRefreshedEvent = { sessionId: session.id };
    const event = this.#options.events.create(
      sessionContext(context, subject, session),
      "session.refreshed",
      session.id,
      data,
    );
    await appendToOutbox(tx, [event]);
    return { kind: "rotated", subject, session: { ...session, last_seen_at: now }, refreshToken };
  }

  /**
   * A token spent moments ago whose successor was never used is a client retrying after a lost
   * response, not a thief: the successor is retired too and a new one issued, so a flaky network
   * does not log the customer out. Outside the grace window, or once the successor was used, it
   * is a reuse.
   */
  async #isRetryOfLostResponse(tx: Tx, token: RefreshTokenRow, now: Date): Promise<boolean> {
    const graceMs = this.#options.auth.refreshReuseGraceS * 1000;
    if (token.status !== "rotated" || !token.rotated_at || !token.replaced_by || graceMs === 0) return false;
    if (now.getTime() - token.rotated_at.getTime() > graceMs) return false;
    const successor = await this.#options.repository.refreshTokenById(tx, token.replaced_by);
    return successor?.status === "active";
  }

  /** Marks the presented token spent, and in a grace retry its unused successor as well. */
  async #retire(tx: Tx, tokenId: string, now: Date, newTokenId: string): Promise<void> {
    const { repository } = this.#options;
    const token = await repository.refreshTokenById(tx, tokenId);
    if (token?.status === "rotated" && token.replaced_by) {
      // The successor the client never received is revoked, not merely spent: presented later it
      // is a reuse, so one lost response buys exactly one retry.
      await repository.revokeRefreshToken(tx, token.replaced_by);
    }
    if (token?.status === "active") await repository.markRefreshTokenRotated(tx, tokenId, now, newTokenId);
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
    await this.#options.security.record(tx, context, {
      kind: "refresh_token_reused",
      subject: { type: session.subject_type, id: session.subject_id },
      sessionId: session.id,
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

  /** A refresh token lives until the session's absolute end; idleness is checked at each use. */
  async #insertRefreshToken(tx: Tx, session: SessionRow, now: Date): Promise<{ id: string; token: string }> {
    const { ids, repository } = this.#options;
    const token = newRefreshToken();
    const id = ids.next("rtk");
    await repository.insertRefreshToken(tx, {
      id,
      session_id: session.id,
      token_hash: hashRefreshToken(token),
      status: "active",
      created_at: now,
      expires_at: session.expires_at,
      rotated_at: null,
      replaced_by: null,
    });
    return { id, token };
  }

  /**
   * Access tokens are not looked up per request; the deny-list in the shared cache is what stops
   * a revoked session's tokens on every node. It only needs to outlive the longest access token.
   */
  async #denyList(sessionId: string): Promise<void> {
    await this.#options.cache.set(SESSION_STATE_PREFIX + sessionId, REVOKED, this.#options.tokens.ttlS + 60);
  }
}

function parseState(value: string): SessionState | undefined {
  const [lastSeenMs, idleTimeoutS, expiresAtMs] = value.split(":").map(Number);
  if (!Number.isFinite(lastSeenMs) || !Number.isFinite(idleTimeoutS) || !Number.isFinite(expiresAtMs)) {
    return undefined;
  }
  return { lastSeenMs: lastSeenMs!, idleTimeoutS: idleTimeoutS!, expiresAtMs: expiresAtMs! };
}

function originColumns(origin: ClientOrigin | undefined) {
  return {
    ip: origin?.ip ?? null,
    country: origin?.country ?? null,
    latitude: origin?.location?.latitude ?? null,
    longitude: origin?.location?.longitude ?? null,
  };
}

function ownSubject(context: RequestContext): SubjectRef | undefined {
  const actor = context.actor;
  return actor.type === "customer" || actor.type === "staff" ? { type: actor.type, id: actor.id } : undefined;
}

function toSessionDto(row: SessionRow, lastSeen: Date, current: boolean): SessionDto {
  return {
    id: row.id,
    channel: row.channel,
    deviceId: row.device_id,
    platform: row.platform,
    appVersion: row.app_version,
    strength: row.strength,
    country: row.country,
    createdAt: row.created_at.toISOString(),
    lastSeenAt: lastSeen.toISOString(),
    expiresAt: row.expires_at.toISOString(),
    idleTimeoutS: row.idle_timeout_s,
    current,
  };
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
    origin: context.origin,
    onBehalfOf: context.onBehalfOf,
  };
}

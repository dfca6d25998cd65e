import type { Clock } from "./clock.ts";
import { actorId, type RequestContext } from "./context.ts";
import type { Db, Tx } from "./db/database.ts";
import type { IdGenerator } from "./ids.ts";

/**
 * The audit trail: who did what to which object, from which channel and device. Written in the
 * same transaction as the change it records (architecture rule 3). Details never hold secrets.
 * The trail is append-only and hash-chained by the database (migration 0003_audit_chain):
 * `verifyAuditChain` walks it.
 */
export interface AuditEntry {
  action: string;
  subjectId?: string;
  details?: Record<string, unknown>;
  /** The object's state before and after the change, where the action changes one. */
  before?: Record<string, unknown>;
  after?: Record<string, unknown>;
}

export class AuditTrail {
  readonly #ids: IdGenerator;
  readonly #clock: Clock;

  constructor(options: { ids: IdGenerator; clock: Clock }) {
    this.#ids = options.ids;
    this.#clock = options.clock;
  }

  async record(tx: Tx, context: RequestContext, entry: AuditEntry): Promise<void> {
    await tx
      .insertInto("platform_audit_log")
      .values({
        id: this.#ids.next("evt"),
        occurred_at: this.#clock.now(),
        actor_type: context.actor.type,
        actor_id: actorId(context.actor) ?? null,
        action: entry.action,
        subject_id: entry.subjectId ?? null,
        channel: context.channel,
        device_id: context.deviceId ?? null,
        request_id: context.requestId,
        on_behalf_of: context.onBehalfOf ?? null,
        ip: context.origin?.ip ?? null,
        country: context.origin?.country ?? null,
        details: JSON.stringify(entry.details ?? {}),
        before: entry.before ? JSON.stringify(entry.before) : null,
        after: entry.after ? JSON.stringify(entry.after) : null,
      })
      .execute();
  }
}

/** One security event of the audit trail, as an investigator reads it. */
export interface SecurityRecord {
  action: string;
  occurredAt: Date;
  actorType: string;
  channel: string | null;
  deviceId: string | null;
  ip: string | null;
  country: string | null;
  details: Record<string, unknown>;
}

/**
 * The most recent `security.*` records about one subject (a customer), newest first. The audit
 * trail is where the identity module writes them with channel, device, IP and country, so the
 * fraud investigators read them here rather than asking identity to keep a second copy.
 */
export async function recentSecurityRecords(
  db: Db,
  subjectId: string,
  limit: number,
): Promise<SecurityRecord[]> {
  const rows = await db
    .selectFrom("platform_audit_log")
    .select(["action", "occurred_at", "actor_type", "channel", "device_id", "ip", "country", "details"])
    .where("subject_id", "=", subjectId)
    .where("action", "like", "security.%")
    .orderBy("seq", "desc")
    .limit(limit)
    .execute();
  return rows.map((row) => ({
    action: row.action,
    occurredAt: new Date(row.occurred_at),
    actorType: row.actor_type,
    channel: row.channel,
    deviceId: row.device_id,
    ip: row.ip,
    country: row.country,
    details: typeof row.details === "string" ? JSON.parse(row.details) : (row.details ?? {}),
  }));
}

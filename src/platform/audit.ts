import type { Clock } from "./clock.ts";
import { actorId, type RequestContext } from "./context.ts";
import type { Tx } from "./db/database.ts";
import type { IdGenerator } from "./ids.ts";

/**
 * The audit trail: who did what to which object, from which channel and device. Written in the
 * same transaction as the change it records (architecture rule 3). Details never hold secrets.
 */
export interface AuditEntry {
  action: string;
  subjectId?: string;
  details?: Record<string, unknown>;
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
      })
      .execute();
  }
}

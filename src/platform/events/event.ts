import type { Clock } from "../clock.ts";
import type { RequestContext } from "../context.ts";
import { actorId } from "../context.ts";
import type { IdGenerator } from "../ids.ts";

/** The envelope every domain event travels in, on every bus. `data` is the event's own body. */
export interface DomainEvent<Data = Record<string, unknown>> {
  id: string;
  type: string;
  occurredAt: string;
  aggregateId: string;
  channel: string;
  deviceId: string | null;
  actorType: string;
  actorId: string | null;
  /** The customer a staff member acted for; null when the actor acted for themselves. */
  onBehalfOf: string | null;
  requestId: string;
  data: Data;
}

export interface EventFactory {
  create<Data extends Record<string, unknown>>(
    context: RequestContext,
    type: string,
    aggregateId: string,
    data: Data,
  ): DomainEvent<Data>;
}

export function eventFactory(options: { ids: IdGenerator; clock: Clock }): EventFactory {
  return {
    create: (context, type, aggregateId, data) => ({
      id: options.ids.next("evt"),
      type,
      occurredAt: options.clock.now().toISOString(),
      aggregateId,
      channel: context.channel,
      deviceId: context.deviceId ?? null,
      actorType: context.actor.type,
      actorId: actorId(context.actor) ?? null,
      onBehalfOf: context.onBehalfOf ?? null,
      requestId: context.requestId,
      data,
    }),
  };
}

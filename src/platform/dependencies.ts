import type { AuditTrail } from "./audit.ts";
import type { Clock } from "./clock.ts";
import type { Db } from "./db/database.ts";
import type { EventFactory } from "./events/event.ts";
import type { IdGenerator } from "./ids.ts";
import type { Logger } from "./logger.ts";

/**
 * What every domain service is given by the composition root (`app.ts` builds it once as
 * `common`): the database, injected time and ids, the event factory, the audit trail and a logger.
 * A service's options extend this with what is its own.
 */
export interface ServiceDependencies {
  db: Db;
  ids: IdGenerator;
  clock: Clock;
  events: EventFactory;
  audit: AuditTrail;
  logger: Logger;
}

import type { AuditTrail } from "./audit.ts";
import type { RequestContext } from "./context.ts";
import { type Db, inTransaction, isUniqueViolation, type Tx } from "./db/database.ts";
import { AppError } from "./errors.ts";
import type { EventFactory } from "./events/event.ts";
import { appendToOutbox } from "./events/outbox.ts";

/**
 * Versioned rule sets, as the fraud engine and the AML monitoring keep them: numbered versions,
 * at most one active, created and activated by staff. Each module owns its table and the meaning
 * of a definition; this is the shared way a change is made: one transaction with its event and
 * its audit record, a concurrent change refused as a conflict, the cached active set dropped.
 */

/** The module repository's part that versioning needs. */
export interface RuleSetStore<Row> {
  nextRuleSetVersion(tx: Tx): Promise<number>;
  ruleSet(version: number, tx?: Tx): Promise<Row | undefined>;
  /** Makes `version` the active one; answers the version that was active before, if any. */
  activate(tx: Tx, version: number): Promise<number | undefined>;
}

export interface RuleSetActivatedEvent extends Record<string, unknown> {
  version: number;
  previousVersion: number | null;
}

/** What writing a new version produced: the data of its created event and its audit details. */
export interface RuleSetVersionWritten {
  data: Record<string, unknown>;
  details: Record<string, unknown>;
}

export interface RuleSetVersionsOptions<Row> {
  db: Db;
  events: EventFactory;
  audit: AuditTrail;
  store: RuleSetStore<Row>;
  /** Names the events, audit actions and aggregate ids: `fraud.rule_set_created`, `fraud-rule-set-3`. */
  domain: string;
  /** The problem detail when a version does not exist. */
  notFoundDetail: string;
  /** Called after every committed change: the active set a service caches is stale. */
  onChange: () => void;
}

export class RuleSetVersions<Row extends { active: boolean }> {
  readonly #options: RuleSetVersionsOptions<Row>;

  constructor(options: RuleSetVersionsOptions<Row>) {
    this.#options = options;
  }

  /** A new version: `write` inserts it under the number given; active at once only when asked. */
  async create(
    context: RequestContext,
    activate: boolean,
    write: (tx: Tx, version: number) => Promise<RuleSetVersionWritten>,
  ): Promise<Row> {
    const created = await this.#inTransaction(async (tx) => {
      const version = await this.#options.store.nextRuleSetVersion(tx);
      const { data, details } = await write(tx, version);
      await this.#record(tx, context, "rule_set_created", version, data, details);
      if (activate) await this.#activateInTx(tx, context, version);
      return version;
    });
    return this.#reloadAfterChange(created);
  }

  /** Makes an existing version the active one; activating the active one changes nothing. */
  async activate(context: RequestContext, version: number): Promise<Row> {
    await this.#inTransaction(async (tx) => {
      const row = await this.#options.store.ruleSet(version, tx);
      if (!row) throw new AppError("not-found", this.#options.notFoundDetail);
      if (!row.active) await this.#activateInTx(tx, context, version);
    });
    return this.#reloadAfterChange(version);
  }

  async #activateInTx(tx: Tx, context: RequestContext, version: number): Promise<void> {
    const previousVersion = (await this.#options.store.activate(tx, version)) ?? null;
    const data: RuleSetActivatedEvent = { version, previousVersion };
    await this.#record(tx, context, "rule_set_activated", version, data, { version, previousVersion });
  }

  async #record(
    tx: Tx,
    context: RequestContext,
    change: "rule_set_created" | "rule_set_activated",
    version: number,
    data: Record<string, unknown>,
    details: Record<string, unknown>,
  ): Promise<void> {
    const { domain, events, audit } = this.#options;
    // Rule sets are numbered, not given ids: the version is their identity in events and the audit trail.
    const aggregateId = `${domain}-rule-set-${version}`;
    await appendToOutbox(tx, [events.create(context, `${domain}.${change}`, aggregateId, data)]);
    await audit.record(tx, context, { action: `${domain}.${change}`, subjectId: aggregateId, details });
  }

  /** Two staff members creating or activating at once: one wins, the other is told to retry. */
  async #inTransaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    try {
      return await inTransaction(this.#options.db, work);
    } catch (error) {
      if (isUniqueViolation(error)) {
        throw new AppError("conflict", "Another rule-set change was made at the same time; retry.");
      }
      throw error;
    }
  }

  async #reloadAfterChange(version: number): Promise<Row> {
    this.#options.onChange();
    const row = await this.#options.store.ruleSet(version);
    if (!row) throw new AppError("not-found", this.#options.notFoundDetail);
    return row;
  }
}

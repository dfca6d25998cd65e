import type { Config } from "../../config.ts";
import type { RequestContext } from "../../platform/context.ts";
import { actorId } from "../../platform/context.ts";
import { inTransaction, isUniqueViolation, type Tx } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { AppError } from "../../platform/errors.ts";
import type { EventDispatcher } from "../../platform/events/dispatcher.ts";
import { appendToOutbox } from "../../platform/events/outbox.ts";
import type { AmlMetrics } from "./aml.metrics.ts";
import { AmlRepository } from "./aml.repository.ts";
import type { RuleSetRow } from "./aml.tables.ts";
import {
  type ActiveRuleSet,
  MONITORING_CONSUMER,
  MONITORING_EVENT_TYPES,
  monitoringHandler,
} from "./monitoring.projection.ts";
import { type AmlRule, type AmlRuleSetDefinition, DEFAULT_RULE_SET, ruleSetProblems } from "./rules.ts";

export type AmlConfig = Config["aml"];

export interface AmlServiceOptions extends ServiceDependencies {
  dispatcher: EventDispatcher;
  config: AmlConfig;
  metrics: AmlMetrics;
}

export interface AmlRuleSetDto {
  version: number;
  currency: string;
  rules: AmlRule[];
  createdBy: string;
  createdAt: string;
  active: boolean;
}

export interface AmlRuleSetCreatedEvent extends Record<string, unknown> {
  version: number;
  rulesCount: number;
  currency: string;
  createdBy: string;
}

export interface AmlRuleSetActivatedEvent extends Record<string, unknown> {
  version: number;
  previousVersion: number | null;
}

const RULE_SETS_PAGE_MAX = 100;

interface CachedRuleSet extends ActiveRuleSet {
  loadedAtMs: number;
}

/**
 * AML transaction monitoring: subscribes to the money events and evaluates the active rule set on
 * each as it is delivered (never in a batch afterwards). Rule sets are versioned data that
 * compliance analysts create and activate; every change is audited and published.
 */
export class AmlService {
  readonly #options: AmlServiceOptions;
  readonly #repository: AmlRepository;
  #active: CachedRuleSet | undefined;
  #subscribed = false;

  constructor(options: AmlServiceOptions) {
    this.#options = options;
    this.#repository = new AmlRepository({ db: options.db });
  }

  /** Seeds rule set version 1 when there is none, and subscribes the monitoring to its events. */
  async init(): Promise<void> {
    await this.#repository.seedRuleSet({
      version: 1,
      definition: JSON.stringify(DEFAULT_RULE_SET),
      created_by: "system:seed",
      created_at: this.#options.clock.now(),
      active: true,
    });
    if (this.#subscribed) return;
    this.#subscribed = true;
    const { ids, clock, events, audit, logger, metrics, config } = this.#options;
    this.#options.dispatcher.on(
      MONITORING_CONSUMER,
      MONITORING_EVENT_TYPES,
      monitoringHandler({
        repository: this.#repository,
        ids,
        clock,
        events,
        audit,
        logger,
        metrics,
        windowMovementsMax: config.windowMovementsMax,
        ruleSet: (tx) => this.#ruleSetFor(tx),
      }),
    );
  }

  /**
   * The active rule set from memory, reloaded after a short time so every node follows changes.
   * Read in the handler's own transaction: the embedded database has one connection.
   */
  async #ruleSetFor(tx: Tx): Promise<ActiveRuleSet> {
    const nowMs = this.#options.clock.now().getTime();
    const cached = this.#active;
    const ttlMs = this.#options.config.ruleSetCacheS * 1000;
    if (cached && nowMs - cached.loadedAtMs < ttlMs && nowMs >= cached.loadedAtMs) return cached;
    const row = await this.#repository.activeRuleSet(tx);
    if (!row) throw new Error("no active AML rule set: init() seeds one");
    this.#active = { version: row.version, definition: row.definition, loadedAtMs: nowMs };
    return this.#active;
  }

  async listRuleSets(): Promise<AmlRuleSetDto[]> {
    return (await this.#repository.ruleSets(RULE_SETS_PAGE_MAX)).map(toRuleSetDto);
  }

  async activeRuleSet(): Promise<AmlRuleSetDto> {
    const row = await this.#repository.activeRuleSet();
    if (!row) throw new AppError("not-found", "No AML rule set is active.");
    return toRuleSetDto(row);
  }

  async createRuleSet(
    context: RequestContext,
    input: AmlRuleSetDefinition & { activate?: boolean | undefined },
  ): Promise<AmlRuleSetDto> {
    const definition = validDefinition(input);
    const createdBy = actorId(context.actor) ?? "unknown";
    const version = await this.#inRuleSetTransaction(async (tx) => {
      const next = await this.#repository.nextRuleSetVersion(tx);
      await this.#repository.insertRuleSet(tx, {
        version: next,
        definition: JSON.stringify(definition),
        created_by: createdBy,
        created_at: this.#options.clock.now(),
        active: false,
      });
      const data: AmlRuleSetCreatedEvent = {
        version: next,
        rulesCount: definition.rules.length,
        currency: definition.currency,
        createdBy,
      };
      await appendToOutbox(tx, [
        this.#options.events.create(context, "aml.rule_set_created", ruleSetAggregateId(next), data),
      ]);
      await this.#options.audit.record(tx, context, {
        action: "aml.rule_set_created",
        subjectId: ruleSetAggregateId(next),
        details: { ...data, rules: definition.rules.map((rule) => rule.code) },
      });
      if (input.activate) await this.#activateInTx(tx, context, next);
      return next;
    });
    return this.#reloadAfterChange(version);
  }

  async activateRuleSet(context: RequestContext, version: number): Promise<AmlRuleSetDto> {
    await this.#inRuleSetTransaction(async (tx) => {
      const row = await this.#repository.ruleSet(version, tx);
      if (!row) throw new AppError("not-found", "No such AML rule set version.");
      if (!row.active) await this.#activateInTx(tx, context, version);
    });
    return this.#reloadAfterChange(version);
  }

  async #activateInTx(tx: Tx, context: RequestContext, version: number): Promise<void> {
    const previousVersion = (await this.#repository.activate(tx, version)) ?? null;
    const data: AmlRuleSetActivatedEvent = { version, previousVersion };
    await appendToOutbox(tx, [
      this.#options.events.create(context, "aml.rule_set_activated", ruleSetAggregateId(version), data),
    ]);
    await this.#options.audit.record(tx, context, {
      action: "aml.rule_set_activated",
      subjectId: ruleSetAggregateId(version),
      details: data,
    });
  }

  /** Two analysts creating or activating at once: one wins, the other is told to retry. */
  async #inRuleSetTransaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    try {
      return await inTransaction(this.#options.db, work);
    } catch (error) {
      if (isUniqueViolation(error)) {
        throw new AppError("conflict", "Another rule-set change was made at the same time; retry.");
      }
      throw error;
    }
  }

  async #reloadAfterChange(version: number): Promise<AmlRuleSetDto> {
    this.#active = undefined;
    const row = await this.#repository.ruleSet(version);
    if (!row) throw new AppError("not-found", "No such AML rule set version.");
    return toRuleSetDto(row);
  }
}

/** Rule sets are numbered, not given ids: the version is their identity in events and the audit trail. */
function ruleSetAggregateId(version: number): string {
  return `aml-rule-set-${version}`;
}

function validDefinition(input: AmlRuleSetDefinition): AmlRuleSetDefinition {
  const definition = { currency: input.currency, rules: input.rules };
  const problems = ruleSetProblems(definition);
  if (problems.length > 0) {
    throw new AppError("validation", `The rule set is not valid: ${problems.join("; ")}`, { problems });
  }
  return definition;
}

function toRuleSetDto(row: RuleSetRow): AmlRuleSetDto {
  return {
    version: row.version,
    currency: row.definition.currency,
    rules: row.definition.rules,
    createdBy: row.created_by,
    createdAt: row.created_at.toISOString(),
    active: row.active,
  };
}

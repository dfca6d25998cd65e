import type { Config } from "../../config.ts";
import type { RequestContext } from "../../platform/context.ts";
import { actorId } from "../../platform/context.ts";
import type { Tx } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { AppError } from "../../platform/errors.ts";
import type { EventDispatcher } from "../../platform/events/dispatcher.ts";
import { type RuleSetActivatedEvent, RuleSetVersions } from "../../platform/rule-set-versions.ts";
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

export type AmlRuleSetActivatedEvent = RuleSetActivatedEvent;

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
  readonly #ruleSets: RuleSetVersions<RuleSetRow>;
  #active: CachedRuleSet | undefined;
  #subscribed = false;

  constructor(options: AmlServiceOptions) {
    this.#options = options;
    this.#repository = new AmlRepository({ db: options.db });
    this.#ruleSets = new RuleSetVersions({
      ...options,
      store: this.#repository,
      domain: "aml",
      notFoundDetail: "No such AML rule set version.",
      onChange: () => {
        this.#active = undefined;
      },
    });
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
    const row = await this.#ruleSets.create(context, input.activate === true, async (tx, version) => {
      await this.#repository.insertRuleSet(tx, {
        version,
        definition: JSON.stringify(definition),
        created_by: createdBy,
        created_at: this.#options.clock.now(),
        active: false,
      });
      const data: AmlRuleSetCreatedEvent = {
        version,
        rulesCount: definition.rules.length,
        currency: definition.currency,
        createdBy,
      };
      return { data, details: { ...data, rules: definition.rules.map((rule) => rule.code) } };
    });
    return toRuleSetDto(row);
  }

  async activateRuleSet(context: RequestContext, version: number): Promise<AmlRuleSetDto> {
    return toRuleSetDto(await this.#ruleSets.activate(context, version));
  }
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

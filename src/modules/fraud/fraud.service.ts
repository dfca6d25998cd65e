import type { Config } from "../../config.ts";
import { Batcher } from "../../platform/batcher.ts";
import type { Cache } from "../../platform/cache/cache.ts";
import { actorId, type RequestContext } from "../../platform/context.ts";
import { inTransaction, type Tx } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { AppError } from "../../platform/errors.ts";
import type { EventDispatcher } from "../../platform/events/dispatcher.ts";
import { appendToOutbox } from "../../platform/events/outbox.ts";
import type {
  FraudGate,
  LoginRisk,
  LoginRiskGate,
  LoginRiskInput,
  PaymentRiskInput,
  RiskDecision,
  RiskOutcome,
} from "../../platform/fraud.ts";
import { formatAmount } from "../../platform/money.ts";
import { type RuleSetActivatedEvent, RuleSetVersions } from "../../platform/rule-set-versions.ts";
import { computeFeatures, type Features } from "./features.ts";
import type { FraudMetrics } from "./fraud.metrics.ts";
import { FraudRepository } from "./fraud.repository.ts";
import type { DecisionRow, RuleSetRow, StoredRiskInput } from "./fraud.tables.ts";
import { assessLoginRisk } from "./login-risk.ts";
import { PROFILE_CONSUMER, PROFILE_EVENT_TYPES, profileHandler } from "./profile.projection.ts";
import type { FraudProfile } from "./profile.ts";
import {
  DEFAULT_RULE_SET,
  evaluate,
  type Rule,
  type RuleSetDefinition,
  ruleSetProblems,
  type Thresholds,
} from "./rules.ts";
import { countAttempt } from "./velocity.ts";

export type FraudConfig = Config["fraud"];

export interface FraudServiceOptions extends ServiceDependencies {
  cache: Cache;
  dispatcher: EventDispatcher;
  config: FraudConfig;
  metrics?: FraudMetrics | undefined;
}

export interface FraudDecisionMadeEvent extends Record<string, unknown> {
  decisionId: string;
  customerId: string;
  transferId: string;
  outcome: RiskOutcome;
  score: number;
  reasons: string[];
  ruleSetVersion: number;
}

export interface RuleSetCreatedEvent extends Record<string, unknown> {
  version: number;
  rulesCount: number;
  thresholds: Thresholds;
  createdBy: string;
}

export type { RuleSetActivatedEvent };

export interface DecisionDto extends RiskDecision {
  customerId: string;
  transferId: string;
  features: Features;
  input: StoredRiskInput;
  createdAt: string;
}

export interface RuleSetDto {
  version: number;
  rules: Rule[];
  thresholds: Thresholds;
  createdBy: string;
  createdAt: string;
  active: boolean;
}

export interface ProfileSummary {
  customerId: string;
  /** False when nothing has been learned about the customer yet. */
  known: boolean;
  firstEventAt: string | null;
  paymentsCount: number;
  usualAmounts: Array<{ channel: string; currency: string; count: number; mean: string; spread: string }>;
  knownPayees: Array<{ iban: string; firstSeenAt: string; paymentsCount: number }>;
  devices: Array<{ deviceId: string; firstSeenAt: string; lastSeenAt: string; trusted: boolean }>;
  countries: Array<{ country: string; firstSeenAt: string; lastSeenAt: string }>;
  activeHoursUtc: number[];
  lastPaymentChannel: string | null;
  lastPaymentAt: string | null;
  lastCredentialChangeAt: string | null;
  lastContactChangeAt: string | null;
  lastPayeeAddedAt: string | null;
}

export interface DryRunRequest extends RuleSetDefinition {
  since?: Date | undefined;
  /** Decisions to replay, newest first; DRY_RUN_DEFAULT_LIMIT (or the configured bound) when absent. */
  limit?: number | undefined;
}

export type OutcomeCounts = Record<RiskOutcome, number>;

export interface DryRunReport {
  replayed: number;
  before: OutcomeCounts;
  after: OutcomeCounts;
  changed: number;
  /** At most DRY_RUN_CHANGES_MAX, newest first. */
  changes: Array<{
    decisionId: string;
    before: { outcome: RiskOutcome; score: number; ruleSetVersion: number };
    after: { outcome: RiskOutcome; score: number; reasons: string[] };
  }>;
}

const DECISIONS_PAGE_MAX = 200;
const RULE_SETS_PAGE_MAX = 100;
const DRY_RUN_CHANGES_MAX = 100;
const DRY_RUN_DEFAULT_LIMIT = 1_000;
const SUMMARY_PAYEES_MAX = 20;

interface ActiveRuleSet {
  version: number;
  definition: RuleSetDefinition;
  loadedAtMs: number;
}

/**
 * The fraud engine behind the FraudGate port: a decision per payment from the customer's profile,
 * the velocity counters and the active rule set, stored with what it saw and published through the
 * outbox. Rule sets are versioned data that investigators create, dry-run and activate.
 */
interface DecisionWrite {
  input: PaymentRiskInput;
  decision: RiskDecision;
  features: Features;
  stored: StoredRiskInput;
  now: Date;
}

function decisionMadeEvent(input: PaymentRiskInput, decision: RiskDecision): FraudDecisionMadeEvent {
  return {
    decisionId: decision.id,
    customerId: input.customerId,
    transferId: input.transferId,
    outcome: decision.outcome,
    score: decision.score,
    reasons: decision.reasons,
    ruleSetVersion: decision.ruleSetVersion,
  };
}

/** Decisions written per transaction at most, and waiting at most (beyond: 503, not a growing queue). */
const DECISION_BATCH_MAX = 128;
const DECISION_QUEUE_MAX = 10_000;

export class FraudService implements FraudGate, LoginRiskGate {
  readonly #options: FraudServiceOptions;
  readonly #repository: FraudRepository;
  readonly #decisionWrites: Batcher<DecisionWrite, void>;
  readonly #ruleSets: RuleSetVersions<RuleSetRow>;
  #active: ActiveRuleSet | undefined;
  #loading: Promise<ActiveRuleSet> | undefined;
  #subscribed = false;

  constructor(options: FraudServiceOptions) {
    this.#options = options;
    this.#repository = new FraudRepository({ db: options.db });
    // One batch at a time: decisions that arrive while one commits go together into the next.
    this.#decisionWrites = new Batcher({
      execute: (writes) => this.#writeDecisions(writes),
      batchMax: DECISION_BATCH_MAX,
      concurrency: 1,
      queueMax: DECISION_QUEUE_MAX,
    });
    this.#ruleSets = new RuleSetVersions({
      ...options,
      store: this.#repository,
      domain: "fraud",
      notFoundDetail: "No such rule set version.",
      onChange: () => {
        this.#active = undefined;
      },
    });
  }

  /** Seeds rule set version 1 when there is none, and subscribes the profile to its events. */
  async init(): Promise<void> {
    await this.#repository.seedRuleSet({
      version: 1,
      rules: JSON.stringify(DEFAULT_RULE_SET.rules),
      thresholds: JSON.stringify(DEFAULT_RULE_SET.thresholds),
      created_by: "system:seed",
      created_at: this.#options.clock.now(),
      active: true,
    });
    if (this.#subscribed) return;
    this.#subscribed = true;
    this.#options.dispatcher.on(
      PROFILE_CONSUMER,
      PROFILE_EVENT_TYPES,
      profileHandler({ repository: this.#repository, clock: this.#options.clock }),
    );
  }

  /** The customer's habits at sign-in, for identity's anomaly score (LoginRiskGate). */
  async assessLogin(tx: Tx, input: LoginRiskInput): Promise<LoginRisk> {
    if (!this.#options.config.enabled) return { score: 0, reasons: [] };
    const profile = await this.#repository.profile(input.customerId, tx);
    const row = this.#active ? undefined : await this.#repository.activeRuleSet(tx);
    const definition =
      this.#active?.definition ?? (row ? { rules: row.rules, thresholds: row.thresholds } : undefined);
    if (!definition) return { score: 0, reasons: [] };
    return assessLoginRisk(profile, definition, input);
  }

  async assessPayment(input: PaymentRiskInput): Promise<RiskDecision> {
    const { ids, clock, cache, config } = this.#options;
    const id = ids.next("fdc");
    if (!config.enabled) return { id, outcome: "allow", score: 0, reasons: [], ruleSetVersion: 0 };
    // Process time, not the injected clock: this measures the work, it decides nothing.
    const startedAt = performance.now();
    const now = clock.now();
    const amountMinor = Number(input.amountMinor);
    const [profile, ruleSet, velocity] = await Promise.all([
      this.#repository.profile(input.customerId),
      this.#activeRuleSet(now),
      countAttempt(cache, { customerId: input.customerId, currency: input.currency, amountMinor, now }),
    ]);
    const stored = storedInput(input);
    const features = computeFeatures(
      profile,
      {
        channel: stored.channel,
        deviceId: stored.deviceId ?? undefined,
        country: stored.country ?? undefined,
        sessionId: stored.sessionId ?? undefined,
        toIban: input.toIban,
        amountMinor,
        currency: input.currency,
        external: input.external,
      },
      velocity,
      now,
    );
    const evaluation = evaluate(ruleSet.definition, features);
    const decision: RiskDecision = { id, ...evaluation, ruleSetVersion: ruleSet.version };
    await this.#storeDecision(input, decision, features, stored, now);
    this.#options.metrics?.decided(decision.outcome, (performance.now() - startedAt) / 1000);
    return decision;
  }

  /** Resolves once the decision, its event and its audit record are committed (group commit). */
  async #storeDecision(
    input: PaymentRiskInput,
    decision: RiskDecision,
    features: Features,
    stored: StoredRiskInput,
    now: Date,
  ): Promise<void> {
    await this.#decisionWrites.submit({ input, decision, features, stored, now });
  }

  /**
   * Writes a batch of decisions in one transaction: under load, concurrent payments share one
   * commit and one turn of the audit chain's head lock instead of one each.
   */
  async #writeDecisions(writes: DecisionWrite[]): Promise<Array<PromiseSettledResult<void>>> {
    const { events, audit } = this.#options;
    try {
      await inTransaction(this.#options.db, async (tx) => {
        await this.#repository.insertDecisions(
          tx,
          writes.map(({ input, decision, features, stored, now }) => ({
            id: decision.id,
            customer_id: input.customerId,
            transfer_id: input.transferId,
            outcome: decision.outcome,
            score: decision.score,
            reasons: JSON.stringify(decision.reasons),
            rule_set_version: decision.ruleSetVersion,
            features: JSON.stringify(features),
            input: JSON.stringify(stored),
            created_at: now,
          })),
        );
        const made = writes.map(({ input, decision }) => ({
          input,
          data: decisionMadeEvent(input, decision),
        }));
        await appendToOutbox(
          tx,
          made.map(({ input, data }) =>
            events.create(input.context, "fraud.decision_made", data.decisionId, data),
          ),
        );
        for (const { input, data } of made) {
          await audit.record(tx, input.context, {
            action: "fraud.decision_made",
            subjectId: data.decisionId,
            details: {
              customerId: data.customerId,
              transferId: data.transferId,
              outcome: data.outcome,
              score: data.score,
              reasons: data.reasons,
              ruleSetVersion: data.ruleSetVersion,
            },
          });
        }
      });
      return writes.map(() => ({ status: "fulfilled", value: undefined }));
    } catch (error) {
      return writes.map(() => ({ status: "rejected", reason: error }));
    }
  }

  async getDecision(id: string): Promise<DecisionDto | undefined> {
    const row = await this.#repository.decision(id);
    return row ? toDecisionDto(row) : undefined;
  }

  /** Newest first; `limit` is clamped to 1…200. */
  async decisionsForCustomer(customerId: string, limit = 50): Promise<DecisionDto[]> {
    const bounded = Math.min(Math.max(1, Math.floor(limit)), DECISIONS_PAGE_MAX);
    return (await this.#repository.decisionsForCustomer(customerId, bounded)).map(toDecisionDto);
  }

  async profileSummary(customerId: string): Promise<ProfileSummary> {
    return summarise(customerId, await this.#repository.profile(customerId));
  }

  // Rule sets.

  async listRuleSets(limit = RULE_SETS_PAGE_MAX): Promise<RuleSetDto[]> {
    const bounded = Math.min(Math.max(1, Math.floor(limit)), RULE_SETS_PAGE_MAX);
    return (await this.#repository.ruleSets(bounded)).map(toRuleSetDto);
  }

  async activeRuleSet(): Promise<RuleSetDto> {
    const row = await this.#repository.activeRuleSet();
    if (!row) throw new AppError("not-found", "No rule set is active.");
    return toRuleSetDto(row);
  }

  /** A new version from a validated definition; active at once only when asked. */
  async createRuleSet(
    context: RequestContext,
    input: RuleSetDefinition & { activate?: boolean | undefined },
  ): Promise<RuleSetDto> {
    const definition = validDefinition(input);
    const createdBy = actorId(context.actor) ?? "unknown";
    const row = await this.#ruleSets.create(context, input.activate === true, async (tx, version) => {
      await this.#repository.insertRuleSet(tx, {
        version,
        rules: JSON.stringify(definition.rules),
        thresholds: JSON.stringify(definition.thresholds),
        created_by: createdBy,
        created_at: this.#options.clock.now(),
        active: false,
      });
      const data: RuleSetCreatedEvent = {
        version,
        rulesCount: definition.rules.length,
        thresholds: definition.thresholds,
        createdBy,
      };
      return {
        data,
        details: { version, rulesCount: definition.rules.length, thresholds: definition.thresholds },
      };
    });
    return toRuleSetDto(row);
  }

  async activateRuleSet(context: RequestContext, version: number): Promise<RuleSetDto> {
    return toRuleSetDto(await this.#ruleSets.activate(context, version));
  }

  /** Replays a candidate over stored decisions' features: what would have changed, nothing stored. */
  async dryRun(request: DryRunRequest): Promise<DryRunReport> {
    const definition = validDefinition(request);
    const { dryRunDecisionsMax } = this.#options.config;
    const limit = request.limit ?? Math.min(DRY_RUN_DEFAULT_LIMIT, dryRunDecisionsMax);
    if (!Number.isInteger(limit) || limit < 1 || limit > dryRunDecisionsMax) {
      throw new AppError("validation", `limit must be an integer from 1 to at most ${dryRunDecisionsMax}.`);
    }
    const rows = await this.#repository.decisionsSince(request.since, limit);
    return replay(definition, rows);
  }

  /** The active rule set from memory, reloaded after a short time so that every node follows changes. */
  async #activeRuleSet(now: Date): Promise<ActiveRuleSet> {
    const active = this.#active;
    const ttlMs = this.#options.config.ruleSetCacheS * 1000;
    if (active && now.getTime() - active.loadedAtMs < ttlMs && now.getTime() >= active.loadedAtMs)
      return active;
    this.#loading ??= this.#loadActive(now).finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  async #loadActive(now: Date): Promise<ActiveRuleSet> {
    const row = await this.#repository.activeRuleSet();
    if (!row) throw new Error("no active fraud rule set: init() seeds one");
    const loaded = {
      version: row.version,
      definition: { rules: row.rules, thresholds: row.thresholds },
      loadedAtMs: now.getTime(),
    };
    this.#active = loaded;
    return loaded;
  }
}

function validDefinition(input: RuleSetDefinition): RuleSetDefinition {
  const definition = { rules: input.rules, thresholds: input.thresholds };
  const problems = ruleSetProblems(definition);
  if (problems.length > 0) {
    throw new AppError("validation", `The rule set is not valid: ${problems.join("; ")}`, { problems });
  }
  return definition;
}

function emptyCounts(): OutcomeCounts {
  return { allow: 0, challenge: 0, hold: 0, block: 0 };
}

export function replay(definition: RuleSetDefinition, rows: DecisionRow[]): DryRunReport {
  const report: DryRunReport = {
    replayed: rows.length,
    before: emptyCounts(),
    after: emptyCounts(),
    changed: 0,
    changes: [],
  };
  for (const row of rows) {
    const after = evaluate(definition, row.features);
    report.before[row.outcome] += 1;
    report.after[after.outcome] += 1;
    if (after.outcome === row.outcome) continue;
    report.changed += 1;
    if (report.changes.length < DRY_RUN_CHANGES_MAX) {
      report.changes.push({
        decisionId: row.id,
        before: { outcome: row.outcome, score: row.score, ruleSetVersion: row.rule_set_version },
        after,
      });
    }
  }
  return report;
}

/** What is kept of the request: ids, amount, channel, device and country; never a token or an IP. */
function storedInput(input: PaymentRiskInput): StoredRiskInput {
  const { context } = input;
  return {
    customerId: input.customerId,
    transferId: input.transferId,
    fromAccountId: input.fromAccountId,
    toIban: input.toIban,
    amountMinor: input.amountMinor.toString(),
    currency: input.currency,
    external: input.external,
    channel: context.channel,
    deviceId: context.deviceId ?? null,
    sessionId:
      context.actor.type === "customer" || context.actor.type === "staff" ? context.actor.sessionId : null,
    country: context.origin?.country ?? null,
    requestId: context.requestId,
  };
}

function toDecisionDto(row: DecisionRow): DecisionDto {
  return {
    id: row.id,
    customerId: row.customer_id,
    transferId: row.transfer_id,
    outcome: row.outcome,
    score: row.score,
    reasons: row.reasons,
    ruleSetVersion: row.rule_set_version,
    features: row.features,
    input: row.input,
    createdAt: row.created_at.toISOString(),
  };
}

function toRuleSetDto(row: RuleSetRow): RuleSetDto {
  return {
    version: row.version,
    rules: row.rules,
    thresholds: row.thresholds,
    createdBy: row.created_by,
    createdAt: row.created_at.toISOString(),
    active: row.active,
  };
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** Amount statistics in the currency's decimals; "?" never appears: unknown currencies are skipped. */
function decimal(minor: number, currency: string): string | undefined {
  try {
    return formatAmount(BigInt(Math.round(minor)), currency);
  } catch {
    return undefined;
  }
}

function summarise(customerId: string, profile: FraudProfile | undefined): ProfileSummary {
  const usualAmounts = Object.entries(profile?.amounts ?? {}).flatMap(([key, stats]) => {
    const [channel = "", currency = ""] = key.split(":");
    const mean = decimal(stats.meanMinor, currency);
    const spread = decimal(Math.sqrt(stats.varianceMinorSquared), currency);
    return mean && spread ? [{ channel, currency, count: stats.count, mean, spread }] : [];
  });
  const payees = Object.entries(profile?.payees ?? {})
    .sort(([, a], [, b]) => b.lastSeenAtMs - a.lastSeenAtMs)
    .slice(0, SUMMARY_PAYEES_MAX);
  return {
    customerId,
    known: profile !== undefined && profile.firstEventAtMs !== null,
    firstEventAt: iso(profile?.firstEventAtMs ?? null),
    paymentsCount: profile?.paymentsCount ?? 0,
    usualAmounts,
    knownPayees: payees.map(([iban, payee]) => ({
      iban,
      firstSeenAt: iso(payee.firstSeenAtMs)!,
      paymentsCount: payee.paymentsCount,
    })),
    devices: Object.entries(profile?.devices ?? {}).map(([deviceId, device]) => ({
      deviceId,
      firstSeenAt: iso(device.firstSeenAtMs)!,
      lastSeenAt: iso(device.lastSeenAtMs)!,
      trusted: device.trusted,
    })),
    countries: Object.entries(profile?.countries ?? {}).map(([country, seen]) => ({
      country,
      firstSeenAt: iso(seen.firstSeenAtMs)!,
      lastSeenAt: iso(seen.lastSeenAtMs)!,
    })),
    activeHoursUtc: profile?.hoursUtc ?? Array.from({ length: 24 }, () => 0),
    lastPaymentChannel: profile?.lastPaymentChannel ?? null,
    lastPaymentAt: iso(profile?.lastPaymentAtMs ?? null),
    lastCredentialChangeAt: iso(profile?.lastCredentialChangeAtMs ?? null),
    lastContactChangeAt: iso(profile?.lastContactChangeAtMs ?? null),
    lastPayeeAddedAt: iso(profile?.lastPayeeAddedAtMs ?? null),
  };
}

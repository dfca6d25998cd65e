import type { AuditTrail } from "../../platform/audit.ts";
import type { Clock } from "../../platform/clock.ts";
import { type RequestContext, systemContext } from "../../platform/context.ts";
import type { Tx } from "../../platform/db/database.ts";
import type { DomainEvent, EventFactory } from "../../platform/events/event.ts";
import { appendToOutbox } from "../../platform/events/outbox.ts";
import type { IdGenerator } from "../../platform/ids.ts";
import type { Logger } from "../../platform/logger.ts";
import type { AmlMetrics } from "./aml.metrics.ts";
import type { AmlRepository } from "./aml.repository.ts";
import type { CaseRow, MovementRow } from "./aml.tables.ts";
import { accountOpeningOf, ibanCountry, legsOf, MONEY_EVENT_TYPES, type MovementLeg } from "./movements.ts";
import {
  type ActivitySnapshot,
  type AmlRuleSetDefinition,
  dayStartMs,
  evaluate,
  type Finding,
  longestLookbackDays,
  longestWindowS,
  type MovementFact,
} from "./rules.ts";

/** The consumer name keys the inbox: renaming it would apply every retained event again. */
export const MONITORING_CONSUMER = "aml.monitoring";
export const MONITORING_EVENT_TYPES = ["account.opened", ...MONEY_EVENT_TYPES];

export interface ActiveRuleSet {
  version: number;
  definition: AmlRuleSetDefinition;
}

export interface MonitoringDependencies {
  repository: AmlRepository;
  ids: IdGenerator;
  clock: Clock;
  events: EventFactory;
  audit: AuditTrail;
  logger: Logger;
  metrics: AmlMetrics;
  /** The active rule set, read in the handler's transaction when it is not in memory. */
  ruleSet(tx: Tx): Promise<ActiveRuleSet>;
  /** At most this many recent movements of a customer are read per evaluation. */
  windowMovementsMax: number;
}

export interface AlertRaisedEvent extends Record<string, unknown> {
  alertId: string;
  caseId: string;
  customerId: string;
  ruleCode: string;
  ruleKind: string;
  ruleSetVersion: number;
  riskScore: number;
  caseRiskScore: number;
  transactionIds: string[];
}

export interface ComplianceCaseOpenedEvent extends Record<string, unknown> {
  caseId: string;
  customerId: string;
}

/**
 * The inbox-backed handler: every money event is applied once — its id is recorded in the same
 * transaction as the movement rows it writes — and evaluated against the active rule set there
 * and then, so an alert exists the moment the money has moved.
 */
export function monitoringHandler(deps: MonitoringDependencies) {
  return async (tx: Tx, event: DomainEvent): Promise<void> => {
    if (!(await deps.repository.claimEvent(tx, event.id, event.type, deps.clock.now()))) return;
    const opening = accountOpeningOf(event);
    if (opening) {
      await deps.repository.upsertAccount(tx, { ...opening, openedAt: new Date(opening.openedAtMs) });
      return;
    }
    const legs = legsOf(event);
    if (legs.length === 0) return;
    const ruleSet = await deps.ruleSet(tx);
    // Accounts are locked in id order, so two transfers between the same accounts cannot deadlock.
    const accounts = new Map<string, Awaited<ReturnType<AmlRepository["lockAccount"]>>>();
    for (const accountId of [...new Set(legs.map((leg) => leg.accountId))].sort()) {
      accounts.set(accountId, await deps.repository.lockAccount(tx, accountId));
    }
    for (const leg of legs) {
      const owner = leg.customerId ?? accounts.get(leg.accountId)?.customer_id;
      if (!owner) {
        // An account opened before monitoring ran and named by no event: nothing to attribute it to.
        deps.logger.warn(
          { eventId: event.id, accountId: leg.accountId },
          "aml: movement on an unknown account",
        );
        continue;
      }
      const counterpartyOwner = leg.counterpartyAccountId
        ? (accounts.get(leg.counterpartyAccountId)?.customer_id ??
          legs.find((other) => other !== leg)?.customerId)
        : undefined;
      const account = accounts.get(leg.accountId);
      const lastActive = account?.last_movement_at ?? account?.opened_at ?? null;
      await applyLeg(deps, tx, event, ruleSet, {
        leg,
        owner,
        ownTransfer: counterpartyOwner === owner,
        lastActiveAtMs: lastActive ? lastActive.getTime() : null,
      });
    }
  };
}

interface LegInput {
  leg: MovementLeg;
  owner: string;
  ownTransfer: boolean;
  lastActiveAtMs: number | null;
}

async function applyLeg(
  deps: MonitoringDependencies,
  tx: Tx,
  event: DomainEvent,
  ruleSet: ActiveRuleSet,
  input: LegInput,
): Promise<void> {
  const { repository } = deps;
  const { leg, owner, ownTransfer } = input;
  const occurredAt = new Date(leg.occurredAtMs);
  const inserted = await repository.insertMovement(tx, {
    transaction_id: leg.transactionId,
    account_id: leg.accountId,
    customer_id: owner,
    kind: leg.kind,
    direction: leg.direction,
    amount_minor: leg.amountMinor,
    currency: leg.currency,
    counterparty_iban: leg.counterpartyIban,
    counterparty_country: ibanCountry(leg.counterpartyIban),
    own_transfer: ownTransfer,
    event_id: event.id,
    occurred_at: occurredAt,
  });
  if (!inserted) return;
  await repository.upsertAccount(tx, {
    accountId: leg.accountId,
    customerId: owner,
    currency: leg.currency,
    openedAt: null,
  });
  await repository.touchAccount(tx, leg.accountId, occurredAt);
  const snapshot = await snapshotFor(deps, tx, ruleSet.definition, {
    ...input,
    fact: factOf(leg, ownTransfer),
  });
  const findings = evaluate(ruleSet.definition, snapshot);
  const context = systemContext("aml-monitoring", event.requestId);
  for (const finding of findings) await raiseAlert(deps, tx, context, { owner, finding, ruleSet, event });
}

function factOf(leg: MovementLeg, ownTransfer: boolean): MovementFact {
  return {
    transactionId: leg.transactionId,
    accountId: leg.accountId,
    kind: leg.kind,
    direction: leg.direction,
    amountMinor: leg.amountMinor,
    currency: leg.currency,
    counterpartyCountry: ibanCountry(leg.counterpartyIban),
    ownTransfer,
    occurredAtMs: leg.occurredAtMs,
  };
}

export function movementFact(row: MovementRow): MovementFact {
  return {
    transactionId: row.transaction_id,
    accountId: row.account_id,
    kind: row.kind,
    direction: row.direction,
    amountMinor: BigInt(row.amount_minor),
    currency: row.currency,
    counterpartyCountry: row.counterparty_country,
    ownTransfer: row.own_transfer,
    occurredAtMs: row.occurred_at.getTime(),
  };
}

const DAY_MS = 86_400_000;

function isoDay(ms: number): string {
  return new Date(dayStartMs(ms)).toISOString().slice(0, 10);
}

/** Reads what the rules need about the customer, and books the movement into today's volume. */
async function snapshotFor(
  deps: MonitoringDependencies,
  tx: Tx,
  definition: AmlRuleSetDefinition,
  input: LegInput & { fact: MovementFact },
): Promise<ActivitySnapshot> {
  const { repository } = deps;
  const { fact, owner } = input;
  const atMs = fact.occurredAtMs;
  const firstDay = await repository.firstActiveDay(tx, owner, definition.currency);
  if (!fact.ownTransfer)
    await repository.addDailyVolume(tx, owner, fact.currency, isoDay(atMs), fact.amountMinor);
  const lookbackDays = longestLookbackDays(definition);
  const volumes = await repository.dailyVolumes(
    tx,
    owner,
    definition.currency,
    isoDay(atMs - lookbackDays * DAY_MS),
    isoDay(atMs),
  );
  const todayMs = dayStartMs(atMs);
  const recent = await repository.recentMovements(
    tx,
    owner,
    new Date(atMs - longestWindowS(definition) * 1000),
    deps.windowMovementsMax,
  );
  return {
    movement: fact,
    recent: recent.map(movementFact),
    accountLastActiveAtMs: input.lastActiveAtMs,
    firstActivityAtMs: firstDay ? firstDay.getTime() : null,
    priorDays: volumes
      .filter((day) => day.day.getTime() < todayMs)
      .map((day) => ({ dayStartMs: day.day.getTime(), volumeMinor: day.volumeMinor })),
    todayVolumeMinor: volumes.find((day) => day.day.getTime() === todayMs)?.volumeMinor ?? 0n,
  };
}

interface AlertInput {
  owner: string;
  finding: Finding;
  ruleSet: ActiveRuleSet;
  event: DomainEvent;
}

/**
 * Puts the finding on the customer's active compliance case, opening one when there is none.
 * A rule that fires again on the same case adds its new transactions to its alert rather than
 * opening a second alert; a firing that adds nothing new changes nothing.
 */
async function raiseAlert(
  deps: MonitoringDependencies,
  tx: Tx,
  context: RequestContext,
  input: AlertInput,
): Promise<void> {
  const { repository, clock, ids } = deps;
  const { owner, finding, ruleSet, event } = input;
  const now = clock.now();
  const { row: caseRow, opened } = await activeCase(deps, tx, owner, now);
  const existing = await repository.alertOnCase(tx, caseRow.id, finding.code);
  let alertId = existing?.id;
  if (existing) {
    if ((await repository.linkTransactions(tx, existing.id, finding.movements)) === 0) return;
    await repository.retriggerAlert(tx, existing.id, now, finding.details);
  } else {
    alertId = ids.next("aal");
    await repository.insertAlert(tx, {
      id: alertId,
      case_id: caseRow.id,
      customer_id: owner,
      rule_code: finding.code,
      rule_kind: finding.kind,
      rule_set_version: ruleSet.version,
      risk_score: finding.riskScore,
      summary: finding.summary,
      details: JSON.stringify(finding.details),
      first_event_id: event.id,
      triggers_count: 1,
      raised_at: now,
      last_triggered_at: now,
    });
    await repository.linkTransactions(tx, alertId, finding.movements);
  }
  const updated = await repository.refreshCaseRisk(tx, caseRow.id, now);
  await publishAlert(deps, tx, context, {
    alertId: alertId!,
    caseRow: updated,
    opened,
    fresh: !existing,
    finding,
    ruleSetVersion: existing?.rule_set_version ?? ruleSet.version,
  });
}

async function activeCase(
  deps: MonitoringDependencies,
  tx: Tx,
  customerId: string,
  now: Date,
): Promise<{ row: CaseRow; opened: boolean }> {
  const existing = await deps.repository.lockActiveCase(tx, customerId);
  if (existing) return { row: existing, opened: false };
  const row: CaseRow = {
    id: deps.ids.next("cmc"),
    customer_id: customerId,
    status: "open",
    risk_score: 0,
    alerts_count: 0,
    opened_at: now,
    updated_at: now,
    escalated_at: null,
    escalated_by: null,
    accounts_frozen_at: null,
    accounts_frozen_by: null,
    closed_at: null,
    closed_by: null,
    resolution: null,
    report_id: null,
  };
  // Two events of one customer racing here: the one-active-case index fails the second, whose
  // transaction (inbox row included) rolls back; redelivered, it finds this case.
  await deps.repository.insertCase(tx, row);
  return { row, opened: true };
}

async function publishAlert(
  deps: MonitoringDependencies,
  tx: Tx,
  context: RequestContext,
  input: {
    alertId: string;
    caseRow: CaseRow;
    opened: boolean;
    fresh: boolean;
    finding: Finding;
    ruleSetVersion: number;
  },
): Promise<void> {
  const { events, audit, metrics } = deps;
  const { caseRow, finding } = input;
  const type = input.fresh ? "aml.alert_raised" : "aml.alert_updated";
  const data: AlertRaisedEvent = {
    alertId: input.alertId,
    caseId: caseRow.id,
    customerId: caseRow.customer_id,
    ruleCode: finding.code,
    ruleKind: finding.kind,
    ruleSetVersion: input.ruleSetVersion,
    riskScore: finding.riskScore,
    caseRiskScore: caseRow.risk_score,
    transactionIds: finding.movements.map((movement) => movement.transactionId),
  };
  const opened: ComplianceCaseOpenedEvent = { caseId: caseRow.id, customerId: caseRow.customer_id };
  await appendToOutbox(tx, [
    ...(input.opened ? [events.create(context, "aml.case_opened", caseRow.id, opened)] : []),
    events.create(context, type, input.alertId, data),
  ]);
  if (input.opened) {
    await audit.record(tx, context, { action: "aml.case_opened", subjectId: caseRow.id, details: opened });
  }
  await audit.record(tx, context, { action: type, subjectId: input.alertId, details: data });
  if (input.opened) metrics.caseOpened();
  metrics.alertRaised(finding.code);
}

import { type Static, Type } from "typebox";
import { Value } from "typebox/value";

/**
 * AML monitoring rules as data. Each rule is a pattern detector of one kind with its own
 * thresholds; a rule set is a versioned list of them plus the currency their amounts are in.
 * Everything here is pure: the projection hands it one movement and the customer's recent
 * activity, and gets back the rules that fire, with the movements that made them fire.
 */
export const RULE_KINDS = [
  "structuring",
  "rapid_movement",
  "high_risk_jurisdiction",
  "volume_spike",
  "round_amounts",
  "dormant_reactivated",
] as const;
export type RuleKind = (typeof RULE_KINDS)[number];

export const RISK_SCORE_MAX = 100;
export const RULES_PER_SET_MAX = 50;
/** The longest window any rule may look back over: it bounds what one evaluation reads. */
export const WINDOW_MAX_S = 31 * 86_400;
const LOOKBACK_DAYS_MAX = 365;
const MINOR_MAX = 1e15;

const Code = Type.String({
  pattern: "^[a-z][a-z0-9_]{0,63}$",
  description: "Stable rule code, e.g. structuring",
});
const RiskScore = Type.Integer({
  minimum: 1,
  maximum: RISK_SCORE_MAX,
  description: "Added to the case's risk",
});
const Minor = (description: string) => Type.Integer({ minimum: 0, maximum: MINOR_MAX, description });
const WindowS = Type.Integer({ minimum: 60, maximum: WINDOW_MAX_S, description: "Seconds looked back" });
const closed = { additionalProperties: false } as const;

export const StructuringRuleSchema = Type.Object(
  {
    code: Code,
    kind: Type.Literal("structuring"),
    riskScore: RiskScore,
    thresholdMinor: Type.Integer({ minimum: 1, maximum: MINOR_MAX, description: "The reporting threshold" }),
    bandPercent: Type.Integer({
      minimum: 1,
      maximum: 50,
      description: "Cash deposits from this many percent below the threshold up to just under it count",
    }),
    windowS: WindowS,
    countMin: Type.Integer({ minimum: 2, maximum: 100 }),
  },
  closed,
);

export const RapidMovementRuleSchema = Type.Object(
  {
    code: Code,
    kind: Type.Literal("rapid_movement"),
    riskScore: RiskScore,
    windowS: WindowS,
    inMinMinor: Minor("Money in within the window must reach this"),
    outPercentMin: Type.Integer({
      minimum: 1,
      maximum: 100,
      description: "Money out within the window, as a percentage of the money in",
    }),
  },
  closed,
);

export const HighRiskJurisdictionRuleSchema = Type.Object(
  {
    code: Code,
    kind: Type.Literal("high_risk_jurisdiction"),
    riskScore: RiskScore,
    countries: Type.Array(Type.String({ pattern: "^[A-Z]{2}$" }), {
      minItems: 1,
      maxItems: 250,
      uniqueItems: true,
      description: "ISO 3166-1 alpha-2 codes; the counterparty IBAN's country is compared",
    }),
    amountMinMinor: Minor("Movements below this are ignored"),
  },
  closed,
);

export const VolumeSpikeRuleSchema = Type.Object(
  {
    code: Code,
    kind: Type.Literal("volume_spike"),
    riskScore: RiskScore,
    multiplier: Type.Integer({
      minimum: 2,
      maximum: 1_000,
      description: "Today's volume over the daily mean",
    }),
    lookbackDays: Type.Integer({ minimum: 1, maximum: LOOKBACK_DAYS_MAX }),
    historyDaysMin: Type.Integer({
      minimum: 1,
      maximum: LOOKBACK_DAYS_MAX,
      description: "Days of history the customer needs before the rule applies",
    }),
    amountMinMinor: Minor("Today's volume must reach this as well"),
  },
  closed,
);

export const RoundAmountsRuleSchema = Type.Object(
  {
    code: Code,
    kind: Type.Literal("round_amounts"),
    riskScore: RiskScore,
    unitMinor: Type.Integer({
      minimum: 1,
      maximum: MINOR_MAX,
      description: "An amount is round when a multiple of this",
    }),
    countMin: Type.Integer({ minimum: 2, maximum: 100 }),
    windowS: WindowS,
    amountMinMinor: Minor("Round amounts below this are ignored"),
  },
  closed,
);

export const DormantReactivatedRuleSchema = Type.Object(
  {
    code: Code,
    kind: Type.Literal("dormant_reactivated"),
    riskScore: RiskScore,
    dormantDays: Type.Integer({ minimum: 1, maximum: 3_650 }),
    amountMinMinor: Minor("The first movement after dormancy must reach this"),
  },
  closed,
);

export const AmlRuleSchema = Type.Union([
  StructuringRuleSchema,
  RapidMovementRuleSchema,
  HighRiskJurisdictionRuleSchema,
  VolumeSpikeRuleSchema,
  RoundAmountsRuleSchema,
  DormantReactivatedRuleSchema,
]);

export const AmlRuleSetDefinitionSchema = Type.Object(
  {
    currency: Type.String({
      pattern: "^[A-Z]{3}$",
      description:
        "The currency of every amount in the rules; movements in others meet only the rules without amounts",
    }),
    rules: Type.Array(AmlRuleSchema, { minItems: 1, maxItems: RULES_PER_SET_MAX }),
  },
  closed,
);

export type AmlRule = Static<typeof AmlRuleSchema>;
export type AmlRuleSetDefinition = Static<typeof AmlRuleSetDefinitionSchema>;

/** The problems of a candidate rule set, empty when it is valid: its shape, then unique codes. */
export function ruleSetProblems(candidate: unknown): string[] {
  if (!Value.Check(AmlRuleSetDefinitionSchema, candidate)) {
    return [...Value.Errors(AmlRuleSetDefinitionSchema, candidate)]
      .slice(0, 10)
      .map((error) => `${error.instancePath || "/"} ${error.message}`);
  }
  const problems: string[] = [];
  const codes = new Set<string>();
  for (const [index, rule] of candidate.rules.entries()) {
    if (codes.has(rule.code)) problems.push(`/rules/${index}/code "${rule.code}" is used twice`);
    codes.add(rule.code);
    if (rule.kind === "volume_spike" && rule.historyDaysMin > rule.lookbackDays)
      problems.push(`/rules/${index} historyDaysMin must not exceed lookbackDays`);
  }
  return problems;
}

/** One booked money movement on one customer account, as the monitoring sees it. */
export interface MovementFact {
  transactionId: string;
  accountId: string;
  kind: "deposit" | "withdrawal" | "transfer" | "inbound_credit";
  direction: "in" | "out";
  amountMinor: bigint;
  currency: string;
  counterpartyCountry: string | null;
  /** A transfer between two accounts of the same customer: no money changed hands. */
  ownTransfer: boolean;
  occurredAtMs: number;
}

/** What one evaluation knows: the movement and the customer's activity before it. */
export interface ActivitySnapshot {
  movement: MovementFact;
  /** The customer's movements within the longest window, this one included, newest first. */
  recent: MovementFact[];
  /** The account's last movement before this one, else when it was opened, else null. */
  accountLastActiveAtMs: number | null;
  /** When the customer's first movement in the rule set's currency was, before this one. */
  firstActivityAtMs: number | null;
  /** The customer's daily volume in the rule set's currency over whole days before today. */
  priorDays: Array<{ dayStartMs: number; volumeMinor: bigint }>;
  /** The customer's volume today in the rule set's currency, this movement included. */
  todayVolumeMinor: bigint;
}

/** A movement is one transaction on one account (a transfer inside the bank has two). */
export interface MovementKey {
  transactionId: string;
  accountId: string;
}

export interface Finding {
  code: string;
  kind: RuleKind;
  riskScore: number;
  /** One sentence an analyst reads in the queue. */
  summary: string;
  /** The figures behind the finding (counts, sums, thresholds) as plain JSON values. */
  details: Record<string, string | number | boolean | null>;
  /** The movements that make up the pattern, this one included. */
  movements: MovementKey[];
}

const DAY_MS = 86_400_000;

export function dayStartMs(atMs: number): number {
  return Math.floor(atMs / DAY_MS) * DAY_MS;
}

/** The rules of `definition` that fire for the snapshot's movement, in the rule set's order. */
export function evaluate(definition: AmlRuleSetDefinition, snapshot: ActivitySnapshot): Finding[] {
  const findings: Finding[] = [];
  for (const rule of definition.rules) {
    const finding = evaluateRule(rule, definition.currency, snapshot);
    if (finding) findings.push(finding);
  }
  return findings;
}

function evaluateRule(rule: AmlRule, currency: string, snapshot: ActivitySnapshot): Finding | undefined {
  // Amount thresholds are in the rule set's currency; without exchange rates other currencies
  // meet only the rule that needs no amount (a jurisdiction rule with no minimum).
  const inCurrency = snapshot.movement.currency === currency;
  switch (rule.kind) {
    case "structuring":
      return inCurrency ? structuring(rule, snapshot) : undefined;
    case "rapid_movement":
      return inCurrency ? rapidMovement(rule, snapshot) : undefined;
    case "high_risk_jurisdiction":
      return inCurrency || rule.amountMinMinor === 0 ? highRiskJurisdiction(rule, snapshot) : undefined;
    case "volume_spike":
      return inCurrency ? volumeSpike(rule, snapshot) : undefined;
    case "round_amounts":
      return inCurrency ? roundAmounts(rule, snapshot) : undefined;
    case "dormant_reactivated":
      return inCurrency ? dormantReactivated(rule, snapshot) : undefined;
  }
}

type RuleOf<K extends RuleKind> = Extract<AmlRule, { kind: K }>;

function within(snapshot: ActivitySnapshot, windowS: number, currency: string): MovementFact[] {
  const fromMs = snapshot.movement.occurredAtMs - windowS * 1000;
  return snapshot.recent.filter(
    (fact) => fact.occurredAtMs >= fromMs && fact.currency === currency && !fact.ownTransfer,
  );
}

/** The lowest amount that counts: `bandPercent` below the threshold, rounded up to a minor unit. */
export function structuringBandFloorMinor(rule: RuleOf<"structuring">): bigint {
  const threshold = BigInt(rule.thresholdMinor);
  return threshold - (threshold * BigInt(rule.bandPercent)) / 100n;
}

export function inStructuringBand(rule: RuleOf<"structuring">, fact: MovementFact): boolean {
  return (
    fact.kind === "deposit" &&
    fact.amountMinor >= structuringBandFloorMinor(rule) &&
    fact.amountMinor < BigInt(rule.thresholdMinor)
  );
}

function structuring(rule: RuleOf<"structuring">, snapshot: ActivitySnapshot): Finding | undefined {
  const { movement } = snapshot;
  if (!inStructuringBand(rule, movement)) return undefined;
  const band = within(snapshot, rule.windowS, movement.currency).filter((fact) =>
    inStructuringBand(rule, fact),
  );
  if (band.length < rule.countMin) return undefined;
  return {
    ...header(rule),
    summary: `${band.length} cash deposits just under the reporting threshold within ${hours(rule.windowS)} h`,
    details: {
      deposits: band.length,
      countMin: rule.countMin,
      thresholdMinor: String(rule.thresholdMinor),
      bandFloorMinor: String(structuringBandFloorMinor(rule)),
      totalMinor: String(sum(band)),
      windowS: rule.windowS,
    },
    movements: band.map(keyOf),
  };
}

function rapidMovement(rule: RuleOf<"rapid_movement">, snapshot: ActivitySnapshot): Finding | undefined {
  const { movement } = snapshot;
  if (movement.direction !== "out" || movement.ownTransfer) return undefined;
  const facts = within(snapshot, rule.windowS, movement.currency);
  const ins = facts.filter((fact) => fact.direction === "in");
  const outs = facts.filter((fact) => fact.direction === "out");
  const inMinor = sum(ins);
  const outMinor = sum(outs);
  if (ins.length === 0 || inMinor < BigInt(rule.inMinMinor)) return undefined;
  if (outMinor * 100n < inMinor * BigInt(rule.outPercentMin)) return undefined;
  return {
    ...header(rule),
    summary: `${percent(outMinor, inMinor)} % of the money received left again within ${hours(rule.windowS)} h`,
    details: {
      inMinor: String(inMinor),
      outMinor: String(outMinor),
      outPercentMin: rule.outPercentMin,
      windowS: rule.windowS,
    },
    movements: [...ins, ...outs].map(keyOf),
  };
}

function highRiskJurisdiction(
  rule: RuleOf<"high_risk_jurisdiction">,
  snapshot: ActivitySnapshot,
): Finding | undefined {
  const { movement } = snapshot;
  const country = movement.counterpartyCountry;
  if (!country || !rule.countries.includes(country)) return undefined;
  if (movement.amountMinor < BigInt(rule.amountMinMinor)) return undefined;
  return {
    ...header(rule),
    summary: `Money ${movement.direction === "out" ? "sent to" : "received from"} a counterparty in ${country}, a high-risk jurisdiction`,
    details: { country, direction: movement.direction, amountMinor: String(movement.amountMinor) },
    movements: [keyOf(movement)],
  };
}

function volumeSpike(rule: RuleOf<"volume_spike">, snapshot: ActivitySnapshot): Finding | undefined {
  const { movement, firstActivityAtMs, todayVolumeMinor } = snapshot;
  if (movement.ownTransfer || firstActivityAtMs === null) return undefined;
  const todayMs = dayStartMs(movement.occurredAtMs);
  const historyDays = Math.floor((todayMs - dayStartMs(firstActivityAtMs)) / DAY_MS);
  if (historyDays < rule.historyDaysMin) return undefined;
  if (todayVolumeMinor < BigInt(rule.amountMinMinor)) return undefined;
  const days = Math.min(historyDays, rule.lookbackDays);
  const fromMs = todayMs - days * DAY_MS;
  const priorMinor = snapshot.priorDays
    .filter((day) => day.dayStartMs >= fromMs && day.dayStartMs < todayMs)
    .reduce((total, day) => total + day.volumeMinor, 0n);
  // today >= multiplier × (prior / days), kept in integers: money is never a float.
  if (todayVolumeMinor * BigInt(days) < BigInt(rule.multiplier) * priorMinor) return undefined;
  return {
    ...header(rule),
    summary: `Today's volume is at least ${rule.multiplier} times the customer's daily mean of the last ${days} days`,
    details: {
      todayMinor: String(todayVolumeMinor),
      dailyMeanMinor: String(priorMinor / BigInt(days)),
      days,
      multiplier: rule.multiplier,
    },
    movements: [keyOf(movement)],
  };
}

export function isRound(rule: RuleOf<"round_amounts">, fact: MovementFact): boolean {
  return fact.amountMinor >= BigInt(rule.amountMinMinor) && fact.amountMinor % BigInt(rule.unitMinor) === 0n;
}

function roundAmounts(rule: RuleOf<"round_amounts">, snapshot: ActivitySnapshot): Finding | undefined {
  const { movement } = snapshot;
  if (movement.ownTransfer || !isRound(rule, movement)) return undefined;
  const round = within(snapshot, rule.windowS, movement.currency).filter((fact) => isRound(rule, fact));
  if (round.length < rule.countMin) return undefined;
  return {
    ...header(rule),
    summary: `${round.length} round amounts within ${hours(rule.windowS)} h`,
    details: { roundAmounts: round.length, countMin: rule.countMin, unitMinor: String(rule.unitMinor) },
    movements: round.map(keyOf),
  };
}

function dormantReactivated(
  rule: RuleOf<"dormant_reactivated">,
  snapshot: ActivitySnapshot,
): Finding | undefined {
  const { movement, accountLastActiveAtMs } = snapshot;
  if (accountLastActiveAtMs === null || movement.amountMinor < BigInt(rule.amountMinMinor)) return undefined;
  const idleDays = Math.floor((movement.occurredAtMs - accountLastActiveAtMs) / DAY_MS);
  if (idleDays < rule.dormantDays) return undefined;
  return {
    ...header(rule),
    summary: `An account idle for ${idleDays} days moved money again`,
    details: { idleDays, dormantDays: rule.dormantDays, amountMinor: String(movement.amountMinor) },
    movements: [keyOf(movement)],
  };
}

function keyOf(fact: MovementFact): MovementKey {
  return { transactionId: fact.transactionId, accountId: fact.accountId };
}

function header(rule: AmlRule) {
  return { code: rule.code, kind: rule.kind, riskScore: rule.riskScore };
}

function sum(facts: MovementFact[]): bigint {
  return facts.reduce((total, fact) => total + fact.amountMinor, 0n);
}

function hours(seconds: number): number {
  return Math.round(seconds / 3_600);
}

function percent(part: bigint, whole: bigint): string {
  return whole === 0n ? "0" : String((part * 100n) / whole);
}

/**
 * Version 1, seeded at start when there is none; amounts in EUR. The reporting threshold is the
 * €10,000 of the EU cash controls and most national cash reporting; the jurisdictions are the
 * FATF "call for action" list (Iran, North Korea, Myanmar) — compliance keeps the list current by
 * creating a new version. Scores are weighted so that structuring or a high-risk jurisdiction on
 * its own outranks habit signals (round amounts, a spike), and two patterns together lead the queue.
 */
export const DEFAULT_RULE_SET: AmlRuleSetDefinition = {
  currency: "EUR",
  rules: [
    {
      code: "structuring",
      kind: "structuring",
      riskScore: 40,
      thresholdMinor: 1_000_000,
      bandPercent: 10,
      windowS: 7 * 86_400,
      countMin: 3,
    },
    {
      code: "rapid_movement",
      kind: "rapid_movement",
      riskScore: 35,
      windowS: 48 * 3_600,
      inMinMinor: 500_000,
      outPercentMin: 80,
    },
    {
      code: "high_risk_jurisdiction",
      kind: "high_risk_jurisdiction",
      riskScore: 50,
      countries: ["IR", "KP", "MM"],
      amountMinMinor: 0,
    },
    {
      code: "volume_spike",
      kind: "volume_spike",
      riskScore: 30,
      multiplier: 10,
      lookbackDays: 90,
      historyDaysMin: 30,
      amountMinMinor: 500_000,
    },
    {
      code: "round_amounts",
      kind: "round_amounts",
      riskScore: 20,
      unitMinor: 100_000,
      countMin: 3,
      windowS: 7 * 86_400,
      amountMinMinor: 100_000,
    },
    {
      code: "dormant_reactivated",
      kind: "dormant_reactivated",
      riskScore: 30,
      dormantDays: 180,
      amountMinMinor: 100_000,
    },
  ],
};

/** The longest window of a rule set: how far back one evaluation reads movements. */
export function longestWindowS(definition: AmlRuleSetDefinition): number {
  const windows = definition.rules.map((rule) => ("windowS" in rule ? rule.windowS : 0));
  return Math.max(0, ...windows);
}

/** The longest lookback in days of a rule set's volume rules, or 0 when it has none. */
export function longestLookbackDays(definition: AmlRuleSetDefinition): number {
  const days = definition.rules.map((rule) => (rule.kind === "volume_spike" ? rule.lookbackDays : 0));
  return Math.max(0, ...days);
}

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  FEATURE_KINDS,
  FEATURE_NAMES,
  type FeatureName,
  type Features,
} from "../../src/modules/fraud/features.ts";
import { replay } from "../../src/modules/fraud/fraud.service.ts";
import type { DecisionRow } from "../../src/modules/fraud/fraud.tables.ts";
import {
  DEFAULT_RULE_SET,
  evaluate,
  outcomeFor,
  type Rule,
  type RuleSetDefinition,
  ruleFires,
  ruleSetProblems,
  type Thresholds,
} from "../../src/modules/fraud/rules.ts";
import { RISK_OUTCOMES } from "../../src/platform/fraud.ts";

const THRESHOLDS: Thresholds = { challenge: 30, hold: 60, block: 90 };

function rule(partial: Partial<Rule> & Pick<Rule, "feature" | "operator">): Rule {
  return { code: partial.feature, weight: 10, ...partial };
}

describe("a rule", () => {
  it("compares numbers with gt, gte, lt, lte and eq", () => {
    const features = { amount_z_score: 4 };
    const fires = (operator: Rule["operator"], value: number) =>
      ruleFires(rule({ feature: "amount_z_score", operator, value }), features);
    expect([fires("gt", 4), fires("gt", 3.9)]).toEqual([false, true]);
    expect([fires("gte", 4), fires("gte", 4.1)]).toEqual([true, false]);
    expect([fires("lt", 4), fires("lt", 4.1)]).toEqual([false, true]);
    expect([fires("lte", 4), fires("lte", 3.9)]).toEqual([true, false]);
    expect([fires("eq", 4), fires("eq", 5)]).toEqual([true, false]);
  });

  it("is_true fires on true only, eq matches booleans exactly", () => {
    const isTrue = rule({ feature: "new_device", operator: "is_true" });
    expect(ruleFires(isTrue, { new_device: true })).toBe(true);
    expect(ruleFires(isTrue, { new_device: false })).toBe(false);
    expect(
      ruleFires(rule({ feature: "new_device", operator: "eq", value: false }), { new_device: false }),
    ).toBe(true);
  });

  it("never fires on a feature that is null (no history) or missing (an older decision)", () => {
    expect(
      ruleFires(rule({ feature: "amount_z_score", operator: "lt", value: 100 }), { amount_z_score: null }),
    ).toBe(false);
    expect(ruleFires(rule({ feature: "amount_z_score", operator: "lt", value: 100 }), {})).toBe(false);
  });
});

describe("a rule set", () => {
  it("scores the sum of fired weights, capped at 100, with the fired codes in order as reasons", () => {
    const definition: RuleSetDefinition = {
      rules: [
        rule({ code: "b", feature: "new_device", operator: "is_true", weight: 70 }),
        rule({ code: "a", feature: "new_country", operator: "is_true", weight: 50 }),
        rule({ code: "c", feature: "new_payee", operator: "is_true", weight: 5 }),
      ],
      thresholds: THRESHOLDS,
    };
    expect(evaluate(definition, { new_device: true, new_country: true, new_payee: false })).toEqual({
      outcome: "block",
      score: 100,
      reasons: ["b", "a"],
    });
    expect(evaluate(definition, { new_payee: true })).toEqual({ outcome: "allow", score: 5, reasons: ["c"] });
  });

  it("takes the outcome from the thresholds, each inclusive", () => {
    expect([29, 30, 59, 60, 89, 90].map((score) => outcomeFor(score, THRESHOLDS))).toEqual([
      "allow",
      "challenge",
      "challenge",
      "hold",
      "hold",
      "block",
    ]);
  });

  it("the default set is valid", () => {
    expect(ruleSetProblems(DEFAULT_RULE_SET)).toEqual([]);
  });

  it("refuses unknown features and operators, misfitting operators, twice-used codes and unordered thresholds", () => {
    const valid = { rules: [rule({ feature: "new_device", operator: "is_true" })], thresholds: THRESHOLDS };
    const withRule = (extra: Record<string, unknown>) => ({
      ...valid,
      rules: [{ ...valid.rules[0], ...extra }],
    });
    expect(ruleSetProblems(withRule({ feature: "shoe_size" })).join()).toMatch(/feature/);
    expect(ruleSetProblems(withRule({ operator: "contains" })).join()).toMatch(/operator/);
    expect(ruleSetProblems(withRule({ extra: 1 })).length).toBeGreaterThan(0);
    expect(ruleSetProblems(withRule({ weight: 101 })).length).toBeGreaterThan(0);
    expect(ruleSetProblems(withRule({ feature: "amount_z_score" })).join()).toMatch(
      /is_true needs a boolean feature/,
    );
    expect(ruleSetProblems(withRule({ operator: "gt", value: 1 })).join()).toMatch(
      /gt needs a number feature/,
    );
    expect(ruleSetProblems(withRule({ value: true })).join()).toMatch(/is_true takes no value/);
    expect(ruleSetProblems(withRule({ operator: "eq", value: 3 })).join()).toMatch(
      /eq on new_device needs a boolean/,
    );
    expect(ruleSetProblems({ ...valid, rules: [valid.rules[0], valid.rules[0]] }).join()).toMatch(
      /used twice/,
    );
    expect(ruleSetProblems({ ...valid, thresholds: { challenge: 70, hold: 60, block: 90 } }).join()).toMatch(
      /ordered/,
    );
    expect(ruleSetProblems({ ...valid, rules: [] }).length).toBeGreaterThan(0);
  });
});

const booleanFeatures = FEATURE_NAMES.filter((name) => FEATURE_KINDS[name] === "boolean");

const arbitraryRules = fc
  .uniqueArray(fc.constantFrom(...booleanFeatures), { minLength: 1, maxLength: booleanFeatures.length })
  .chain((features) =>
    fc.tuple(
      fc.constant(features),
      fc.array(fc.integer({ min: 0, max: 100 }), { minLength: features.length, maxLength: features.length }),
    ),
  )
  .map(([features, weights]) =>
    features.map(
      (feature, index): Rule => ({ code: feature, feature, operator: "is_true", weight: weights[index]! }),
    ),
  );

const arbitraryThresholds = fc
  .tuple(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 100 }))
  .map((values) => values.sort((a, b) => a - b))
  .map(([challenge, hold, block]): Thresholds => ({ challenge: challenge!, hold: hold!, block: block! }));

function firing(names: readonly FeatureName[]): Partial<Features> {
  return Object.fromEntries(booleanFeatures.map((name) => [name, names.includes(name)]));
}

describe("properties", () => {
  it("the score is the capped sum of fired weights, and never falls when more rules fire", () => {
    fc.assert(
      fc.property(
        arbitraryRules,
        arbitraryThresholds,
        fc.infiniteStream(fc.boolean()),
        (rules, thresholds, coin) => {
          const definition = { rules, thresholds };
          const some = rules.filter(() => coin.next().value).map((r) => r.feature);
          const more = [...some, ...rules.filter(() => coin.next().value).map((r) => r.feature)];
          const fewer = evaluate(definition, firing(some));
          const larger = evaluate(definition, firing(more));
          const expected = Math.min(
            100,
            rules.filter((r) => some.includes(r.feature)).reduce((sum, r) => sum + r.weight, 0),
          );
          expect(fewer.score).toBe(expected);
          expect(larger.score).toBeGreaterThanOrEqual(fewer.score);
          expect(RISK_OUTCOMES.indexOf(larger.outcome)).toBeGreaterThanOrEqual(
            RISK_OUTCOMES.indexOf(fewer.outcome),
          );
        },
      ),
    );
  });

  it("the outcome never softens as the score rises, for any ordered thresholds", () => {
    fc.assert(
      fc.property(
        arbitraryThresholds,
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 0, max: 100 }),
        (t, a, b) => {
          const [low, high] = a <= b ? [a, b] : [b, a];
          expect(RISK_OUTCOMES.indexOf(outcomeFor(high, t))).toBeGreaterThanOrEqual(
            RISK_OUTCOMES.indexOf(outcomeFor(low, t)),
          );
        },
      ),
    );
  });

  it("every generated rule set of this shape is valid", () => {
    fc.assert(
      fc.property(arbitraryRules, arbitraryThresholds, (rules, thresholds) => {
        expect(ruleSetProblems({ rules, thresholds })).toEqual([]);
      }),
    );
  });
});

describe("a dry run's replay", () => {
  function decision(id: string, outcome: DecisionRow["outcome"], score: number, features: Partial<Features>) {
    return {
      id,
      outcome,
      score,
      features,
      rule_set_version: 1,
      customer_id: "cus_x",
      transfer_id: "trf_x",
      reasons: [],
      input: {},
      created_at: new Date(0),
    } as unknown as DecisionRow;
  }

  it("counts outcomes before and after and lists exactly the decisions whose outcome changed", () => {
    const candidate: RuleSetDefinition = {
      rules: [rule({ code: "new_payee", feature: "new_payee", operator: "is_true", weight: 60 })],
      thresholds: THRESHOLDS,
    };
    const report = replay(candidate, [
      decision("fdc_1", "allow", 10, { new_payee: true }),
      decision("fdc_2", "allow", 0, { new_payee: false }),
      decision("fdc_3", "hold", 60, { new_payee: true }),
      decision("fdc_4", "block", 95, { new_payee: false }),
    ]);
    expect(report).toEqual({
      replayed: 4,
      before: { allow: 2, challenge: 0, hold: 1, block: 1 },
      after: { allow: 2, challenge: 0, hold: 2, block: 0 },
      changed: 2,
      changes: [
        {
          decisionId: "fdc_1",
          before: { outcome: "allow", score: 10, ruleSetVersion: 1 },
          after: { outcome: "hold", score: 60, reasons: ["new_payee"] },
        },
        {
          decisionId: "fdc_4",
          before: { outcome: "block", score: 95, ruleSetVersion: 1 },
          after: { outcome: "allow", score: 0, reasons: [] },
        },
      ],
    });
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type ActivitySnapshot,
  type AmlRuleSetDefinition,
  DEFAULT_RULE_SET,
  evaluate,
  type MovementFact,
} from "../../src/modules/aml/rules.ts";

/**
 * Invariants of the pure rules, over random customer histories. Structuring is checked against
 * a naive oracle; every rule is checked for what must never change its answer.
 */

const NOW_MS = Date.parse("2031-01-15T12:00:00Z");
const DAY_MS = 86_400_000;
const structuringRule = DEFAULT_RULE_SET.rules.find((rule) => rule.kind === "structuring")!;
if (structuringRule.kind !== "structuring") throw new Error("the default set has a structuring rule");

const fact = fc.record({
  kind: fc.constantFrom("deposit", "withdrawal", "transfer", "inbound_credit") as fc.Arbitrary<
    MovementFact["kind"]
  >,
  direction: fc.constantFrom("in", "out") as fc.Arbitrary<MovementFact["direction"]>,
  // Amounts concentrated around the threshold, so that the band is hit often.
  amountMinor: fc.oneof(fc.bigInt(850_000n, 1_050_000n), fc.bigInt(1n, 2_000_000n)),
  ageMs: fc.integer({ min: 0, max: 10 * DAY_MS }),
  ownTransfer: fc.boolean(),
});

type GeneratedFact = typeof fact extends fc.Arbitrary<infer T> ? T : never;

const history = fc.array(fact, { minLength: 1, maxLength: 30 });

function snapshotOf(generated: Array<GeneratedFact>, currency = "EUR"): ActivitySnapshot {
  const facts: MovementFact[] = generated
    .map((item, index) => ({
      transactionId: `trf_${index.toString(16).padStart(32, "0")}`,
      accountId: "acc_1",
      kind: item.kind,
      direction:
        item.kind === "deposit" || item.kind === "inbound_credit"
          ? "in"
          : item.kind === "withdrawal"
            ? "out"
            : item.direction,
      amountMinor: item.amountMinor,
      currency,
      counterpartyCountry: null,
      ownTransfer: item.kind === "transfer" && item.ownTransfer,
      occurredAtMs: NOW_MS - (index === 0 ? 0 : item.ageMs),
    }))
    .sort((a, b) => b.occurredAtMs - a.occurredAtMs);
  const movement = facts.find((item) => item.transactionId.endsWith("0".repeat(32)))!;
  return {
    movement,
    recent: facts,
    accountLastActiveAtMs: NOW_MS - DAY_MS,
    firstActivityAtMs: NOW_MS - 100 * DAY_MS,
    priorDays: [],
    todayVolumeMinor: 0n,
  };
}

/** Findings with their movements as a set: which movements, not in which order. */
function normalised(findings: ReturnType<typeof evaluate>) {
  return findings.map((finding) => ({
    ...finding,
    movements: finding.movements.map((movement) => movement.transactionId).sort(),
  }));
}

function codes(definition: AmlRuleSetDefinition, snapshot: ActivitySnapshot): string[] {
  return evaluate(definition, snapshot).map((finding) => finding.code);
}

describe("AML rule invariants", () => {
  it("structuring fires exactly when the movement and at least countMin deposits in the window are in the band", () => {
    fc.assert(
      fc.property(history, (generated) => {
        const snapshot = snapshotOf(generated);
        const rule = structuringRule;
        const floor =
          BigInt(rule.thresholdMinor) - (BigInt(rule.thresholdMinor) * BigInt(rule.bandPercent)) / 100n;
        const inBand = (item: MovementFact) =>
          item.kind === "deposit" &&
          item.amountMinor >= floor &&
          item.amountMinor < BigInt(rule.thresholdMinor);
        const windowed = snapshot.recent.filter(
          (item) => item.occurredAtMs >= NOW_MS - rule.windowS * 1000 && inBand(item),
        );
        const expected = inBand(snapshot.movement) && windowed.length >= rule.countMin;
        expect(codes(DEFAULT_RULE_SET, snapshot).includes("structuring")).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });

  it("the order in which history is read never changes which rules fire, with which movements and figures", () => {
    fc.assert(
      fc.property(history, fc.integer(), (generated, seed) => {
        const snapshot = snapshotOf(generated);
        const shuffled = [...snapshot.recent].sort(
          (a, b) => ((a.occurredAtMs ^ seed) % 7) - ((b.occurredAtMs ^ seed) % 7),
        );
        expect(normalised(evaluate(DEFAULT_RULE_SET, { ...snapshot, recent: shuffled }))).toEqual(
          normalised(evaluate(DEFAULT_RULE_SET, snapshot)),
        );
      }),
    );
  });

  it("movements between one's own accounts never make a finding, and findings name only movements of the history", () => {
    fc.assert(
      fc.property(history, (generated) => {
        const snapshot = snapshotOf(generated);
        const findings = evaluate(DEFAULT_RULE_SET, snapshot);
        if (snapshot.movement.ownTransfer) expect(findings).toEqual([]);
        const known = new Set(snapshot.recent.map((item) => item.transactionId));
        for (const finding of findings) {
          expect(finding.movements.every((movement) => known.has(movement.transactionId))).toBe(true);
          const movements = finding.movements.map((movement) => movement.transactionId);
          expect(movements).toContain(snapshot.movement.transactionId);
          expect(
            snapshot.recent
              .filter((item) => movements.includes(item.transactionId))
              .some((item) => item.ownTransfer),
          ).toBe(false);
        }
      }),
    );
  });

  it("movements in another currency than the rule set's meet no amount-based rule", () => {
    fc.assert(
      fc.property(history, (generated) => {
        expect(codes(DEFAULT_RULE_SET, snapshotOf(generated, "USD"))).toEqual([]);
      }),
    );
  });
});

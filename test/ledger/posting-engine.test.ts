import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type AccountState,
  availableMinor,
  type EntryRequest,
  planEntries,
} from "../../src/modules/ledger/posting.engine.ts";
import { InvariantViolation } from "../../src/platform/errors.ts";

function account(id: string, overrides: Partial<AccountState> = {}): AccountState {
  return {
    id,
    kind: "current",
    ownerCustomerId: `cus_${id}`,
    currency: "EUR",
    status: "active",
    bookedMinor: 0n,
    heldMinor: 0n,
    overdraftLimitMinor: 0n,
    allowNegative: false,
    postingSeq: 0n,
    ...overrides,
  };
}

function transfer(id: number, from: string, to: string, amountMinor: bigint, currency = "EUR"): EntryRequest {
  return {
    entryId: `jrn_${id}`,
    kind: "transfer",
    transferId: null,
    reference: null,
    currency,
    legs: [
      { accountId: from, amountMinor: -amountMinor },
      { accountId: to, amountMinor },
    ],
  };
}

const ACCOUNT_IDS = ["a", "b", "c", "d", "sys"];

function world(): Map<string, AccountState> {
  return new Map([
    ["a", account("a", { bookedMinor: 10_000n })],
    ["b", account("b", { bookedMinor: 500n, heldMinor: 200n })],
    ["c", account("c", { overdraftLimitMinor: 1_000n })],
    ["d", account("d", { currency: "JPY", bookedMinor: 5_000n })],
    ["sys", account("sys", { kind: "system", ownerCustomerId: null, allowNegative: true })],
  ]);
}

const entryArbitrary = fc.record({
  from: fc.constantFrom(...ACCOUNT_IDS, "missing"),
  to: fc.constantFrom(...ACCOUNT_IDS, "missing"),
  amountMinor: fc.bigInt({ min: 1n, max: 20_000n }),
  currency: fc.constantFrom("EUR", "EUR", "EUR", "JPY"),
});

describe("posting engine", () => {
  it("keeps every entry balanced, every balance equal to its postings and above its floor", () => {
    fc.assert(
      fc.property(fc.array(entryArbitrary, { maxLength: 60 }), (requests) => {
        const accounts = world();
        const before = new Map([...accounts].map(([id, state]) => [id, state.bookedMinor]));
        const entries = requests.map((r, index) => transfer(index, r.from, r.to, r.amountMinor, r.currency));
        const outcomes = planEntries(
          accounts,
          entries,
          (() => {
            let n = 0;
            return () => `pst_${n++}`;
          })(),
        );
        const sums = new Map<string, bigint>();
        for (const outcome of outcomes) {
          if (!outcome.ok) continue;
          const total = outcome.postings.reduce((sum, posting) => sum + posting.amountMinor, 0n);
          expect(total).toBe(0n);
          for (const posting of outcome.postings) {
            sums.set(posting.accountId, (sums.get(posting.accountId) ?? 0n) + posting.amountMinor);
          }
        }
        for (const [id, state] of accounts) {
          expect(state.bookedMinor).toBe(before.get(id)! + (sums.get(id) ?? 0n));
          if (!state.allowNegative)
            expect(availableMinor(state)).toBeGreaterThanOrEqual(-state.overdraftLimitMinor);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("gives each refusal its reason and books nothing for it", () => {
    const accounts = world();
    const outcomes = planEntries(
      accounts,
      [
        transfer(1, "a", "missing", 1n),
        transfer(2, "a", "a", 1n),
        transfer(3, "a", "d", 1n),
        transfer(4, "b", "a", 301n),
        transfer(5, "c", "a", 1_001n),
        transfer(6, "c", "a", 1_000n),
      ],
      () => "pst",
    );
    expect(outcomes.map((o) => (o.ok ? "ok" : o.reason))).toEqual([
      "account-not-found",
      "same-account",
      "currency-mismatch",
      "insufficient-funds",
      "insufficient-funds",
      "ok",
    ]);
    expect(accounts.get("a")!.bookedMinor).toBe(11_000n);
    expect(accounts.get("c")!.bookedMinor).toBe(-1_000n);
  });

  it("refuses an inactive account and a foreign owner", () => {
    const accounts = world();
    accounts.get("b")!.status = "frozen";
    const entry = { ...transfer(1, "a", "c", 5n), requireOwner: { accountId: "a", customerId: "cus_c" } };
    const outcomes = planEntries(accounts, [transfer(0, "a", "b", 1n), entry], () => "pst");
    expect(outcomes.map((o) => (o.ok ? "ok" : o.reason))).toEqual([
      "account-not-active",
      "account-not-found",
    ]);
  });

  it("numbers postings per account and records the balance after each", () => {
    const accounts = world();
    const [first, second] = planEntries(
      accounts,
      [transfer(1, "a", "c", 100n), transfer(2, "a", "c", 50n)],
      () => "p",
    );
    expect(first?.ok && first.postings.map((p) => [p.accountId, p.seq, p.balanceAfterMinor])).toEqual([
      ["a", 1n, 9_900n],
      ["c", 1n, 100n],
    ]);
    expect(second?.ok && second.postings.map((p) => [p.accountId, p.seq, p.balanceAfterMinor])).toEqual([
      ["a", 2n, 9_850n],
      ["c", 2n, 150n],
    ]);
  });

  it("aborts on an unbalanced entry instead of booking it", () => {
    const unbalanced: EntryRequest = {
      ...transfer(1, "a", "c", 10n),
      legs: [
        { accountId: "a", amountMinor: -10n },
        { accountId: "c", amountMinor: 9n },
      ],
    };
    expect(() => planEntries(world(), [unbalanced], () => "p")).toThrow(InvariantViolation);
  });
});

import fc from "fast-check";
import { composeIBAN } from "ibantools";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError } from "../../src/platform/errors.ts";
import { customerContext, tellerContext } from "../helpers/contexts.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";

/**
 * Model-based property test on the real database (PGlite, or PostgreSQL when DATABASE_URL is
 * set): random sequences of deposits, withdrawals and transfers — many of them invalid — are run
 * through the services and mirrored in a simple model. After every sequence the ledger must agree
 * with the model, postings must sum to zero per currency, every balance must equal the sum of its
 * postings, and no balance may be below what is allowed.
 */
interface ModelAccount {
  id: string;
  iban: string;
  owner: string;
  currency: string;
  active: boolean;
  bookedMinor: bigint;
}

const EXPONENT: Record<string, number> = { EUR: 2, JPY: 0 };
/** An IBAN of this bank (default bank code 10010010) that no account has. */
const UNISSUED_IBAN = composeIBAN({ countryCode: "DE", bban: "100100109999999999" })!;

function decimal(minor: bigint, currency: string, extraDigit: boolean): string {
  const exponent = EXPONENT[currency]!;
  const negative = minor < 0n;
  const digits = (negative ? -minor : minor).toString().padStart(exponent + 1, "0");
  const whole = digits.slice(0, digits.length - exponent);
  const fraction = exponent > 0 ? `.${digits.slice(digits.length - exponent)}` : "";
  return `${negative ? "-" : ""}${whole}${fraction}${extraDigit ? (exponent > 0 ? "1" : ".5") : ""}`;
}

const operation = fc.record({
  kind: fc.constantFrom("deposit", "withdrawal", "transfer", "transfer", "transfer"),
  from: fc.nat({ max: 5 }),
  to: fc.nat({ max: 6 }),
  amountMinor: fc.oneof(fc.bigInt({ min: 1n, max: 50_000n }), fc.bigInt({ min: -100n, max: 0n })),
  currency: fc.constantFrom("EUR", "EUR", "EUR", "JPY"),
  tooManyDecimals: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
});
type Operation = typeof operation extends fc.Arbitrary<infer T> ? T : never;

function expectedFailure(op: Operation, accounts: ModelAccount[]): string | undefined {
  if (op.tooManyDecimals || op.amountMinor <= 0n) return "invalid-amount";
  const from = accounts[op.from]!;
  if (op.kind === "transfer") {
    const to = accounts[op.to];
    if (!to) return "account-not-found";
    if (to.id === from.id) return "same-account";
    if (!from.active || !to.active) return "account-not-active";
    if (from.currency !== op.currency || to.currency !== op.currency) return "currency-mismatch";
  } else {
    if (!from.active) return "account-not-active";
    if (from.currency !== op.currency) return "currency-mismatch";
  }
  if (op.kind !== "deposit" && from.bookedMinor < op.amountMinor) return "insufficient-funds";
  return undefined;
}

function applyToModel(op: Operation, accounts: ModelAccount[]): void {
  const from = accounts[op.from]!;
  if (op.kind === "deposit") from.bookedMinor += op.amountMinor;
  else from.bookedMinor -= op.amountMinor;
  if (op.kind === "transfer") accounts[op.to]!.bookedMinor += op.amountMinor;
}

describe("money movement invariants (property)", () => {
  let app: TestApp;
  let run = 0;

  beforeAll(async () => {
    app = await createTestApp();
  });
  afterAll(async () => {
    await app.destroy();
  });

  async function openWorld(): Promise<ModelAccount[]> {
    run++;
    const specs = [
      { currency: "EUR", owner: `cus_a${run}` },
      { currency: "EUR", owner: `cus_b${run}` },
      { currency: "EUR", owner: `cus_c${run}` },
      { currency: "EUR", owner: `cus_d${run}` },
      { currency: "JPY", owner: `cus_e${run}` },
      { currency: "EUR", owner: `cus_f${run}` },
    ];
    const accounts: ModelAccount[] = [];
    for (const spec of specs) {
      const opened = await app.services.ledger.openAccount(customerContext(spec.owner), spec.owner, {
        type: "current",
        currency: spec.currency,
      });
      accounts.push({ ...spec, id: opened.id, iban: opened.iban, active: true, bookedMinor: 0n });
    }
    // One account is frozen, so refusals for inactive accounts are exercised too.
    await sql`update ledger_accounts set status = 'frozen' where id = ${accounts[5]!.id}`.execute(
      app.database.db,
    );
    accounts[5]!.active = false;
    return accounts;
  }

  async function perform(op: Operation, accounts: ModelAccount[], key: string): Promise<string | undefined> {
    const from = accounts[op.from]!;
    const amount = {
      amount: decimal(op.amountMinor, op.currency, op.tooManyDecimals),
      currency: op.currency,
    };
    const { payments } = app.services;
    try {
      if (op.kind === "deposit")
        await payments.depositCash(tellerContext("stf_prop"), from.id, { amount }, key);
      else if (op.kind === "withdrawal")
        await payments.withdrawCash(tellerContext("stf_prop"), from.id, { amount }, key);
      else {
        const toIban = accounts[op.to]?.iban ?? UNISSUED_IBAN;
        await payments.transfer(
          customerContext(from.owner),
          from.owner,
          { fromAccountId: from.id, toIban, amount },
          key,
        );
      }
      return undefined;
    } catch (error) {
      if (error instanceof AppError) return error.slug;
      throw error;
    }
  }

  it("holds for any sequence of deposits, withdrawals and transfers, failing ones included", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 25 }), async (ops) => {
        const accounts = await openWorld();
        for (const [index, op] of ops.entries()) {
          const expected = expectedFailure(op, accounts);
          const actual = await perform(op, accounts, `prop-${run}-${index}`);
          expect(actual).toBe(expected);
          if (actual === undefined) applyToModel(op, accounts);
        }
        for (const model of accounts) {
          const row = await app.services.ledger.getAccount(model.owner, model.id);
          expect(row.bookedMinor).toBe(model.bookedMinor);
          expect(row.availableMinor).toBeGreaterThanOrEqual(0n);
        }
        const report = await app.services.ledger.consistencyReport();
        for (const { total } of report.perCurrency) expect(BigInt(total)).toBe(0n);
        expect(report.accountsOutOfBalance).toEqual([]);
      }),
      { numRuns: process.env.DATABASE_URL ? 40 : 25 },
    );
  });
});

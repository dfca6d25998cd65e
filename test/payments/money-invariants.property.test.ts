import fc from "fast-check";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestApp } from "../helpers/test-app.ts";
import { bearer } from "../identity.helpers.ts";
import {
  type AccountDto,
  type Customer,
  cashRequest,
  createPaymentsApp,
  getAccount,
  minorUnits,
  newCustomer,
  newStaff,
  openAccount,
  type StaffMember,
  transferRequest,
  UNREACHABLE_DAILY_LIMITS,
  unissuedIban,
} from "./payments.helpers.ts";

/**
 * Model-based property over HTTP: random sequences of teller deposits and withdrawals and
 * customer transfers among four customers' accounts (some amounts invalid, some destinations
 * unknown, one account frozen, two in JPY), and bursts of concurrent transfers. Each answer must
 * be the one the model predicts; afterwards the accounts must agree with the model, customer money
 * must equal the cash that came in minus the cash that went out, no balance may be negative, and
 * the ledger's own consistency report must be clean.
 */

const EXPONENT: Record<string, number> = { EUR: 2, JPY: 0 };
const CURRENCIES = ["EUR", "JPY"] as const;

interface Holding {
  owner: Customer;
  account: AccountDto;
  active: boolean;
  /** The booked balance the model expects, in minor units. */
  bookedMinor: bigint;
}

type Flaw = "zero" | "negative" | "extra-decimal" | "padded" | null;

interface MoneyOp {
  kind: "deposit" | "withdrawal" | "transfer";
  from: number;
  /** An index past the last holding stands for a well-formed IBAN that no account has. */
  to: number;
  amountMinor: bigint;
  currency: "EUR" | "JPY";
  flaw: Flaw;
}

type Step = { kind: "single"; op: MoneyOp } | { kind: "burst"; ops: MoneyOp[] };

/**
 * The world: four customers with a EUR current account each; customers 0 and 3 also save in JPY;
 * customer 2 has a second EUR account that is frozen (the last one).
 */
const WORLD = [
  { owner: 0, type: "current", currency: "EUR" },
  { owner: 1, type: "current", currency: "EUR" },
  { owner: 2, type: "current", currency: "EUR" },
  { owner: 3, type: "current", currency: "EUR" },
  { owner: 3, type: "savings", currency: "JPY" },
  { owner: 0, type: "savings", currency: "JPY" },
  { owner: 2, type: "current", currency: "EUR" },
] as const;
const FROZEN = WORLD.length - 1;
const UNKNOWN_IBAN = WORLD.length;

function otherCurrency(currency: "EUR" | "JPY"): "EUR" | "JPY" {
  return currency === "EUR" ? "JPY" : "EUR";
}

/** Mostly sensible requests (active source, a peer in the same currency), sometimes anything. */
const moneyOp = (kinds: MoneyOp["kind"][]) =>
  fc
    .record({
      kind: fc.constantFrom(...kinds),
      from: fc.oneof(
        { weight: 12, arbitrary: fc.nat({ max: FROZEN - 1 }) },
        { weight: 1, arbitrary: fc.constant(FROZEN) },
      ),
      peer: fc.nat({ max: WORLD.length }),
      anyDestination: fc.oneof(
        { weight: 5, arbitrary: fc.constant(false) },
        { weight: 1, arbitrary: fc.constant(true) },
      ),
      amountMinor: fc.bigInt({ min: 1n, max: 20_000n }),
      wrongCurrency: fc.oneof(
        { weight: 15, arbitrary: fc.constant(false) },
        { weight: 1, arbitrary: fc.constant(true) },
      ),
      flaw: fc.oneof(
        { weight: 12, arbitrary: fc.constant<Flaw>(null) },
        { weight: 1, arbitrary: fc.constantFrom<Flaw>("zero", "negative", "extra-decimal", "padded") },
      ),
    })
    .map(({ kind, from, peer, anyDestination, amountMinor, wrongCurrency, flaw }): MoneyOp => {
      const currency = WORLD[from]!.currency;
      const peers = WORLD.flatMap((spec, index) =>
        index !== from && index !== FROZEN && spec.currency === currency ? [index] : [],
      );
      const to = anyDestination ? peer : peers[peer % peers.length]!;
      // Deposits are larger than the rest, so that most debits are covered.
      const amount = kind === "deposit" ? amountMinor * 3n : amountMinor;
      return {
        kind,
        from,
        to,
        amountMinor: amount,
        currency: wrongCurrency ? otherCurrency(currency) : currency,
        flaw,
      };
    });

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: moneyOp(["deposit", "deposit", "withdrawal", "transfer", "transfer"]).map((op) => ({
      kind: "single" as const,
      op,
    })),
  },
  {
    weight: 1,
    arbitrary: fc
      .array(moneyOp(["transfer"]), { minLength: 2, maxLength: 4 })
      .map((ops) => ({ kind: "burst" as const, ops })),
  },
);

/** The decimal string a client would send, with the flaw the operation asks for. */
function wireAmount(op: MoneyOp): string {
  const exponent = EXPONENT[op.currency]!;
  if (op.flaw === "zero") return exponent > 0 ? `0.${"0".repeat(exponent)}` : "0";
  const digits = op.amountMinor.toString().padStart(exponent + 1, "0");
  const whole = digits.slice(0, digits.length - exponent);
  const fraction = exponent > 0 ? `.${digits.slice(digits.length - exponent)}` : "";
  const text = `${whole}${fraction}`;
  if (op.flaw === "negative") return `-${text}`;
  if (op.flaw === "extra-decimal") return exponent > 0 ? `${text}1` : `${text}.5`;
  // Trailing zeros do not add precision, so "12.340" EUR and "5.0" JPY are valid amounts.
  if (op.flaw === "padded") return exponent > 0 ? `${text}0` : `${text}.0`;
  return text;
}

/** Every refusal that does not depend on balances, in the order the API checks them. */
function staticRefusal(op: MoneyOp, holdings: Holding[]): string | undefined {
  if (op.flaw === "zero" || op.flaw === "negative" || op.flaw === "extra-decimal") return "invalid-amount";
  const from = holdings[op.from]!;
  const involved = [from];
  if (op.kind === "transfer") {
    const to = holdings[op.to];
    if (!to) return "account-not-found";
    if (to === from) return "same-account";
    involved.push(to);
  }
  if (involved.some((holding) => !holding.active)) return "account-not-active";
  if (involved.some((holding) => holding.account.currency !== op.currency)) return "currency-mismatch";
  return undefined;
}

function debits(op: MoneyOp): boolean {
  return op.kind !== "deposit";
}

describe("money invariants over HTTP (property)", () => {
  let app: TestApp;
  let teller: StaffMember;
  const holdings: Holding[] = [];
  let unknownIban: string;
  /** Cash that came in minus cash that went out, per currency, counted from 201 answers. */
  const netCashMinor: Record<string, bigint> = { EUR: 0n, JPY: 0n };
  let keySeq = 0;

  beforeAll(async () => {
    // Hundreds of transfers a day between the same customers (more while fast-check shrinks):
    // the daily limits would refuse some, and this property is about money, not limits.
    app = await createPaymentsApp({ OMNICORE_TRANSFER_LIMITS: UNREACHABLE_DAILY_LIMITS });
    teller = await newStaff(app, "teller");
    const customers: Customer[] = [];
    for (let index = 0; index < 4; index++) customers.push(await newCustomer(app));
    for (const spec of WORLD) {
      const owner = customers[spec.owner]!;
      const account = await openAccount(app, owner.token, spec.type, spec.currency);
      holdings.push({ owner, account, active: true, bookedMinor: 0n });
    }
    const frozen = holdings[FROZEN]!;
    await sql`update ledger_accounts set status = 'frozen' where id = ${frozen.account.id}`.execute(
      app.database.db,
    );
    frozen.active = false;
    unknownIban = unissuedIban(holdings[0]!.account.iban);
  });

  afterAll(async () => {
    await app?.destroy();
  });

  function send(op: MoneyOp) {
    const from = holdings[op.from]!;
    const amount = { amount: wireAmount(op), currency: op.currency };
    const key = `prop-${++keySeq}-${op.kind}`;
    if (op.kind === "transfer") {
      const toIban = op.to === UNKNOWN_IBAN ? unknownIban : holdings[op.to]!.account.iban;
      return transferRequest(app, from.owner.token, { fromAccountId: from.account.id, toIban, amount }, key);
    }
    const route = op.kind === "deposit" ? "deposits" : "withdrawals";
    return cashRequest(app, teller.token, route, from.account.id, { amount }, key);
  }

  /** The problem slug of a refusal, or undefined for a 201. */
  function outcome(response: { statusCode: number; body: string; json: <T>() => T }): string | undefined {
    if (response.statusCode === 201) return undefined;
    expect(response.statusCode, response.body).toBe(422);
    return response.json<{ type: string }>().type.replace("https://omnicore.dev/problems/", "");
  }

  function apply(op: MoneyOp): void {
    const from = holdings[op.from]!;
    if (op.kind === "deposit") {
      from.bookedMinor += op.amountMinor;
      netCashMinor[op.currency]! += op.amountMinor;
    } else if (op.kind === "withdrawal") {
      from.bookedMinor -= op.amountMinor;
      netCashMinor[op.currency]! -= op.amountMinor;
    } else {
      from.bookedMinor -= op.amountMinor;
      holdings[op.to]!.bookedMinor += op.amountMinor;
    }
  }

  async function single(op: MoneyOp): Promise<void> {
    const refusal = staticRefusal(op, holdings);
    const expected =
      refusal ??
      (debits(op) && holdings[op.from]!.bookedMinor < op.amountMinor ? "insufficient-funds" : undefined);
    const response = await send(op);
    expect(
      outcome(response),
      `${JSON.stringify(op, (_k, v) => (typeof v === "bigint" ? String(v) : v))}: ${response.body}`,
    ).toBe(expected);
    if (expected === undefined) apply(op);
  }

  /**
   * Concurrent transfers: the order the ledger books them in is not known, so a valid transfer may
   * succeed or be refused for funds, except that one covered even if every other debit of its
   * account went first must succeed, and one not covered even with every credit must be refused.
   */
  async function burst(ops: MoneyOp[]): Promise<void> {
    const responses = await Promise.all(ops.map((op) => send(op)));
    const valid = ops.filter((op) => staticRefusal(op, holdings) === undefined);
    const booked: MoneyOp[] = [];
    ops.forEach((op, index) => {
      const response = responses[index]!;
      const actual = outcome(response);
      const refusal = staticRefusal(op, holdings);
      if (refusal) {
        expect(actual, response.body).toBe(refusal);
        return;
      }
      const from = holdings[op.from]!;
      const otherDebits = valid
        .filter((other) => other !== op && holdings[other.from] === from)
        .reduce((sum, other) => sum + other.amountMinor, 0n);
      const credits = valid
        .filter((other) => holdings[other.to] === from)
        .reduce((sum, other) => sum + other.amountMinor, 0n);
      if (from.bookedMinor - otherDebits >= op.amountMinor) expect(actual, response.body).toBeUndefined();
      else if (from.bookedMinor + credits < op.amountMinor)
        expect(actual, response.body).toBe("insufficient-funds");
      else expect([undefined, "insufficient-funds"]).toContain(actual);
      if (actual === undefined) booked.push(op);
    });
    for (const op of booked) apply(op);
  }

  async function checkInvariants(): Promise<void> {
    const totals: Record<string, bigint> = { EUR: 0n, JPY: 0n };
    for (const holding of holdings) {
      const account = await getAccount(app, holding.owner.token, holding.account.id);
      const booked = minorUnits(account.balances.booked.amount);
      expect(booked, holding.account.id).toBe(holding.bookedMinor);
      expect(booked).toBeGreaterThanOrEqual(0n);
      expect(minorUnits(account.balances.available.amount)).toBeGreaterThanOrEqual(0n);
      totals[account.currency]! += booked;
    }
    // The customers' own view: every account they hold, as they list them.
    const listed: Record<string, bigint> = { EUR: 0n, JPY: 0n };
    for (const owner of new Set(holdings.map((holding) => holding.owner))) {
      const response = await app.http.inject({
        method: "GET",
        url: "/v1/accounts",
        headers: bearer(owner.token),
      });
      for (const account of response.json<{ items: AccountDto[] }>().items) {
        listed[account.currency]! += minorUnits(account.balances.booked.amount);
      }
    }
    for (const currency of CURRENCIES) {
      expect(totals[currency], currency).toBe(netCashMinor[currency]);
      expect(listed[currency], currency).toBe(netCashMinor[currency]);
    }
    const report = await app.services.ledger.consistencyReport();
    for (const { currency, total } of report.perCurrency) expect(BigInt(total), currency).toBe(0n);
    expect(report.accountsOutOfBalance).toEqual([]);
  }

  /** Reads what the API says, so a shrinking run starts from the real state, not a stale model. */
  async function syncModel(): Promise<void> {
    for (const holding of holdings) {
      const account = await getAccount(app, holding.owner.token, holding.account.id);
      holding.bookedMinor = minorUnits(account.balances.booked.amount);
    }
  }

  it("keeps money conserved, balances non-negative and the ledger consistent for any sequence", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 12 }), async (steps) => {
        await syncModel();
        for (const current of steps) {
          if (current.kind === "single") await single(current.op);
          else await burst(current.ops);
        }
        await checkInvariants();
      }),
      { numRuns: 15 },
    );
  });
});

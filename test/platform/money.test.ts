import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  currencyExponent,
  formatAmount,
  isSupportedCurrency,
  parseAmount,
  toAmountDto,
} from "../../src/platform/money.ts";

/** One currency per supported exponent: none, cents, and thousandths. */
const CURRENCIES = [
  { currency: "JPY", exponent: 0 },
  { currency: "EUR", exponent: 2 },
  { currency: "BHD", exponent: 3 },
] as const;

/** The wire format allows at most 18 whole digits, so amounts are bounded by it. */
function amountsFor(exponent: number) {
  const limit = 10n ** BigInt(18 + exponent);
  return fc.bigInt({ min: -limit + 1n, max: limit - 1n });
}

function parsedMinor(amount: string, currency: string): bigint {
  const parsed = parseAmount(amount, currency);
  if (!parsed.ok) throw new Error(`${amount} ${currency} did not parse: ${parsed.reason}`);
  expect(parsed.money.currency).toBe(currency);
  return parsed.money.amountMinor;
}

describe("currencyExponent", () => {
  it.each(CURRENCIES)("knows that $currency has $exponent decimals", ({ currency, exponent }) => {
    expect(currencyExponent(currency)).toBe(exponent);
  });
});

describe.each(CURRENCIES)("amounts in $currency (exponent $exponent)", ({ currency, exponent }) => {
  it("parseAmount(formatAmount(x)) is x for every representable amount", () => {
    fc.assert(
      fc.property(amountsFor(exponent), (amountMinor) => {
        expect(parsedMinor(formatAmount(amountMinor, currency), currency)).toBe(amountMinor);
      }),
      { numRuns: 500 },
    );
  });

  it("formats with exactly the currency's number of decimals", () => {
    fc.assert(
      fc.property(amountsFor(exponent), (amountMinor) => {
        const text = formatAmount(amountMinor, currency);
        const fraction = text.split(".")[1];
        expect(fraction?.length ?? 0).toBe(exponent);
        expect(text).toMatch(/^-?(0|[1-9]\d*)(\.\d+)?$/);
        expect(text.startsWith("-")).toBe(amountMinor < 0n);
      }),
    );
  });

  it("formatAmount(parseAmount(s)) is s for every canonical decimal string", () => {
    const canonical = fc
      .tuple(
        fc.boolean(),
        fc.bigInt({ min: 0n, max: 10n ** 18n - 1n }),
        fc.bigInt({ min: 0n, max: 10n ** 3n }),
      )
      .map(([negative, whole, fractionSeed]) => {
        const fraction =
          exponent > 0
            ? `.${(fractionSeed % 10n ** BigInt(exponent)).toString().padStart(exponent, "0")}`
            : "";
        const text = `${whole}${fraction}`;
        return negative && /[1-9]/.test(text) ? `-${text}` : text;
      });
    fc.assert(
      fc.property(canonical, (text) => {
        expect(formatAmount(parsedMinor(text, currency), currency)).toBe(text);
      }),
    );
  });

  it("accepts trailing zeros beyond the exponent and refuses any other extra decimal", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 9n }),
        fc.string({ unit: fc.constantFrom(..."0123456789"), minLength: exponent, maxLength: exponent }),
        fc.integer({ min: 1, max: 18 - exponent }),
        fc.integer({ min: 1, max: 9 }),
        (whole, decimals, extraZeros, lastDigit) => {
          const base = decimals === "" ? `${whole}` : `${whole}.${decimals}`;
          const padded = `${whole}.${decimals}${"0".repeat(extraZeros)}`;
          expect(parsedMinor(padded, currency)).toBe(parsedMinor(base, currency));
          const tooPrecise = `${whole}.${decimals}${"0".repeat(extraZeros - 1)}${lastDigit}`;
          expect(parseAmount(tooPrecise, currency)).toEqual({ ok: false, reason: "too-many-decimals" });
        },
      ),
    );
  });
});

describe("parseAmount", () => {
  it.each([
    ["1.10", "EUR", 110n],
    ["1.1", "EUR", 110n],
    ["125.50", "EUR", 12_550n],
    ["-0.05", "EUR", -5n],
    ["-0", "EUR", 0n],
    ["007", "EUR", 700n],
    ["1.0", "JPY", 1n],
    ["1000", "JPY", 1_000n],
    ["1.001", "BHD", 1_001n],
    ["0.100", "BHD", 100n],
  ] as const)("parses %s %s as %s minor units", (amount, currency, amountMinor) => {
    expect(parseAmount(amount, currency)).toEqual({ ok: true, money: { amountMinor, currency } });
  });

  it.each([
    ["1.001", "EUR"],
    ["0.009", "EUR"],
    ["1.5", "JPY"],
    ["1.01", "JPY"],
    ["1.0001", "BHD"],
  ])("refuses %s %s as too-many-decimals", (amount, currency) => {
    expect(parseAmount(amount, currency)).toEqual({ ok: false, reason: "too-many-decimals" });
  });

  it.each([
    "1e3",
    "",
    "1.",
    ".5",
    " 1",
    "1 ",
    "+1",
    "--1",
    "1,00",
    "1.2.3",
    "0x10",
    "NaN",
    "Infinity",
    "١",
    "1234567890123456789",
    "1.1234567890123456789",
  ])("refuses %j as malformed", (amount) => {
    expect(parseAmount(amount, "EUR")).toEqual({ ok: false, reason: "malformed" });
  });

  it.each(["XAU", "ABC", "XXX", "XTS", "XDR", "eur", "EURO", ""])(
    "refuses currency %j as unknown",
    (currency) => {
      expect(parseAmount("1", currency)).toEqual({ ok: false, reason: "unknown-currency" });
    },
  );

  it("never accepts a string that formatAmount would not produce the same value from", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 24 }), fc.constantFrom(...CURRENCIES), (amount, { currency }) => {
        const parsed = parseAmount(amount, currency);
        if (!parsed.ok) return;
        expect(parsedMinor(formatAmount(parsed.money.amountMinor, currency), currency)).toBe(
          parsed.money.amountMinor,
        );
      }),
    );
  });
});

describe("formatAmount and toAmountDto", () => {
  it.each([
    [0n, "EUR", "0.00"],
    [5n, "EUR", "0.05"],
    [-5n, "EUR", "-0.05"],
    [12_550n, "EUR", "125.50"],
    [-1n, "JPY", "-1"],
    [1_001n, "BHD", "1.001"],
    [7n, "BHD", "0.007"],
  ] as const)("formats %s %s as %s", (amountMinor, currency, text) => {
    expect(formatAmount(amountMinor, currency)).toBe(text);
    expect(toAmountDto(amountMinor, currency)).toEqual({ amount: text, currency });
  });

  it("refuses a currency it cannot format", () => {
    expect(() => formatAmount(1n, "XAU")).toThrow(/XAU/);
  });
});

describe("isSupportedCurrency", () => {
  it.each(["EUR", "USD", "GBP", "JPY", "BHD", "CHF"])("accepts %s", (currency) => {
    expect(isSupportedCurrency(currency)).toBe(true);
  });

  it.each(["XAU", "XAG", "XXX", "XTS", "ABC", "eur", "EURO", "EU", "", " EUR"])("refuses %j", (currency) => {
    expect(isSupportedCurrency(currency)).toBe(false);
  });

  it("agrees with parseAmount on which currencies exist", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabc"), minLength: 3, maxLength: 3 }),
        (code) => {
          const parsed = parseAmount("1", code);
          expect(parsed.ok).toBe(isSupportedCurrency(code));
        },
      ),
    );
  });
});

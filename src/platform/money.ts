import currencyCodes from "currency-codes";

/**
 * Money is exact: integer minor units as bigint inside, decimal strings with a currency on the
 * wire. No floating point touches an amount anywhere in this file.
 */
export interface Money {
  amountMinor: bigint;
  currency: string;
}

/** The wire shape of an amount: `{"amount": "125.50", "currency": "EUR"}`. */
export interface AmountDto {
  amount: string;
  currency: string;
}

/** Precious metals, SDRs and testing codes have no minor unit in ISO 4217 ("N.A."). */
const NOT_MONEY = new Set([
  "XAG",
  "XAU",
  "XBA",
  "XBB",
  "XBC",
  "XBD",
  "XDR",
  "XPD",
  "XPT",
  "XSU",
  "XTS",
  "XUA",
  "XXX",
]);

export function currencyExponent(currency: string): number | undefined {
  if (!/^[A-Z]{3}$/.test(currency) || NOT_MONEY.has(currency)) return undefined;
  return currencyCodes.code(currency)?.digits;
}

export function isSupportedCurrency(currency: string): boolean {
  return /^[A-Z]{3}$/.test(currency) && currencyExponent(currency) !== undefined;
}

export type ParseAmountFailure = "malformed" | "too-many-decimals" | "unknown-currency";

const DECIMAL = /^(-?)(\d{1,18})(?:\.(\d{1,18}))?$/;

/** Parses a decimal string into minor units, refusing more decimals than the currency has. */
export function parseAmount(
  amount: string,
  currency: string,
): { ok: true; money: Money } | { ok: false; reason: ParseAmountFailure } {
  const exponent = currencyExponent(currency);
  if (exponent === undefined) return { ok: false, reason: "unknown-currency" };
  const match = DECIMAL.exec(amount);
  if (!match) return { ok: false, reason: "malformed" };
  const [, sign, whole = "0", fraction = ""] = match;
  const significant = fraction.replace(/0+$/, "");
  if (significant.length > exponent) return { ok: false, reason: "too-many-decimals" };
  const minor = BigInt(whole + fraction.padEnd(exponent, "0").slice(0, exponent));
  return { ok: true, money: { amountMinor: sign === "-" ? -minor : minor, currency } };
}

/** Formats minor units as a decimal string with exactly the currency's number of decimals. */
export function formatAmount(amountMinor: bigint, currency: string): string {
  const exponent = currencyExponent(currency);
  if (exponent === undefined) throw new Error(`unsupported currency ${currency}`);
  const negative = amountMinor < 0n;
  const digits = (negative ? -amountMinor : amountMinor).toString().padStart(exponent + 1, "0");
  const whole = digits.slice(0, digits.length - exponent);
  const fraction = exponent > 0 ? `.${digits.slice(digits.length - exponent)}` : "";
  return `${negative ? "-" : ""}${whole}${fraction}`;
}

export function toAmountDto(amountMinor: bigint, currency: string): AmountDto {
  return { amount: formatAmount(amountMinor, currency), currency };
}

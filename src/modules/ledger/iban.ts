import { composeIBAN, electronicFormatIBAN, getCountrySpecifications, isValidIBAN } from "ibantools";

/**
 * IBANs of this bank: country code, check digits, then a BBAN made of the configured bank code and
 * an account number padded to the country's BBAN length. ibantools computes and checks the check
 * digits (ISO 13616, mod 97).
 */
export class IbanIssuer {
  readonly #countryCode: string;
  readonly #bankCode: string;
  readonly #accountNumberLength: number;

  constructor(options: { countryCode: string; bankCode: string }) {
    this.#countryCode = options.countryCode.toUpperCase();
    this.#bankCode = options.bankCode.toUpperCase();
    const spec = getCountrySpecifications()[this.#countryCode];
    if (!spec?.chars) throw new Error(`OMNICORE_IBAN_COUNTRY ${this.#countryCode} has no IBAN format`);
    this.#accountNumberLength = spec.chars - 4 - this.#bankCode.length;
    if (this.#accountNumberLength < 1 || !this.issue(1n)) {
      throw new Error(
        `OMNICORE_IBAN_BANK_CODE ${this.#bankCode} does not fit the ${this.#countryCode} BBAN format ` +
          `(${spec.bban_regexp}); choose a bank code that leaves room for a numeric account number.`,
      );
    }
  }

  /** The IBAN for the n-th account of this bank, or undefined when n does not fit. */
  issue(accountNumber: bigint): string | undefined {
    const digits = accountNumber.toString();
    if (digits.length > this.#accountNumberLength) return undefined;
    const bban = this.#bankCode + digits.padStart(this.#accountNumberLength, "0");
    return composeIBAN({ countryCode: this.#countryCode, bban }) ?? undefined;
  }
}

/** Normalises user input ("de89 3704 …") to the electronic format, or undefined if invalid. */
export function normalizeIban(input: string): string | undefined {
  const electronic = electronicFormatIBAN(input);
  return electronic && isValidIBAN(electronic) ? electronic : undefined;
}

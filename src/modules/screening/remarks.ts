import { countryCode } from "./countries.ts";

/**
 * What the remarks of an OFAC SDN row say about a person: dates of birth, nationality,
 * citizenship, place of birth and further names, e.g. "DOB 12 Jan 1960; alt. DOB 1961; POB Giza,
 * Egypt; nationality Iran; a.k.a. 'ABU X'.". Other facts (passports, addresses) are not used for
 * matching and are not parsed.
 */
export interface RemarkFacts {
  /** ISO 8601 dates of reduced precision ("1960", "1960-01", "1960-01-12") or intervals ("1959/1961"). */
  datesOfBirth: string[];
  /** ISO 3166-1 alpha-2 codes from nationality, citizenship and place of birth. */
  countries: string[];
  /** Names in quotes after "a.k.a.", which the alias file does not always repeat. */
  aliases: string[];
}

const MONTHS: Record<string, number> = {
  jan: 1,
  feb: 2,
  mar: 3,
  apr: 4,
  may: 5,
  jun: 6,
  jul: 7,
  aug: 8,
  sep: 9,
  oct: 10,
  nov: 11,
  dec: 12,
};

function pad(value: number): string {
  return String(value).padStart(2, "0");
}

/** One date as OFAC writes it ("12 Jan 1960", "Jan 1960", "1960"), as ISO 8601 of the same precision. */
function isoDate(text: string): string | undefined {
  const parts = text.trim().split(/\s+/);
  const year = Number(parts.at(-1));
  if (!Number.isInteger(year) || year < 1800 || year > 2100) return undefined;
  if (parts.length === 1) return String(year);
  const month = MONTHS[parts.at(-2)!.slice(0, 3).toLowerCase()];
  if (month === undefined) return undefined;
  if (parts.length === 2) return `${year}-${pad(month)}`;
  const day = Number(parts.at(-3));
  if (!Number.isInteger(day) || day < 1 || day > 31) return undefined;
  return `${year}-${pad(month)}-${pad(day)}`;
}

/** "12 Jan 1960", "circa 1960" (a year either side), "1960 to 1962"; undefined when unreadable. */
export function parseDateOfBirth(text: string): string | undefined {
  const value = text.trim().replace(/\.$/, "");
  const circa = /^(?:circa|approximately|approx\.?)\s+(.+)$/i.exec(value);
  if (circa) {
    const date = isoDate(circa[1]!);
    if (!date) return undefined;
    const year = Number(date.slice(0, 4));
    return `${year - 1}/${year + 1}`;
  }
  const range = /^(.+?)\s+to\s+(.+)$/i.exec(value);
  if (range) {
    const from = isoDate(range[1]!);
    const to = isoDate(range[2]!);
    return from && to ? `${from}/${to}` : undefined;
  }
  return isoDate(value);
}

/** The country of a place of birth: the last comma-separated part ("Najaf, Iraq" → IQ). */
function placeCountry(place: string): string | undefined {
  const parts = place.split(",");
  return countryCode(parts.at(-1)!.trim()) ?? countryCode(place);
}

export function parseRemarks(remarks: string | undefined): RemarkFacts {
  const facts: RemarkFacts = { datesOfBirth: [], countries: [], aliases: [] };
  if (!remarks) return facts;
  for (const match of remarks.matchAll(/a\.k\.a\.,?\s+'([^']+)'/gi)) facts.aliases.push(match[1]!.trim());
  for (const raw of remarks.split(";")) {
    const part = raw.trim().replace(/^alt\.\s+/i, "");
    const fact = /^(DOB|nationality|citizen|POB)\s+(.+)$/i.exec(part);
    if (!fact) continue;
    const kind = fact[1]!.toLowerCase();
    const value = fact[2]!.replace(/\.$/, "").trim();
    if (kind === "dob") {
      const date = parseDateOfBirth(value);
      if (date) facts.datesOfBirth.push(date);
    } else {
      const code = kind === "pob" ? placeCountry(value) : countryCode(value);
      if (code) facts.countries.push(code);
    }
  }
  facts.datesOfBirth = [...new Set(facts.datesOfBirth)];
  facts.countries = [...new Set(facts.countries)];
  return facts;
}

import { readFileSync } from "node:fs";
import { parse } from "csv-parse/sync";
import { countryCode } from "./countries.ts";
import { checksumOf, decodeListText, distinct, type ListEntry, type ParsedList } from "./lists.ts";

/**
 * Omnicore's PEP list format (no public PEP data is bundled; banks licence one and convert it).
 * CSV with a header row; columns are found by name, unknown columns are ignored:
 *   id             the provider's stable identifier of the person (required)
 *   name           full name, any word order (required)
 *   date_of_birth  ISO 8601: YYYY-MM-DD, YYYY-MM or YYYY (optional)
 *   country        ISO 3166-1 alpha-2 or an English country name (optional)
 *   position       the public function, e.g. "Minister of Finance" (optional)
 *   aliases        other names, separated by ";" (optional)
 */
const DATE_PATTERN = /^\d{4}(-\d{2}(-\d{2})?)?$/;

export class PepListError extends Error {}

function entry(record: Record<string, string>, line: number): ListEntry {
  const id = record.id?.trim();
  const name = record.name?.trim();
  if (!id || !name) throw new PepListError(`PEP list row ${line}: id and name are required`);
  const dateOfBirth = record.date_of_birth?.trim() ?? "";
  if (dateOfBirth !== "" && !DATE_PATTERN.test(dateOfBirth)) {
    throw new PepListError(`PEP list row ${line}: date_of_birth must be YYYY, YYYY-MM or YYYY-MM-DD`);
  }
  const country = record.country?.trim() ? countryCode(record.country) : undefined;
  return {
    sourceRef: id,
    type: "individual",
    primaryName: name,
    aliases: distinct((record.aliases ?? "").split(";")).filter((alias) => alias !== name),
    datesOfBirth: dateOfBirth === "" ? [] : [dateOfBirth],
    countries: country ? [country] : [],
    programs: [],
    position: record.position?.trim() || null,
  };
}

export function parsePep(bytes: Uint8Array): ParsedList {
  const records = parse(decodeListText(bytes), {
    columns: (header: string[]) => header.map((column) => column.trim().toLowerCase()),
    skip_empty_lines: true,
    trim: true,
  }) as Array<Record<string, string>>;
  const entries = records.map((record, index) => entry(record, index + 2));
  const refs = new Set(entries.map((item) => item.sourceRef));
  if (refs.size !== entries.length) throw new PepListError("PEP list: the same id appears twice");
  return { source: "pep", checksum: checksumOf([["pep", bytes]]), entries };
}

export function readPepFile(path: string): ParsedList {
  return parsePep(readFileSync(path));
}

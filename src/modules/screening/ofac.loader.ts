import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { countryCode } from "./countries.ts";
import {
  checksumOf,
  decodeListText,
  distinct,
  type EntryType,
  type ListEntry,
  type ParsedList,
} from "./lists.ts";
import { parseRemarks } from "./remarks.ts";

/**
 * The OFAC Specially Designated Nationals list in its public CSV format (no header row):
 *   sdn.csv  ent_num, SDN_Name, SDN_Type, Program, Title, Call_Sign, Vess_type, Tonnage, GRT,
 *            Vess_flag, Vess_owner, Remarks
 *   alt.csv  ent_num, alt_num, alt_type, alt_name, alt_remarks
 *   add.csv  ent_num, add_num, address, city/state/postal code, country, add_remarks
 *   sdn_comments.csv (optional) ent_num, remarks continued
 * `-0-` means empty. Files may be named as Treasury publishes them (sdn.csv) or with an `ofac-`
 * prefix (the bundled snapshot); only sdn.csv is required.
 */
export interface OfacFiles {
  sdn: Uint8Array;
  alt?: Uint8Array | undefined;
  add?: Uint8Array | undefined;
  comments?: Uint8Array | undefined;
}

const EMPTY = "-0-";

function rows(bytes: Uint8Array | undefined): string[][] {
  if (!bytes) return [];
  const records = parse(decodeListText(bytes), {
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: true,
    trim: true,
  }) as string[][];
  return records.map((record) => record.map((cell) => (cell === EMPTY ? "" : cell)));
}

function entryType(value: string): EntryType {
  const type = value.toLowerCase();
  return type === "individual" || type === "vessel" || type === "aircraft" ? type : "entity";
}

/** "IRAN] [SDGT] [IRGC" (how the CSV writes several programmes) as ["IRAN", "SDGT", "IRGC"]. */
function programs(value: string): string[] {
  return distinct(value.split(/\]\s*\[/).map((part) => part.replace(/[[\]]/g, "")));
}

function groupBy(records: string[][], column: number): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const record of records) {
    const key = record[0];
    const value = record[column];
    if (!key || !value) continue;
    const group = groups.get(key);
    if (group) group.push(value);
    else groups.set(key, [value]);
  }
  return groups;
}

export function parseOfac(files: OfacFiles): ParsedList {
  const aliases = groupBy(rows(files.alt), 3);
  const addressCountries = groupBy(rows(files.add), 4);
  const comments = groupBy(rows(files.comments), 1);
  const entries: ListEntry[] = [];
  const seen = new Set<string>();
  for (const record of rows(files.sdn)) {
    const [sourceRef, name, type = "", program = ""] = record;
    // A repeated ent_num (never seen in a real file) keeps its first row: the id is the key.
    if (!sourceRef || !name || !/^\d+$/.test(sourceRef) || seen.has(sourceRef)) continue;
    seen.add(sourceRef);
    const remarks = [record[11] ?? "", ...(comments.get(sourceRef) ?? [])].join("; ");
    const facts = parseRemarks(remarks);
    const addressCodes = (addressCountries.get(sourceRef) ?? []).map(countryCode);
    const flag = record[9] ? countryCode(record[9]) : undefined;
    entries.push({
      sourceRef,
      type: entryType(type),
      primaryName: name,
      aliases: distinct([...(aliases.get(sourceRef) ?? []), ...facts.aliases]).filter(
        (alias) => alias !== name,
      ),
      datesOfBirth: facts.datesOfBirth,
      countries: distinct([...facts.countries, ...addressCodes, flag].filter((code) => code !== undefined)),
      programs: programs(program),
      position: null,
    });
  }
  return {
    source: "ofac",
    checksum: checksumOf([
      ["sdn", files.sdn],
      ["alt", files.alt],
      ["add", files.add],
      ["comments", files.comments],
    ]),
    entries,
  };
}

const FILE_NAMES = {
  sdn: ["sdn.csv", "ofac-sdn.csv"],
  alt: ["alt.csv", "ofac-alt.csv"],
  add: ["add.csv", "ofac-add.csv"],
  comments: ["sdn_comments.csv", "ofac-sdn_comments.csv", "ofac-comments.csv"],
} as const;

/** Reads the OFAC files of a directory (a Treasury download or the bundled snapshot). */
export function readOfacDirectory(directory: string): OfacFiles {
  const present = new Map(readdirSync(directory).map((name) => [name.toLowerCase(), name]));
  const read = (candidates: readonly string[]) => {
    const found = candidates.map((name) => present.get(name)).find((name) => name !== undefined);
    return found ? readFileSync(join(directory, found)) : undefined;
  };
  const sdn = read(FILE_NAMES.sdn);
  if (!sdn) throw new Error(`no sdn.csv (or ofac-sdn.csv) in ${directory}`);
  return { sdn, alt: read(FILE_NAMES.alt), add: read(FILE_NAMES.add), comments: read(FILE_NAMES.comments) };
}

/** The OFAC snapshot that ships with Omnicore (see reference-data/sanctions/README.md). */
export const BUNDLED_OFAC_DIRECTORY = join(
  import.meta.dirname,
  "..",
  "..",
  "..",
  "reference-data",
  "sanctions",
  "ofac",
);

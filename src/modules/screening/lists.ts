import { createHash } from "node:crypto";

/**
 * What the screening module knows of a watch list, whatever its source format: one entry per
 * listed party with every name it is known by and the facts that tell namesakes apart.
 */
export const LIST_SOURCES = ["ofac", "pep"] as const;
export type ListSource = (typeof LIST_SOURCES)[number];

export const ENTRY_TYPES = ["individual", "entity", "vessel", "aircraft"] as const;
export type EntryType = (typeof ENTRY_TYPES)[number];

export interface ListEntry {
  /** The list's own identifier of the party (OFAC ent_num), stable from one list version to the next. */
  sourceRef: string;
  type: EntryType;
  /** As the list writes it (OFAC individuals: "LAST, First Middle"). */
  primaryName: string;
  aliases: string[];
  /** ISO 8601 dates of reduced precision or intervals: "1960", "1960-01-12", "1959/1961". */
  datesOfBirth: string[];
  /** ISO 3166-1 alpha-2: nationality, citizenship, place of birth, addresses. */
  countries: string[];
  /** Sanctions programmes (OFAC: "SDGT", "IRAN" …); empty for PEP lists. */
  programs: string[];
  /** A PEP's public function; null on sanctions lists. */
  position: string | null;
}

export interface ParsedList {
  source: ListSource;
  /** sha256 of the files read, in a fixed order: the same content always has the same checksum. */
  checksum: string;
  entries: ListEntry[];
}

export function aliasesCount(list: ParsedList): number {
  return list.entries.reduce((sum, entry) => sum + entry.aliases.length, 0);
}

const END_OF_FILE_MARK = String.fromCharCode(0x1a);

/** Lists are published as ASCII, UTF-8 or Windows-1252; UTF-8 is tried first, strictly. */
export function decodeListText(bytes: Uint8Array): string {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    text = new TextDecoder("windows-1252").decode(bytes);
  }
  // OFAC's files end with a DOS end-of-file mark (Ctrl-Z); a byte-order mark may start them.
  return text.replace(/^\uFEFF/, "").replaceAll(END_OF_FILE_MARK, "");
}

export function checksumOf(files: ReadonlyArray<readonly [string, Uint8Array | undefined]>): string {
  const hash = createHash("sha256");
  for (const [name, bytes] of files) {
    if (!bytes) continue;
    hash.update(`${name}\0${bytes.length}\0`);
    hash.update(bytes);
  }
  return hash.digest("hex");
}

/** Distinct non-empty strings, in first-seen order. */
export function distinct(values: Iterable<string>): string[] {
  return [...new Set([...values].map((value) => value.trim()).filter((value) => value !== ""))];
}

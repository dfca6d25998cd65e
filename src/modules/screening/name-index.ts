import type { EntryType, ListEntry, ListSource } from "./lists.ts";
import { COUNTRY_BONUS, clamp, compareDateOfBirth, nameSimilarity } from "./matcher.ts";
import { isInitial, nameTokens, phoneticKeys } from "./names.ts";

/**
 * The in-memory index of one list version: every name and alias as canonical tokens, and an
 * inverted index from phonetic keys to names. A screening looks up the candidates that share keys
 * with the subject's name (blocking), then scores only those, so one name is screened against
 * tens of thousands in well under a millisecond or two instead of comparing it with every one.
 */
export type MatchedField = "name" | "alias" | "dob" | "country";

export interface SubjectQuery {
  fullName: string;
  /** YYYY-MM-DD. */
  dateOfBirth?: string | undefined;
  /** ISO 3166-1 alpha-2. */
  country?: string | undefined;
}

export interface PreparedQuery {
  tokens: string[];
  fullTokensCount: number;
  keys: string[][];
  dateOfBirth: string | undefined;
  country: string | undefined;
}

export interface SearchOptions {
  threshold: number;
  limit: number;
  /** Entry types to consider; all when absent. */
  entryTypes?: readonly EntryType[] | undefined;
}

export interface IndexMatch {
  source: ListSource;
  listVersionId: string;
  entry: ListEntry;
  /** The listed name or alias that matched best. */
  matchedName: string;
  matchedAs: "name" | "alias";
  /** Name similarity alone, before dates of birth and countries. */
  nameScore: number;
  score: number;
  matchedFields: MatchedField[];
}

/** The most a date of birth and a country can add to a name's score (see matcher.ts). */
const BONUS_MAX = 0.1 + COUNTRY_BONUS;

export function prepareQuery(subject: SubjectQuery): PreparedQuery {
  const tokens = nameTokens(subject.fullName);
  return {
    tokens,
    fullTokensCount: tokens.filter((token) => !isInitial(token)).length,
    keys: tokens.map(phoneticKeys),
    dateOfBirth: subject.dateOfBirth,
    country: subject.country?.toUpperCase(),
  };
}

export class NameIndex {
  readonly source: ListSource;
  readonly listVersionId: string;
  readonly entries: readonly ListEntry[];
  readonly #tokens: string[][] = [];
  readonly #texts: string[] = [];
  readonly #entryOf: number[] = [];
  readonly #isAlias: boolean[] = [];
  readonly #fullTokensCount: number[] = [];
  readonly #postings = new Map<string, Int32Array>();
  /** Per-search scratch space, sized to the names: how many query tokens share a key with each. */
  #hits: Uint8Array;
  #lastToken: Int32Array;

  constructor(source: ListSource, listVersionId: string, entries: readonly ListEntry[]) {
    this.source = source;
    this.listVersionId = listVersionId;
    this.entries = entries;
    const postings = new Map<string, number[]>();
    entries.forEach((entry, entryIndex) => {
      this.#addName(postings, entry.primaryName, entryIndex, false);
      for (const alias of entry.aliases) this.#addName(postings, alias, entryIndex, true);
    });
    for (const [key, ids] of postings) this.#postings.set(key, Int32Array.from(ids));
    this.#hits = new Uint8Array(this.#tokens.length);
    this.#lastToken = new Int32Array(this.#tokens.length).fill(-1);
  }

  get namesCount(): number {
    return this.#tokens.length;
  }

  #addName(postings: Map<string, number[]>, text: string, entryIndex: number, isAlias: boolean): void {
    const tokens = nameTokens(text);
    if (tokens.length === 0) return;
    const id = this.#tokens.length;
    this.#tokens.push(tokens);
    this.#texts.push(text);
    this.#entryOf.push(entryIndex);
    this.#isAlias.push(isAlias);
    this.#fullTokensCount.push(tokens.filter((token) => !isInitial(token)).length);
    const keys = new Set(tokens.flatMap(phoneticKeys));
    for (const key of keys) {
      const list = postings.get(key);
      if (list) list.push(id);
      else postings.set(key, [id]);
    }
  }

  /** Names that share phonetic keys with enough of the query's tokens to be worth scoring. */
  #candidates(query: PreparedQuery): number[] {
    const touched: number[] = [];
    query.keys.forEach((keys, tokenIndex) => {
      for (const key of keys) {
        const ids = this.#postings.get(key);
        if (!ids) continue;
        for (const id of ids) {
          if (this.#lastToken[id] === tokenIndex) continue;
          if (this.#lastToken[id] === -1) touched.push(id);
          this.#lastToken[id] = tokenIndex;
          this.#hits[id]! += 1;
        }
      }
    });
    const candidates: number[] = [];
    for (const id of touched) {
      // Two shared tokens unless one of the names has only one: a shared "Mohammed" is not enough.
      const required = Math.min(2, query.fullTokensCount, this.#fullTokensCount[id]!);
      if (this.#hits[id]! >= required) candidates.push(id);
      this.#hits[id] = 0;
      this.#lastToken[id] = -1;
    }
    return candidates;
  }

  search(query: PreparedQuery, options: SearchOptions): IndexMatch[] {
    if (query.fullTokensCount === 0) return [];
    const best = new Map<number, IndexMatch>();
    for (const id of this.#candidates(query)) {
      const entryIndex = this.#entryOf[id]!;
      const entry = this.entries[entryIndex]!;
      if (options.entryTypes && !options.entryTypes.includes(entry.type)) continue;
      const nameScore = nameSimilarity(query.tokens, this.#tokens[id]!);
      if (nameScore + BONUS_MAX < options.threshold) continue;
      const match = this.#scored(query, entry, id, nameScore);
      if (match.score < options.threshold) continue;
      const previous = best.get(entryIndex);
      // Scores are capped at 1: between equals, the name closest to the subject's is the one shown.
      const better =
        !previous ||
        match.score > previous.score ||
        (match.score === previous.score && match.nameScore > previous.nameScore);
      if (better) best.set(entryIndex, match);
    }
    return [...best.values()]
      .sort((a, b) => b.score - a.score || (a.entry.sourceRef < b.entry.sourceRef ? -1 : 1))
      .slice(0, options.limit);
  }

  #scored(query: PreparedQuery, entry: ListEntry, id: number, nameScore: number): IndexMatch {
    const matchedFields: MatchedField[] = [this.#isAlias[id] ? "alias" : "name"];
    let score = nameScore;
    const dob = compareDateOfBirth(query.dateOfBirth, entry.datesOfBirth);
    if (dob.kind === "match") {
      score += dob.bonus;
      matchedFields.push("dob");
    } else if (dob.kind === "mismatch") {
      score -= dob.penalty;
    }
    if (query.country && entry.countries.includes(query.country)) {
      score += COUNTRY_BONUS;
      matchedFields.push("country");
    }
    return {
      source: this.source,
      listVersionId: this.listVersionId,
      entry,
      matchedName: this.#texts[id]!,
      matchedAs: this.#isAlias[id] ? "alias" : "name",
      nameScore: round(nameScore),
      score: round(clamp(score)),
      matchedFields,
    };
  }
}

function round(score: number): number {
  return Math.round(score * 10_000) / 10_000;
}

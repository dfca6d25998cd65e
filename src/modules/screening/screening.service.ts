import type { Config } from "../../config.ts";
import { actorId, type RequestContext, systemContext } from "../../platform/context.ts";
import { inTransaction, type Tx } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { AppError } from "../../platform/errors.ts";
import type { DomainEvent } from "../../platform/events/event.ts";
import { appendToOutbox } from "../../platform/events/outbox.ts";
import { countryCode } from "./countries.ts";
import { aliasesCount, type EntryType, type ListEntry, type ListSource, type ParsedList } from "./lists.ts";
import { type IndexMatch, type MatchedField, NameIndex, prepareQuery } from "./name-index.ts";
import { BUNDLED_OFAC_DIRECTORY, parseOfac, readOfacDirectory } from "./ofac.loader.ts";
import { ScreeningRepository } from "./screening.repository.ts";
import type {
  HitRow,
  HitStatus,
  ListEntryRow,
  NewHit,
  ScreeningStatus,
  ScreeningTrigger,
} from "./screening.tables.ts";

export type ScreeningConfig = Config["screening"];

export interface ScreeningServiceOptions extends ServiceDependencies {
  config: ScreeningConfig;
}

export interface ScreeningSubject {
  fullName: string;
  /** YYYY-MM-DD. */
  dateOfBirth?: string | undefined;
  /** ISO 3166-1 alpha-2 (or an English country name). */
  country?: string | undefined;
}

/** A possible match of a subject with one list entry. */
export interface ScreeningMatch {
  listSource: ListSource;
  listVersionId: string;
  sourceRef: string;
  entryType: EntryType;
  listedName: string;
  matchedName: string;
  matchedAs: "name" | "alias";
  /** From 0 to 1: the name's similarity adjusted by date of birth and country. */
  score: number;
  nameScore: number;
  matchedFields: MatchedField[];
  programs: string[];
  position: string | null;
}

/** A match stored for a customer, as analysts work with it. */
export interface ScreeningHitDto extends ScreeningMatch {
  id: string;
  screeningId: string;
  customerId: string;
  status: HitStatus;
  decisionReason: string | null;
  decidedBy: string | null;
  decidedAt: string | null;
  createdAt: string;
}

export interface CustomerScreeningInput {
  customerId: string;
  fullName: string;
  dateOfBirth?: string | undefined;
  /** ISO 3166-1 alpha-2. */
  nationality?: string | undefined;
}

export interface CustomerScreeningResult {
  screeningId: string;
  /** "hit" while a sanctions match is open or confirmed; PEP matches set `pep` instead. */
  status: ScreeningStatus;
  /** Every match that stands (open or confirmed), new or raised before; dismissed ones are left out. */
  hits: ScreeningHitDto[];
  pep: boolean;
  newHitsCount: number;
}

export interface LoadListResult {
  listVersionId: string;
  source: ListSource;
  /** False when the list had the same checksum as the current version: nothing was done. */
  created: boolean;
  entriesCount: number;
  aliasesCount: number;
  rescreened: { subjectsCount: number; newHitsCount: number };
}

export interface ScreeningCompletedEvent extends Record<string, unknown> {
  screeningId: string;
  customerId: string;
  status: ScreeningStatus;
  pep: boolean;
  trigger: ScreeningTrigger;
  hitsCount: number;
  newHitsCount: number;
  listVersionIds: string[];
}

export interface ScreeningHitFoundEvent extends Record<string, unknown> {
  hitId: string;
  screeningId: string;
  customerId: string;
  listSource: ListSource;
  listVersionId: string;
  sourceRef: string;
  score: number;
  matchedFields: MatchedField[];
}

export interface ScreeningListUpdatedEvent extends Record<string, unknown> {
  listVersionId: string;
  source: ListSource;
  entriesCount: number;
  aliasesCount: number;
  checksum: string;
  previousVersionId: string | null;
}

export interface ScreeningHitDecidedEvent extends Record<string, unknown> {
  hitId: string;
  customerId: string;
  listSource: ListSource;
  sourceRef: string;
  decidedBy: string;
}

export type HitDecision = "false_positive" | "confirmed";

/** Customers are people: vessels and aircraft on the lists are not screened against them. */
const CUSTOMER_ENTRY_TYPES: readonly EntryType[] = ["individual", "entity"];
/** How often a node looks for a list version loaded by another node. */
const LIST_CHECK_INTERVAL_MS = 5_000;
const HITS_PAGE_MAX = 100;
const FULL_NAME_LENGTH_MAX = 200;
const REASON_LENGTH_MAX = 2_000;

interface LoadedIndex {
  index: NameIndex;
  loadedAtMs: number;
}

/**
 * Sanctions and PEP screening: versioned watch lists, an in-memory name index per list version
 * (built once, swapped when a list changes), customer screenings with their hits stored, audited
 * and published through the outbox, re-screening of every recorded customer when a list changes,
 * and analysts' decisions, with false positives remembered per customer and list entry.
 */
export class ScreeningService {
  readonly #options: ScreeningServiceOptions;
  readonly #repository: ScreeningRepository;
  readonly #indexes = new Map<ListSource, LoadedIndex>();
  #checkedAtMs: number | undefined;
  #refreshing: Promise<void> | undefined;
  #bundledList: Promise<void> | undefined;

  constructor(options: ScreeningServiceOptions) {
    this.#options = options;
    this.#repository = new ScreeningRepository({ db: options.db });
  }

  /**
   * Loads the bundled OFAC snapshot when no OFAC list was ever loaded (a new installation). `serve`
   * calls it before listening; the first screening calls it too, so a node never screens against
   * nothing, and an app that never screens (most test suites) never pays for parsing the list.
   */
  ensureBundledList(): Promise<void> {
    this.#bundledList ??= this.#loadBundledList().catch((error: unknown) => {
      this.#bundledList = undefined;
      throw error;
    });
    return this.#bundledList;
  }

  async #loadBundledList(): Promise<void> {
    if (!this.#options.config.loadBundledList) return;
    if (await this.#repository.latestVersion("ofac")) return;
    const startedAt = performance.now();
    const list = parseOfac(readOfacDirectory(BUNDLED_OFAC_DIRECTORY));
    const loaded = await this.#load(systemContext("screening-bundled-list"), list);
    this.#options.logger.info(
      {
        listVersionId: loaded.listVersionId,
        entriesCount: loaded.entriesCount,
        ms: Math.round(performance.now() - startedAt),
      },
      "bundled OFAC list loaded",
    );
  }

  /** Screens a name against the current version of every list; nothing is stored. */
  async screen(
    subject: ScreeningSubject,
    options: { entryTypes?: readonly EntryType[] } = {},
  ): Promise<ScreeningMatch[]> {
    return this.#search(await this.#currentIndexes(), subject, options.entryTypes);
  }

  #search(
    indexes: NameIndex[],
    subject: ScreeningSubject,
    entryTypes?: readonly EntryType[],
  ): ScreeningMatch[] {
    const query = prepareQuery({
      fullName: subject.fullName,
      dateOfBirth: subject.dateOfBirth,
      country: subject.country ? countryCode(subject.country) : undefined,
    });
    const { threshold, hitsMax } = this.#options.config;
    return indexes
      .flatMap((index) => index.search(query, { threshold, limit: hitsMax, entryTypes }))
      .sort((a, b) => b.score - a.score)
      .slice(0, hitsMax)
      .map(toMatch);
  }

  /** Statistics of the indexes in memory (for benchmarks and operations). */
  async indexes(): Promise<Array<{ source: ListSource; listVersionId: string; namesCount: number }>> {
    return (await this.#currentIndexes()).map((index) => ({
      source: index.source,
      listVersionId: index.listVersionId,
      namesCount: index.namesCount,
    }));
  }

  /**
   * Screens a customer, records them for re-screening, and stores the screening and its new hits
   * with audit and events, in `tx` when given (the caller's workflow step) or in a transaction of
   * its own. Matches an analyst dismissed for this customer and list entry are not raised again.
   */
  async screenCustomer(
    tx: Tx | undefined,
    context: RequestContext,
    input: CustomerScreeningInput,
  ): Promise<CustomerScreeningResult> {
    const subject = validSubject(input);
    const indexes = await this.#currentIndexes();
    const matches = this.#search(indexes, subject, CUSTOMER_ENTRY_TYPES);
    const versions = indexes.map((index) => index.listVersionId);
    const work = async (inner: Tx) => {
      const now = this.#options.clock.now();
      await this.#repository.upsertSubject(inner, {
        customer_id: input.customerId,
        full_name: subject.fullName,
        date_of_birth: subject.dateOfBirth ?? null,
        nationality: subject.country ?? null,
        created_at: now,
        updated_at: now,
      });
      return this.#record(inner, context, input.customerId, matches, versions, "request");
    };
    const result = tx ? await work(tx) : await inTransaction(this.#options.db, work);
    if (!result) throw new Error("a requested screening is always recorded");
    return result;
  }

  /**
   * Stores one screening of a locked subject. On a list update only screenings that found
   * something new are stored: re-screening thousands of unchanged customers writes nothing.
   */
  async #record(
    tx: Tx,
    context: RequestContext,
    customerId: string,
    matches: ScreeningMatch[],
    listVersionIds: string[],
    trigger: ScreeningTrigger,
  ): Promise<CustomerScreeningResult | undefined> {
    const standing = await this.#repository.standingHits(tx, customerId);
    const dismissed = new Set(
      (await this.#repository.falsePositiveRefs(tx, customerId)).map((row) =>
        entryKey(row.list_source, row.source_ref),
      ),
    );
    const known = new Map(standing.map((row) => [entryKey(row.list_source, row.source_ref), row]));
    const fresh = matches.filter((match) => {
      const key = entryKey(match.listSource, match.sourceRef);
      return !dismissed.has(key) && !known.has(key);
    });
    if (trigger === "list_update" && fresh.length === 0) return undefined;
    const now = this.#options.clock.now();
    const screeningId = this.#options.ids.next("scr");
    const newRows: NewHit[] = fresh.map((match) =>
      newHitRow(match, this.#options.ids.next("sch"), screeningId, customerId, now),
    );
    // New rows hold their jsonb as JSON strings; toHitDto reads both forms.
    const hits = [...standing, ...(newRows as unknown as HitRow[])].map(toHitDto);
    const status: ScreeningStatus = hits.some((hit) => hit.listSource !== "pep") ? "hit" : "clear";
    const pep = hits.some((hit) => hit.listSource === "pep");
    await this.#repository.insertRun(tx, {
      id: screeningId,
      customer_id: customerId,
      status,
      pep,
      trigger,
      list_version_ids: JSON.stringify(listVersionIds),
      hits_count: hits.length,
      new_hits_count: newRows.length,
      created_at: now,
    });
    await this.#repository.insertHits(tx, newRows);
    await this.#repository.setLastScreening(tx, customerId, screeningId);
    const completed: ScreeningCompletedEvent = {
      screeningId,
      customerId,
      status,
      pep,
      trigger,
      hitsCount: hits.length,
      newHitsCount: newRows.length,
      listVersionIds,
    };
    await this.#publish(tx, context, completed, newRows);
    return { screeningId, status, hits, pep, newHitsCount: newRows.length };
  }

  async #publish(tx: Tx, context: RequestContext, completed: ScreeningCompletedEvent, newRows: NewHit[]) {
    const { events, audit } = this.#options;
    const found: DomainEvent[] = newRows.map((row) => {
      const data: ScreeningHitFoundEvent = {
        hitId: row.id,
        screeningId: completed.screeningId,
        customerId: completed.customerId,
        listSource: row.list_source,
        listVersionId: row.list_version_id,
        sourceRef: row.source_ref,
        score: row.score,
        matchedFields: JSON.parse(row.matched_fields) as MatchedField[],
      };
      return events.create(context, "screening.hit_found", row.id, data);
    });
    await appendToOutbox(tx, [
      events.create(context, "screening.completed", completed.screeningId, completed),
      ...found,
    ]);
    await audit.record(tx, context, {
      action: "screening.completed",
      subjectId: completed.customerId,
      details: {
        screeningId: completed.screeningId,
        status: completed.status,
        pep: completed.pep,
        trigger: completed.trigger,
        hitsCount: completed.hitsCount,
        newHitIds: newRows.map((row) => row.id),
      },
    });
  }

  // Lists.

  /**
   * Stores a new version of a list unless its content (checksum) is the current version's, swaps
   * the in-memory index, then re-screens every recorded customer against it in bounded batches.
   */
  async loadList(context: RequestContext, list: ParsedList): Promise<LoadListResult> {
    return this.#load(context, list);
  }

  async #load(context: RequestContext, list: ParsedList): Promise<LoadListResult> {
    const { ids, clock, db } = this.#options;
    const counts = { entriesCount: list.entries.length, aliasesCount: aliasesCount(list) };
    const outcome = await inTransaction(db, async (tx) => {
      await this.#repository.lockSource(tx, list.source);
      const current = await this.#repository.latestVersion(list.source, tx);
      if (current && current.checksum === list.checksum)
        return { id: current.id, created: false, loadedAt: current.loaded_at };
      const id = ids.next("slv");
      const loadedAt = clock.now();
      await this.#repository.insertVersion(tx, {
        id,
        source: list.source,
        checksum: list.checksum,
        entries_count: counts.entriesCount,
        aliases_count: counts.aliasesCount,
        previous_version_id: current?.id ?? null,
        loaded_by: actorId(context.actor) ?? "unknown",
        loaded_at: loadedAt,
      });
      await this.#repository.insertEntries(tx, id, list.entries);
      await this.#publishListUpdated(tx, context, list, id, current?.id ?? null, counts);
      return { id, created: true, loadedAt };
    });
    const base = { listVersionId: outcome.id, source: list.source, created: outcome.created, ...counts };
    if (!outcome.created) return { ...base, rescreened: { subjectsCount: 0, newHitsCount: 0 } };
    this.#swap(new NameIndex(list.source, outcome.id, list.entries), outcome.loadedAt.getTime());
    return { ...base, rescreened: await this.#rescreenAll(context) };
  }

  async #publishListUpdated(
    tx: Tx,
    context: RequestContext,
    list: ParsedList,
    id: string,
    previousVersionId: string | null,
    counts: { entriesCount: number; aliasesCount: number },
  ): Promise<void> {
    const data: ScreeningListUpdatedEvent = {
      listVersionId: id,
      source: list.source,
      ...counts,
      checksum: list.checksum,
      previousVersionId,
    };
    await appendToOutbox(tx, [this.#options.events.create(context, "screening.list_updated", id, data)]);
    await this.#options.audit.record(tx, context, {
      action: "screening.list_loaded",
      subjectId: id,
      details: { source: list.source, ...counts, checksum: list.checksum, previousVersionId },
    });
  }

  /** Every recorded subject against the current lists, a bounded page per transaction. */
  async #rescreenAll(context: RequestContext): Promise<{ subjectsCount: number; newHitsCount: number }> {
    const batchMax = this.#options.config.rescreenBatchMax;
    const totals = { subjectsCount: 0, newHitsCount: 0 };
    let after: string | undefined;
    for (;;) {
      const subjects = await this.#repository.subjectsPage(after, batchMax);
      if (subjects.length === 0) return totals;
      // Not waiting for the bundled list: this may be the bundled list's own load.
      const indexes = await this.#currentIndexes({ waitForBundledList: false });
      const versions = indexes.map((index) => index.listVersionId);
      await inTransaction(this.#options.db, async (tx) => {
        for (const subject of subjects) {
          await this.#repository.lockSubject(tx, subject.customer_id);
          const matches = this.#search(
            indexes,
            {
              fullName: subject.full_name,
              dateOfBirth: subject.date_of_birth ?? undefined,
              country: subject.nationality ?? undefined,
            },
            CUSTOMER_ENTRY_TYPES,
          );
          const result = await this.#record(
            tx,
            context,
            subject.customer_id,
            matches,
            versions,
            "list_update",
          );
          totals.newHitsCount += result?.newHitsCount ?? 0;
        }
      });
      totals.subjectsCount += subjects.length;
      after = subjects.at(-1)!.customer_id;
      if (subjects.length < batchMax) return totals;
    }
  }

  /** Replaces a source's index unless a newer version is already in memory. */
  #swap(index: NameIndex, loadedAtMs: number): void {
    const current = this.#indexes.get(index.source);
    if (current && current.loadedAtMs > loadedAtMs) return;
    this.#indexes.set(index.source, { index, loadedAtMs });
  }

  /** The indexes in memory, after looking (at most every few seconds) for versions loaded elsewhere. */
  async #currentIndexes(
    options: { waitForBundledList: boolean } = { waitForBundledList: true },
  ): Promise<NameIndex[]> {
    if (options.waitForBundledList) await this.ensureBundledList();
    const nowMs = this.#options.clock.now().getTime();
    const checked = this.#checkedAtMs;
    const fresh = checked !== undefined && nowMs >= checked && nowMs - checked < LIST_CHECK_INTERVAL_MS;
    if (!fresh) {
      this.#refreshing ??= this.#refresh(nowMs).finally(() => {
        this.#refreshing = undefined;
      });
      await this.#refreshing;
    }
    return [...this.#indexes.values()].map((loaded) => loaded.index);
  }

  async #refresh(nowMs: number): Promise<void> {
    for (const version of await this.#repository.latestVersions()) {
      if (this.#indexes.get(version.source)?.index.listVersionId === version.id) continue;
      const entries = (await this.#repository.entries(version.id)).map(toEntry);
      this.#swap(new NameIndex(version.source, version.id, entries), version.loaded_at.getTime());
    }
    this.#checkedAtMs = nowMs;
  }

  // Analysts.

  /** Open hits, oldest first; `limit` is clamped to 1…100. */
  async openHits(page: { limit?: number | undefined; cursor?: string | undefined } = {}) {
    const limit = Math.min(Math.max(1, Math.floor(page.limit ?? 50)), HITS_PAGE_MAX);
    const rows = await this.#repository.openHits(page.cursor, limit + 1);
    const items = rows.slice(0, limit).map(toHitDto);
    return { items, nextCursor: rows.length > limit ? items.at(-1)!.id : null };
  }

  /** A customer's hits, newest first (at most 100): for onboarding and risk rating. */
  async hitsForCustomer(customerId: string): Promise<ScreeningHitDto[]> {
    return (await this.#repository.hitsForCustomer(customerId, HITS_PAGE_MAX)).map(toHitDto);
  }

  /** An analyst's decision on an open hit; a false positive is remembered for that customer and entry. */
  async decideHit(
    context: RequestContext,
    hitId: string,
    decision: HitDecision,
    reason: string,
  ): Promise<ScreeningHitDto> {
    const trimmed = reason.trim();
    if (trimmed === "" || trimmed.length > REASON_LENGTH_MAX) {
      throw new AppError("validation", `A reason of 1 to ${REASON_LENGTH_MAX} characters is required.`);
    }
    const decidedBy = actorId(context.actor) ?? "unknown";
    return inTransaction(this.#options.db, async (tx) => {
      const hit = await this.#repository.lockHit(tx, hitId);
      if (!hit) throw new AppError("not-found", "No such screening hit.");
      if (hit.status !== "open")
        throw new AppError("conflict", `The hit was already decided (${hit.status}).`);
      const now = this.#options.clock.now();
      const decided = await this.#repository.decideHit(tx, hitId, {
        status: decision,
        reason: trimmed,
        decidedBy,
        decidedAt: now,
      });
      if (decision === "false_positive")
        await this.#repository.rememberFalsePositive(tx, hit, trimmed, decidedBy, now);
      const type = decision === "false_positive" ? "screening.hit_false_positive" : "screening.hit_confirmed";
      const data: ScreeningHitDecidedEvent = {
        hitId,
        customerId: hit.customer_id,
        listSource: hit.list_source,
        sourceRef: hit.source_ref,
        decidedBy,
      };
      await appendToOutbox(tx, [this.#options.events.create(context, type, hitId, data)]);
      await this.#options.audit.record(tx, context, {
        action: type,
        subjectId: hitId,
        details: { ...data, reason: trimmed, statusBefore: hit.status, statusAfter: decision },
      });
      return toHitDto(decided);
    });
  }
}

function entryKey(source: string, sourceRef: string): string {
  return `${source}:${sourceRef}`;
}

const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;

function validDate(value: string): boolean {
  const match = DATE_PATTERN.exec(value);
  if (!match) return false;
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(value);
}

function validSubject(input: CustomerScreeningInput): ScreeningSubject {
  const fullName = input.fullName.trim();
  if (fullName === "" || fullName.length > FULL_NAME_LENGTH_MAX) {
    throw new AppError("validation", `fullName must have 1 to ${FULL_NAME_LENGTH_MAX} characters.`);
  }
  if (input.dateOfBirth !== undefined && !validDate(input.dateOfBirth)) {
    throw new AppError("validation", "dateOfBirth must be a date as YYYY-MM-DD.");
  }
  const country = input.nationality === undefined ? undefined : countryCode(input.nationality);
  if (input.nationality !== undefined && (!country || !/^[A-Za-z]{2}$/.test(input.nationality))) {
    throw new AppError("validation", "nationality must be an ISO 3166-1 alpha-2 code.");
  }
  return { fullName, dateOfBirth: input.dateOfBirth, country };
}

function toMatch(match: IndexMatch): ScreeningMatch {
  return {
    listSource: match.source,
    listVersionId: match.listVersionId,
    sourceRef: match.entry.sourceRef,
    entryType: match.entry.type,
    listedName: match.entry.primaryName,
    matchedName: match.matchedName,
    matchedAs: match.matchedAs,
    score: match.score,
    nameScore: match.nameScore,
    matchedFields: match.matchedFields,
    programs: match.entry.programs,
    position: match.entry.position,
  };
}

function toEntry(row: ListEntryRow): ListEntry {
  return {
    sourceRef: row.source_ref,
    type: row.entry_type,
    primaryName: row.primary_name,
    aliases: row.aliases,
    datesOfBirth: row.dates_of_birth,
    countries: row.countries,
    programs: row.programs,
    position: row.position,
  };
}

function newHitRow(
  match: ScreeningMatch,
  id: string,
  screeningId: string,
  customerId: string,
  now: Date,
): NewHit {
  return {
    id,
    screening_id: screeningId,
    customer_id: customerId,
    list_version_id: match.listVersionId,
    list_source: match.listSource,
    source_ref: match.sourceRef,
    entry_type: match.entryType,
    listed_name: match.listedName,
    matched_name: match.matchedName,
    matched_as: match.matchedAs,
    score: match.score,
    name_score: match.nameScore,
    matched_fields: JSON.stringify(match.matchedFields),
    programs: JSON.stringify(match.programs),
    position: match.position,
    status: "open",
    decision_reason: null,
    decided_by: null,
    decided_at: null,
    created_at: now,
  };
}

/** Rows read back have parsed jsonb; rows just built hold JSON strings: both become a DTO. */
function parsed<T>(value: T | string): T {
  return typeof value === "string" ? (JSON.parse(value) as T) : value;
}

function toHitDto(row: HitRow): ScreeningHitDto {
  return {
    id: row.id,
    screeningId: row.screening_id,
    customerId: row.customer_id,
    listSource: row.list_source,
    listVersionId: row.list_version_id,
    sourceRef: row.source_ref,
    entryType: row.entry_type,
    listedName: row.listed_name,
    matchedName: row.matched_name,
    matchedAs: row.matched_as,
    score: row.score,
    nameScore: row.name_score,
    matchedFields: parsed(row.matched_fields),
    programs: parsed(row.programs),
    position: row.position,
    status: row.status,
    decisionReason: row.decision_reason,
    decidedBy: row.decided_by,
    decidedAt: row.decided_at ? new Date(row.decided_at).toISOString() : null,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

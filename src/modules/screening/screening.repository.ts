import { sql } from "kysely";
import { bulkInsert } from "../../platform/db/bulk.ts";
import type { Db, Tx } from "../../platform/db/database.ts";
import type { ListEntry, ListSource } from "./lists.ts";
import {
  type HitRow,
  type HitStatus,
  type ListEntryRow,
  type ListVersionRow,
  type NewHit,
  type NewRun,
  type SubjectRow,
  screeningDb,
  screeningTx,
} from "./screening.tables.ts";

/** Entries per insert statement: 9,000 parties go in nine statements, not 9,000. */
const ENTRIES_PER_STATEMENT = 1_000;

const ENTRY_COLUMNS = [
  ["list_version_id", "text"],
  ["source_ref", "text"],
  ["entry_type", "text"],
  ["primary_name", "text"],
  ["aliases", "jsonb"],
  ["dates_of_birth", "jsonb"],
  ["countries", "jsonb"],
  ["programs", "jsonb"],
  ["position", "text"],
] as const;

/** The only place the screening module's SQL lives. */
export class ScreeningRepository {
  readonly #db: Db;

  constructor(options: { db: Db }) {
    this.#db = options.db;
  }

  /** Serialises loads of one source across nodes until the transaction ends. */
  async lockSource(tx: Tx, source: ListSource): Promise<void> {
    await sql`select pg_advisory_xact_lock(hashtext(${`screening-list:${source}`}))`.execute(tx);
  }

  async latestVersion(source: ListSource, tx?: Tx): Promise<ListVersionRow | undefined> {
    const db = tx ? screeningTx(tx) : screeningDb(this.#db);
    return db
      .selectFrom("screening_list_versions")
      .selectAll()
      .where("source", "=", source)
      .orderBy("loaded_at", "desc")
      .orderBy("id", "desc")
      .limit(1)
      .executeTakeFirst();
  }

  /** The current version of every source that has one. */
  async latestVersions(): Promise<ListVersionRow[]> {
    return screeningDb(this.#db)
      .selectFrom("screening_list_versions")
      .selectAll()
      .distinctOn("source")
      .orderBy("source")
      .orderBy("loaded_at", "desc")
      .orderBy("id", "desc")
      .execute();
  }

  async insertVersion(tx: Tx, row: ListVersionRow): Promise<void> {
    await screeningTx(tx).insertInto("screening_list_versions").values(row).execute();
  }

  async insertEntries(tx: Tx, listVersionId: string, entries: readonly ListEntry[]): Promise<void> {
    for (let start = 0; start < entries.length; start += ENTRIES_PER_STATEMENT) {
      const rows = entries.slice(start, start + ENTRIES_PER_STATEMENT).map((entry) => ({
        list_version_id: listVersionId,
        source_ref: entry.sourceRef,
        entry_type: entry.type,
        primary_name: entry.primaryName,
        aliases: JSON.stringify(entry.aliases),
        dates_of_birth: JSON.stringify(entry.datesOfBirth),
        countries: JSON.stringify(entry.countries),
        programs: JSON.stringify(entry.programs),
        position: entry.position,
      }));
      await bulkInsert("screening_list_entries", ENTRY_COLUMNS, rows).execute(tx);
    }
  }

  async entries(listVersionId: string): Promise<ListEntryRow[]> {
    return screeningDb(this.#db)
      .selectFrom("screening_list_entries")
      .selectAll()
      .where("list_version_id", "=", listVersionId)
      .orderBy("source_ref")
      .execute();
  }

  /** Records (or updates) whom to screen; the row stays locked until the transaction ends. */
  async upsertSubject(tx: Tx, row: Omit<SubjectRow, "last_screening_id">): Promise<void> {
    await screeningTx(tx)
      .insertInto("screening_subjects")
      .values({ ...row, last_screening_id: null })
      .onConflict((conflict) =>
        conflict.column("customer_id").doUpdateSet({
          full_name: row.full_name,
          date_of_birth: row.date_of_birth,
          nationality: row.nationality,
          updated_at: row.updated_at,
        }),
      )
      .execute();
  }

  /** Locks an existing subject row (re-screening on a list change). */
  async lockSubject(tx: Tx, customerId: string): Promise<void> {
    await screeningTx(tx)
      .selectFrom("screening_subjects")
      .select("customer_id")
      .where("customer_id", "=", customerId)
      .forUpdate()
      .execute();
  }

  async subject(customerId: string): Promise<SubjectRow | undefined> {
    return screeningDb(this.#db)
      .selectFrom("screening_subjects")
      .selectAll()
      .where("customer_id", "=", customerId)
      .executeTakeFirst();
  }

  /** Subjects in customer-id order after `afterCustomerId`: re-screening walks them in pages. */
  async subjectsPage(afterCustomerId: string | undefined, limit: number): Promise<SubjectRow[]> {
    let query = screeningDb(this.#db).selectFrom("screening_subjects").selectAll();
    if (afterCustomerId !== undefined) query = query.where("customer_id", ">", afterCustomerId);
    return query.orderBy("customer_id").limit(limit).execute();
  }

  async setLastScreening(tx: Tx, customerId: string, screeningId: string): Promise<void> {
    await screeningTx(tx)
      .updateTable("screening_subjects")
      .set({ last_screening_id: screeningId })
      .where("customer_id", "=", customerId)
      .execute();
  }

  /** Hits already raised for the customer and not dismissed: a re-screening does not raise them twice. */
  async standingHits(tx: Tx, customerId: string): Promise<HitRow[]> {
    return screeningTx(tx)
      .selectFrom("screening_hits")
      .selectAll()
      .where("customer_id", "=", customerId)
      .where("status", "in", ["open", "confirmed"])
      .orderBy("id")
      .execute();
  }

  async falsePositiveRefs(
    tx: Tx,
    customerId: string,
  ): Promise<Array<{ list_source: ListSource; source_ref: string }>> {
    return screeningTx(tx)
      .selectFrom("screening_false_positives")
      .select(["list_source", "source_ref"])
      .where("customer_id", "=", customerId)
      .execute();
  }

  async insertRun(tx: Tx, row: NewRun): Promise<void> {
    await screeningTx(tx).insertInto("screening_runs").values(row).execute();
  }

  async insertHits(tx: Tx, rows: NewHit[]): Promise<void> {
    if (rows.length === 0) return;
    await screeningTx(tx).insertInto("screening_hits").values(rows).execute();
  }

  /** Open hits, oldest first, after the cursor (a hit id: ids are time-ordered). */
  async openHits(afterId: string | undefined, limit: number): Promise<HitRow[]> {
    let query = screeningDb(this.#db).selectFrom("screening_hits").selectAll().where("status", "=", "open");
    if (afterId !== undefined) query = query.where("id", ">", afterId);
    return query.orderBy("id").limit(limit).execute();
  }

  async hitsForCustomer(customerId: string, limit: number): Promise<HitRow[]> {
    return screeningDb(this.#db)
      .selectFrom("screening_hits")
      .selectAll()
      .where("customer_id", "=", customerId)
      .orderBy("id", "desc")
      .limit(limit)
      .execute();
  }

  async lockHit(tx: Tx, id: string): Promise<HitRow | undefined> {
    return screeningTx(tx)
      .selectFrom("screening_hits")
      .selectAll()
      .where("id", "=", id)
      .forUpdate()
      .executeTakeFirst();
  }

  async decideHit(
    tx: Tx,
    id: string,
    decision: { status: HitStatus; reason: string; decidedBy: string; decidedAt: Date },
  ): Promise<HitRow> {
    return screeningTx(tx)
      .updateTable("screening_hits")
      .set({
        status: decision.status,
        decision_reason: decision.reason,
        decided_by: decision.decidedBy,
        decided_at: decision.decidedAt,
      })
      .where("id", "=", id)
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async rememberFalsePositive(
    tx: Tx,
    hit: HitRow,
    reason: string,
    decidedBy: string,
    at: Date,
  ): Promise<void> {
    const row = { hit_id: hit.id, reason, decided_by: decidedBy, decided_at: at };
    await screeningTx(tx)
      .insertInto("screening_false_positives")
      .values({
        customer_id: hit.customer_id,
        list_source: hit.list_source,
        source_ref: hit.source_ref,
        ...row,
      })
      .onConflict((conflict) =>
        conflict.columns(["customer_id", "list_source", "source_ref"]).doUpdateSet(row),
      )
      .execute();
  }
}

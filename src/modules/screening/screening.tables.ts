import type { ColumnType, Insertable, Kysely, Selectable, Transaction } from "kysely";
import type { Db, Tx } from "../../platform/db/database.ts";
import type { EntryType, ListSource } from "./lists.ts";
import type { MatchedField } from "./name-index.ts";

/** jsonb columns are written as JSON strings and read back as values. */
type Json<T> = ColumnType<T, string, string>;

export type ScreeningStatus = "clear" | "hit";
export type HitStatus = "open" | "false_positive" | "confirmed";
export type ScreeningTrigger = "request" | "list_update";

export interface ScreeningTables {
  screening_list_versions: {
    id: string;
    source: ListSource;
    checksum: string;
    entries_count: number;
    aliases_count: number;
    previous_version_id: string | null;
    loaded_by: string;
    loaded_at: Date;
  };
  screening_list_entries: {
    list_version_id: string;
    source_ref: string;
    entry_type: EntryType;
    primary_name: string;
    aliases: Json<string[]>;
    dates_of_birth: Json<string[]>;
    countries: Json<string[]>;
    programs: Json<string[]>;
    position: string | null;
  };
  screening_subjects: {
    customer_id: string;
    full_name: string;
    date_of_birth: string | null;
    nationality: string | null;
    last_screening_id: string | null;
    created_at: Date;
    updated_at: Date;
  };
  screening_runs: {
    id: string;
    customer_id: string;
    status: ScreeningStatus;
    pep: boolean;
    trigger: ScreeningTrigger;
    list_version_ids: Json<string[]>;
    hits_count: number;
    new_hits_count: number;
    created_at: Date;
  };
  screening_hits: {
    id: string;
    screening_id: string;
    customer_id: string;
    list_version_id: string;
    list_source: ListSource;
    source_ref: string;
    entry_type: EntryType;
    listed_name: string;
    matched_name: string;
    matched_as: "name" | "alias";
    score: number;
    name_score: number;
    matched_fields: Json<MatchedField[]>;
    programs: Json<string[]>;
    position: string | null;
    status: HitStatus;
    decision_reason: string | null;
    decided_by: string | null;
    decided_at: Date | null;
    created_at: Date;
  };
  screening_false_positives: {
    customer_id: string;
    list_source: ListSource;
    source_ref: string;
    hit_id: string;
    reason: string;
    decided_by: string;
    decided_at: Date;
  };
}

export type ListVersionRow = Selectable<ScreeningTables["screening_list_versions"]>;
export type ListEntryRow = Selectable<ScreeningTables["screening_list_entries"]>;
export type SubjectRow = Selectable<ScreeningTables["screening_subjects"]>;
export type HitRow = Selectable<ScreeningTables["screening_hits"]>;
export type NewHit = Insertable<ScreeningTables["screening_hits"]>;
export type NewRun = Insertable<ScreeningTables["screening_runs"]>;

export function screeningDb(db: Db): Kysely<ScreeningTables> {
  return db as unknown as Kysely<ScreeningTables>;
}

export function screeningTx(tx: Tx): Transaction<ScreeningTables> {
  return tx as unknown as Transaction<ScreeningTables>;
}

-- The screening module's tables. Customer ids are plain references (no foreign keys): screening
-- owns the lists it loaded, whom it screens, what it found and what analysts decided.

-- Every load of a watch list that changed it: a new version per source, never updated.
create table screening_list_versions (
  id text primary key,
  source text not null check (source in ('ofac', 'pep')),
  checksum text not null,
  entries_count integer not null check (entries_count >= 0),
  aliases_count integer not null check (aliases_count >= 0),
  previous_version_id text,
  loaded_by text not null,
  loaded_at timestamptz not null
);
create index screening_list_versions_source_idx on screening_list_versions (source, loaded_at desc, id desc);

-- The parties of one list version. source_ref is the list's own id (OFAC ent_num), stable across
-- versions: false-positive decisions refer to it, not to a version.
create table screening_list_entries (
  list_version_id text not null,
  source_ref text not null,
  entry_type text not null check (entry_type in ('individual', 'entity', 'vessel', 'aircraft')),
  primary_name text not null,
  aliases jsonb not null,
  dates_of_birth jsonb not null,
  countries jsonb not null,
  programs jsonb not null,
  position text,
  primary key (list_version_id, source_ref)
);

-- Whom to screen again when a list changes: one row per customer, as last given.
create table screening_subjects (
  customer_id text primary key,
  full_name text not null,
  date_of_birth text,
  nationality text,
  last_screening_id text,
  created_at timestamptz not null,
  updated_at timestamptz not null
);

-- One screening of one customer against the current list versions.
create table screening_runs (
  id text primary key,
  customer_id text not null,
  status text not null check (status in ('clear', 'hit')),
  pep boolean not null,
  trigger text not null check (trigger in ('request', 'list_update')),
  list_version_ids jsonb not null,
  hits_count integer not null,
  new_hits_count integer not null,
  created_at timestamptz not null
);
create index screening_runs_customer_idx on screening_runs (customer_id, created_at desc, id desc);

-- A possible match between a customer and a list entry, open until an analyst decides it.
create table screening_hits (
  id text primary key,
  screening_id text not null,
  customer_id text not null,
  list_version_id text not null,
  list_source text not null,
  source_ref text not null,
  entry_type text not null,
  listed_name text not null,
  matched_name text not null,
  matched_as text not null check (matched_as in ('name', 'alias')),
  score double precision not null check (score between 0 and 1),
  name_score double precision not null check (name_score between 0 and 1),
  matched_fields jsonb not null,
  programs jsonb not null,
  position text,
  status text not null check (status in ('open', 'false_positive', 'confirmed')),
  decision_reason text,
  decided_by text,
  decided_at timestamptz,
  created_at timestamptz not null
);
-- The analysts' queue (open hits, oldest first) and "is this entry already known for this customer".
create index screening_hits_open_idx on screening_hits (id) where status = 'open';
create index screening_hits_customer_idx on screening_hits (customer_id, list_source, source_ref);

-- An analyst's "not this person": remembered for this customer and this list entry, so a later
-- screening or list version does not raise it again. Other customers are still matched.
create table screening_false_positives (
  customer_id text not null,
  list_source text not null,
  source_ref text not null,
  hit_id text not null,
  reason text not null,
  decided_by text not null,
  decided_at timestamptz not null,
  primary key (customer_id, list_source, source_ref)
);

-- The ledger: accounts with their balances, an append-only double-entry journal, and holds.
-- Balances live on the account row and are updated in the same transaction as the postings,
-- so they always equal the sum of the account's postings (checked by the property tests).

create sequence ledger_account_number_seq start with 1;

create table ledger_accounts (
  id text primary key,
  iban text unique,
  owner_customer_id text,
  kind text not null check (kind in ('current', 'savings', 'system')),
  system_code text,
  shard integer,
  currency char(3) not null,
  status text not null check (status in ('active', 'frozen', 'closed')),
  booked_minor bigint not null default 0,
  held_minor bigint not null default 0 check (held_minor >= 0),
  overdraft_limit_minor bigint not null default 0 check (overdraft_limit_minor >= 0),
  allow_negative boolean not null default false,
  posting_seq bigint not null default 0,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  check ((kind = 'system') = (system_code is not null)),
  check (kind = 'system' or (iban is not null and owner_customer_id is not null)),
  -- The database refuses a balance below what is allowed, whatever the code does.
  check (allow_negative or booked_minor - held_minor >= -overdraft_limit_minor)
) with (fillfactor = 80); -- room on each page for HOT updates of the balance columns
create index ledger_accounts_owner_idx on ledger_accounts (owner_customer_id, created_at);
-- Busy system accounts (cash, clearing) are split into shards so that no single row is hot.
create unique index ledger_accounts_system_idx on ledger_accounts (system_code, currency, shard)
  where kind = 'system';

create table ledger_journal_entries (
  id text primary key,
  kind text not null,
  transfer_id text,
  reference text,
  created_at timestamptz not null
);

create table ledger_postings (
  id text primary key,
  -- No foreign keys on the hot path: each would lock the referenced row per posting (measured:
  -- a third of a batch's time). The posting engine only books locked, existing accounts, and
  -- the consistency report checks every posting against its account (ADR 0002).
  entry_id text not null,
  account_id text not null,
  seq bigint not null,
  amount_minor bigint not null check (amount_minor <> 0),
  currency char(3) not null,
  balance_after_minor bigint not null,
  created_at timestamptz not null,
  unique (account_id, seq)
);
create index ledger_postings_entry_idx on ledger_postings (entry_id);

create table ledger_holds (
  id text primary key,
  account_id text not null references ledger_accounts (id),
  amount_minor bigint not null check (amount_minor > 0),
  currency char(3) not null,
  status text not null check (status in ('placed', 'captured', 'released')),
  reference text,
  entry_id text,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create index ledger_holds_account_idx on ledger_holds (account_id) where status = 'placed';

-- The journal is append-only: a correction is a new entry, never an edit.
create function ledger_refuse_change() returns trigger language plpgsql as $$
begin
  raise exception 'the ledger journal is append-only (% on %)', tg_op, tg_table_name;
end $$;
create trigger ledger_postings_append_only before update or delete on ledger_postings
  for each row execute function ledger_refuse_change();
create trigger ledger_journal_entries_append_only before update or delete on ledger_journal_entries
  for each row execute function ledger_refuse_change();

-- Legacy-mastered accounts: the mirror of the legacy core (accounts and transactions, fed by its
-- change feed), payments from those accounts with their holds, the posting outbox towards the
-- core, and reconciliation runs with their breaks. The legacy core stays the system of record
-- for these accounts; Omnicore decides against the mirror and posts asynchronously.

create table legacy_accounts (
  id text primary key,
  legacy_account_id text not null unique,
  -- The legacy account's ownerRef: the Omnicore customer id of its holder (no foreign key).
  customer_id text not null,
  iban text not null,
  currency text not null,
  status text not null,
  booked_minor bigint not null,
  available_minor bigint not null,
  -- When the core last said what the balance is (the `at` of its latest balance change).
  as_of timestamptz not null,
  -- The feed position of the first and of the latest change applied to this account.
  first_seq bigint not null,
  last_seq bigint not null,
  updated_at timestamptz not null
);
create index legacy_accounts_customer_idx on legacy_accounts (customer_id);

create table legacy_transactions (
  posting_id text primary key,
  account_id text not null,
  legacy_account_id text not null,
  amount_minor bigint not null check (amount_minor <> 0),
  currency text not null,
  reference text not null,
  booked_at timestamptz not null,
  business_date text not null,
  balance_after_minor bigint not null,
  -- null when the posting came from an export (resync) rather than the feed.
  seq bigint,
  payment_id text
);
create index legacy_transactions_account_idx on legacy_transactions (account_id, booked_at desc);
create index legacy_transactions_day_idx on legacy_transactions (business_date);

-- One row per feed: the last change applied, advanced in the transaction that applies a page.
create table legacy_feed_checkpoints (
  name text primary key,
  last_seq bigint not null,
  last_read_at timestamptz,
  resynced_at timestamptz,
  updated_at timestamptz not null
);
insert into legacy_feed_checkpoints (name, last_seq, updated_at) values ('changes', 0, now());

-- Leases of the jobs that one node at a time should run (feed, reconciliation).
create table legacy_job_leases (
  name text primary key,
  holder text,
  locked_until timestamptz
);
insert into legacy_job_leases (name) values ('feed'), ('reconciliation');

create table legacy_payments (
  id text primary key,
  customer_id text not null,
  account_id text not null,
  legacy_account_id text not null,
  to_iban text not null,
  amount_minor bigint not null check (amount_minor > 0),
  currency text not null,
  reference text not null,
  status text not null check (status in ('accepted', 'posted', 'rejected')),
  rejection_reason text,
  -- held: counts against the mirror's available balance; captured: the mirror shows the debit
  -- (the feed echoed the posting); released: the core refused it.
  hold_status text not null check (hold_status in ('held', 'captured', 'released')),
  credit_status text not null check (credit_status in ('none', 'pending', 'credited', 'failed')),
  credited_entry_id text,
  degraded boolean not null,
  status_history text not null,
  legacy_booked_at timestamptz,
  channel text not null,
  request_id text,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create index legacy_payments_account_idx on legacy_payments (account_id, status);
-- The payments that still hold money or wait for the core: what every new payment is decided against.
create index legacy_payments_open_idx on legacy_payments (account_id) where hold_status = 'held' or status = 'accepted';
create index legacy_payments_customer_idx on legacy_payments (customer_id, created_at desc);

create table legacy_posting_outbox (
  payment_id text primary key,
  status text not null check (status in ('pending', 'done')),
  attempts integer not null,
  next_attempt_at timestamptz not null,
  locked_until timestamptz,
  last_error text,
  created_at timestamptz not null,
  done_at timestamptz
);
create index legacy_posting_outbox_due_idx on legacy_posting_outbox (next_attempt_at) where status = 'pending';

create table legacy_reconciliation_runs (
  id text primary key,
  started_at timestamptz not null,
  finished_at timestamptz not null,
  status text not null check (status in ('completed', 'incomplete')),
  as_of timestamptz,
  business_date text,
  last_seq bigint,
  accounts_matched integer not null,
  postings_matched integer not null,
  breaks_count integer not null,
  detail text
);
create index legacy_reconciliation_runs_started_idx on legacy_reconciliation_runs (started_at desc);

create table legacy_reconciliation_breaks (
  id text primary key,
  run_id text not null,
  kind text not null check (kind in ('missing_in_mirror', 'missing_in_core', 'amount_mismatch', 'balance_mismatch')),
  subject text not null check (subject in ('account', 'posting')),
  legacy_account_id text not null,
  posting_id text,
  mirror_minor bigint,
  core_minor bigint,
  created_at timestamptz not null
);
create index legacy_reconciliation_breaks_run_idx on legacy_reconciliation_breaks (run_id);

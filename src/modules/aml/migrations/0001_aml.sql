-- The AML monitoring module's tables. Customers, accounts and payments are other modules'
-- objects, referenced by plain id columns without foreign keys: monitoring owns only what it
-- learned from events (accounts, movements, daily volumes) and what it decided (alerts, cases).

-- Versioned rule sets; exactly one is active (the partial unique index makes a second one fail).
create table aml_rule_sets (
  version integer primary key check (version > 0),
  definition jsonb not null,
  created_by text not null,
  created_at timestamptz not null,
  active boolean not null default false
);
create unique index aml_rule_sets_one_active_idx on aml_rule_sets ((true)) where active;

-- Every money event applied, recorded in the transaction that applied it: a replay is a no-op.
create table aml_processed_events (
  event_id text primary key,
  event_type text not null,
  processed_at timestamptz not null
);

-- Customer accounts as monitoring knows them (from account.opened), with their last movement.
create table aml_accounts (
  account_id text primary key,
  customer_id text not null,
  currency text not null,
  opened_at timestamptz,
  last_movement_at timestamptz
);
create index aml_accounts_customer_idx on aml_accounts (customer_id);

-- One row per customer account a booked movement touched (a transfer inside the bank has two).
create table aml_movements (
  transaction_id text not null,
  account_id text not null,
  customer_id text not null,
  kind text not null check (kind in ('deposit', 'withdrawal', 'transfer', 'inbound_credit')),
  direction text not null check (direction in ('in', 'out')),
  amount_minor bigint not null check (amount_minor > 0),
  currency text not null,
  counterparty_iban text,
  counterparty_country text,
  -- Between two accounts of the same customer: recorded, but no rule counts it.
  own_transfer boolean not null,
  event_id text not null,
  occurred_at timestamptz not null,
  primary key (transaction_id, account_id)
);
create index aml_movements_customer_idx on aml_movements (customer_id, occurred_at desc);

-- The customer's volume per UTC day and currency (in and out, own transfers excluded): the
-- profile "far above usual" is measured against.
create table aml_daily_volumes (
  customer_id text not null,
  currency text not null,
  day date not null,
  volume_minor bigint not null check (volume_minor >= 0),
  movements_count integer not null check (movements_count >= 0),
  primary key (customer_id, currency, day)
);

-- Compliance cases: at most one active (open or escalated) case per customer; new alerts join it.
create table aml_cases (
  id text primary key,
  customer_id text not null,
  status text not null check (status in ('open', 'escalated', 'closed_false_positive', 'reported')),
  risk_score integer not null check (risk_score between 0 and 100),
  alerts_count integer not null check (alerts_count >= 0),
  opened_at timestamptz not null,
  updated_at timestamptz not null,
  escalated_at timestamptz,
  escalated_by text,
  accounts_frozen_at timestamptz,
  accounts_frozen_by text,
  closed_at timestamptz,
  closed_by text,
  resolution text check (resolution in ('false_positive', 'reported')),
  report_id text,
  check ((status in ('open', 'escalated')) = (closed_at is null))
);
create unique index aml_cases_one_active_idx on aml_cases (customer_id) where status in ('open', 'escalated');
-- The analysts' queue: by status, highest risk first, then the oldest.
create index aml_cases_queue_idx on aml_cases (status, risk_score desc, opened_at, id);
create index aml_cases_customer_idx on aml_cases (customer_id, opened_at desc);

-- One alert per rule per case; a rule firing again on the same case adds its transactions.
create table aml_alerts (
  id text primary key,
  case_id text not null references aml_cases (id),
  customer_id text not null,
  rule_code text not null,
  rule_kind text not null,
  rule_set_version integer not null,
  risk_score integer not null check (risk_score between 1 and 100),
  summary text not null,
  details jsonb not null,
  first_event_id text not null,
  triggers_count integer not null check (triggers_count >= 1),
  raised_at timestamptz not null,
  last_triggered_at timestamptz not null,
  unique (case_id, rule_code)
);

create table aml_alert_transactions (
  alert_id text not null references aml_alerts (id),
  transaction_id text not null,
  account_id text not null,
  primary key (alert_id, transaction_id, account_id)
);

create table aml_case_notes (
  id text primary key,
  case_id text not null references aml_cases (id),
  author_id text not null,
  text text not null check (char_length(text) between 1 and 4000),
  created_at timestamptz not null
);
create index aml_case_notes_case_idx on aml_case_notes (case_id, created_at, id);

-- Suspicious-activity reports as filed: the JSON document is the export, stored as it was sent.
create table aml_reports (
  id text primary key,
  case_id text not null unique references aml_cases (id),
  customer_id text not null,
  document jsonb not null,
  filed_by text not null,
  filed_at timestamptz not null
);

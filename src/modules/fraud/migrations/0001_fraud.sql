-- The fraud module's tables. Customer and transfer ids are plain references (no foreign keys):
-- the fraud module owns only what it decides and what it learned from events.

-- One behaviour profile per customer, kept current from events (see profile.ts for the document).
create table fraud_profiles (
  customer_id text primary key,
  document jsonb not null,
  updated_at timestamptz not null
);

-- Versioned rule sets; exactly one is active (the partial unique index makes a second one fail).
create table fraud_rule_sets (
  version integer primary key check (version > 0),
  rules jsonb not null,
  thresholds jsonb not null,
  created_by text not null,
  created_at timestamptz not null,
  active boolean not null default false
);
create unique index fraud_rule_sets_one_active_idx on fraud_rule_sets ((true)) where active;

-- Every decision with what it saw (features) and was asked (input), so a dry run can replay it.
create table fraud_decisions (
  id text primary key,
  customer_id text not null,
  transfer_id text not null,
  outcome text not null check (outcome in ('allow', 'challenge', 'hold', 'block')),
  score integer not null check (score between 0 and 100),
  reasons jsonb not null,
  rule_set_version integer not null,
  features jsonb not null,
  input jsonb not null,
  created_at timestamptz not null
);
create index fraud_decisions_customer_idx on fraud_decisions (customer_id, created_at desc, id desc);
create index fraud_decisions_transfer_idx on fraud_decisions (transfer_id);
create index fraud_decisions_created_idx on fraud_decisions (created_at desc, id desc);

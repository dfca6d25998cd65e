-- Platform tables: the transactional outbox, the inbox that makes event handlers idempotent,
-- idempotency keys of commands, events that exhausted their retries, and the audit trail.

-- One row per committing transaction, holding every event it wrote (in order). A batch of 128
-- transfers is one row, not 128: the outbox costs one insert and one update per transaction.
create table platform_outbox (
  seq bigserial primary key,
  -- json, not jsonb: the relay reads it back whole, so parsing it into jsonb on every insert
  -- would be work for nothing.
  events json not null,
  event_count integer not null check (event_count > 0),
  created_at timestamptz not null,
  published_at timestamptz
);
-- The relay reads unpublished rows by seq through this partial index; pruning walks the primary
-- key from the oldest row.
create index platform_outbox_unpublished_idx on platform_outbox (seq) where published_at is null;

create table platform_inbox (
  consumer text not null,
  event_id text not null,
  handled_at timestamptz not null default now(),
  primary key (consumer, event_id)
);

create table platform_dead_letters (
  seq bigserial primary key,
  consumer text not null,
  event_id text not null,
  event_type text not null,
  payload jsonb not null,
  error text not null,
  failed_at timestamptz not null default now()
);

-- One row per (principal and operation, Idempotency-Key). The row is claimed and completed in the
-- same transaction as the command's effect, so a key can never be "done" without its effect.
create table platform_idempotency_keys (
  scope text not null,
  key text not null,
  request_hash text not null,
  status_code integer,
  response jsonb,
  created_at timestamptz not null,
  expires_at timestamptz not null,
  primary key (scope, key)
);
create index platform_idempotency_keys_expiry_idx on platform_idempotency_keys (expires_at);

create table platform_audit_log (
  seq bigserial primary key,
  id text not null unique,
  occurred_at timestamptz not null,
  actor_type text not null,
  actor_id text,
  action text not null,
  subject_id text,
  channel text,
  device_id text,
  request_id text,
  details jsonb not null default '{}'
);
create index platform_audit_log_subject_idx on platform_audit_log (subject_id, seq);
create index platform_audit_log_actor_idx on platform_audit_log (actor_id, seq);

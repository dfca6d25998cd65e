-- Scheduled (once) and standing (weekly, monthly) transfers, executed by a worker on every node.
-- A worker leases due orders (locked_until, skip locked), books each run with an Idempotency-Key
-- derived from the order and the date, then advances next_run_on: a run is booked exactly once
-- even when two nodes race or one crashes half-way.
create table payments_scheduled_transfers (
  id text primary key,
  customer_id text not null,
  from_account_id text not null,
  to_iban text not null,
  amount_minor bigint not null check (amount_minor > 0),
  currency char(3) not null,
  reference text,
  frequency text not null check (frequency in ('once', 'weekly', 'monthly')),
  next_run_on date,
  end_on date,
  status text not null check (status in ('active', 'completed', 'cancelled')),
  locked_until timestamptz,
  created_at timestamptz not null
);
create index payments_scheduled_due_idx on payments_scheduled_transfers (next_run_on) where status = 'active';

create table payments_scheduled_runs (
  order_id text not null,
  run_on date not null,
  transfer_id text,
  status text not null check (status in ('completed', 'rejected')),
  reason text,
  executed_at timestamptz not null,
  primary key (order_id, run_on)
);

-- Money movements: customer transfers and teller cash deposits and withdrawals. Every attempt
-- that passed validation is recorded, booked or refused with its reason; the ledger holds the
-- money, this table holds the story.
create table payments_transfers (
  id text primary key,
  kind text not null check (kind in ('transfer', 'deposit', 'withdrawal')),
  status text not null check (status in ('completed', 'rejected')),
  rejection_reason text,
  initiator_type text not null,
  initiator_id text not null,
  customer_id text,
  from_account_id text,
  to_account_id text,
  to_iban text,
  amount_minor bigint not null check (amount_minor > 0),
  currency char(3) not null,
  reference text,
  journal_entry_id text,
  channel text not null,
  device_id text,
  request_id text,
  created_at timestamptz not null,
  check (status <> 'rejected' or rejection_reason is not null),
  check (status <> 'completed' or journal_entry_id is not null)
);
create index payments_transfers_customer_idx on payments_transfers (customer_id, created_at desc);

-- The payment status lifecycle: received → (pending_review) → accepted → settled, or rejected /
-- returned. A transfer inside the bank still books at once, so it is written as settled; a
-- payment held for review or leaving through the payment rail waits in the states between, with
-- a ledger hold on its amount. Cash movements keep their single state, completed.
alter table payments_transfers drop constraint payments_transfers_kind_check;
alter table payments_transfers drop constraint payments_transfers_status_check;
alter table payments_transfers drop constraint payments_transfers_check1;
update payments_transfers set status = 'settled' where kind = 'transfer' and status = 'completed';
alter table payments_transfers add constraint payments_transfers_kind_check
  check (kind in ('transfer', 'deposit', 'withdrawal', 'inbound_credit'));
alter table payments_transfers add constraint payments_transfers_status_check
  check (status in ('completed', 'received', 'pending_review', 'accepted', 'settled', 'rejected', 'returned'));
alter table payments_transfers add constraint payments_transfers_booked_check
  check (status not in ('completed', 'settled', 'returned') or journal_entry_id is not null);
-- rejection_reason is the reason code of a rejected or returned payment (ours or the rail's ISO code).
alter table payments_transfers add column hold_id text;
alter table payments_transfers add column decision_id text;
alter table payments_transfers add column external boolean not null default false;
-- JSON array of {status, reasonCode, at}: what the customer sees of the payment's story.
alter table payments_transfers add column status_history text;
alter table payments_transfers add column updated_at timestamptz;
create index payments_transfers_open_idx on payments_transfers (status)
  where status in ('received', 'pending_review', 'accepted');

-- Credit transfers waiting to be sent to the payment rail, written in the payment's transaction
-- (an outbox for the rail): a crash between commit and send loses nothing, and every node's
-- sender leases rows with skip locked so each message is sent by one node at a time. The rail is
-- idempotent on the transfer id, so a send repeated after a lost answer does no harm.
create table payments_rail_outbound (
  transfer_id text primary key,
  end_to_end_id text not null unique,
  -- Built by the sender on its first attempt (it reads other modules, which a payment's
  -- transaction must not wait on) and kept, so every retry sends the very same message.
  message text,
  status text not null check (status in ('pending', 'sent', 'refused')),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null,
  locked_until timestamptz,
  last_error text,
  created_at timestamptz not null,
  sent_at timestamptz
);
create index payments_rail_outbound_due_idx on payments_rail_outbound (next_attempt_at) where status = 'pending';

-- Messages received from the rail (status reports, returns, inbound credits), by their message
-- id: a replayed or redelivered message is acknowledged and never applied twice.
create table payments_rail_inbound (
  message_id text primary key,
  message_type text not null,
  received_at timestamptz not null
);

-- Inbound credits are booked once per rail transaction (end-to-end id of the sending bank).
create table payments_inbound_credits (
  end_to_end_id text primary key,
  transfer_id text not null,
  received_at timestamptz not null
);

-- Payees a customer saved, with the result of the name check made when they were saved
-- (Confirmation of Payee). Deleting a payee keeps the row (payments refer to it by IBAN).
create table payments_payees (
  id text primary key,
  customer_id text not null,
  name text not null,
  iban text not null,
  name_check text not null check (name_check in ('match', 'close_match', 'no_match', 'not_applicable')),
  created_at timestamptz not null,
  deleted_at timestamptz
);
-- One live payee per customer and IBAN.
create unique index payments_payees_live_idx on payments_payees (customer_id, iban) where deleted_at is null;

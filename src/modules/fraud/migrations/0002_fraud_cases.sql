-- Fraud investigations: one case per payment held for review, opened in the payment's own
-- transaction, and the investigators' notes on it. Customers, payments and decisions are other
-- modules' (or the engine's) objects, referenced by plain id columns without foreign keys.
create table fraud_cases (
  id text primary key,
  customer_id text not null,
  transfer_id text not null unique,
  decision_id text not null,
  risk_score integer not null check (risk_score between 0 and 100),
  -- JSON array of the reason codes of the decision that held the payment.
  reasons text not null,
  status text not null check (status in ('open', 'released', 'rejected', 'fraud_confirmed', 'released_by_customer')),
  opened_at timestamptz not null,
  -- The customer answered "it was me" with strong authentication (the case may still be open).
  customer_confirmed_at timestamptz,
  decided_at timestamptz,
  -- A staff id, or the customer's id for released_by_customer.
  decided_by text,
  resolution_reason text,
  check ((status = 'open') = (decided_at is null))
);
-- The investigators' queue: open cases by risk (highest first), then age (oldest first).
create index fraud_cases_queue_idx on fraud_cases (status, risk_score desc, opened_at, id);
create index fraud_cases_customer_idx on fraud_cases (customer_id, opened_at desc);

create table fraud_case_notes (
  id text primary key,
  case_id text not null references fraud_cases (id),
  author_type text not null check (author_type in ('staff', 'customer', 'system')),
  author_id text not null,
  text text not null check (char_length(text) between 1 and 2000),
  created_at timestamptz not null
);
create index fraud_case_notes_case_idx on fraud_case_notes (case_id, created_at, id);

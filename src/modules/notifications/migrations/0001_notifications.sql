-- Notifications: the customer's notification centre, preferences per category and channel,
-- device push tokens, and the delivery outbox with its log of attempts. A notification stores
-- the template code and the few parameters the template needs, never rendered text: it is
-- rendered when read or sent, in the customer's language of that moment.

create table notifications_notifications (
  id text primary key,
  customer_id text not null,
  -- The event that asked for it: one notification per source event, whatever is redelivered.
  source_event_id text not null unique,
  category text not null,
  template text not null,
  -- JSON object of the template's parameters (ids, codes, amounts; no names, no IBANs).
  params text not null,
  read_at timestamptz,
  created_at timestamptz not null
);
create index notifications_customer_idx on notifications_notifications (customer_id, id desc);
create index notifications_unread_idx on notifications_notifications (customer_id) where read_at is null;

create table notifications_preferences (
  customer_id text not null,
  category text not null,
  channel text not null,
  enabled boolean not null,
  updated_at timestamptz not null,
  primary key (customer_id, category, channel)
);

create table notifications_push_tokens (
  id text primary key,
  customer_id text not null,
  -- The provider needs the token itself; it is never logged and never returned in full.
  token text not null,
  token_sha256 text not null unique,
  platform text not null,
  active boolean not null,
  deactivated_reason text,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create index notifications_push_tokens_customer_idx on notifications_push_tokens (customer_id) where active;

create table notifications_deliveries (
  id text primary key,
  notification_id text not null references notifications_notifications (id),
  customer_id text not null,
  channel text not null,
  push_token_id text,
  -- pending → delivered | failed; skipped when the channel is off, opted out or has no address.
  status text not null,
  reason text,
  attempts integer not null default 0,
  next_attempt_at timestamptz not null,
  locked_until timestamptz,
  provider_message_id text,
  created_at timestamptz not null,
  finished_at timestamptz
);
create index notifications_deliveries_due_idx on notifications_deliveries (next_attempt_at) where status = 'pending';
create index notifications_deliveries_notification_idx on notifications_deliveries (notification_id);

-- The delivery log: one row per attempt, with its outcome and never the content.
create table notifications_delivery_attempts (
  delivery_id text not null references notifications_deliveries (id),
  attempt integer not null,
  outcome text not null,
  failure_code text,
  http_status integer,
  attempted_at timestamptz not null,
  primary key (delivery_id, attempt)
);

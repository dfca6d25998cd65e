-- The per-customer, append-only change log behind GET /v1/sync and GET /v1/events/stream. `seq`
-- is one global sequence, so a cursor means the same on every node and after a restart; entries
-- of one customer are appended under a per-customer lock, so their seq order is their commit
-- order and a reader that has seen seq n never later finds an entry of that customer below n.
create table sync_changes (
  seq bigserial primary key,
  customer_id text not null,
  kind text not null,
  op text not null check (op in ('upsert', 'remove')),
  entity_id text not null,
  data jsonb not null,
  event_id text not null,
  recorded_at timestamptz not null
);
create index sync_changes_customer_idx on sync_changes (customer_id, seq);
create index sync_changes_recorded_idx on sync_changes (recorded_at);

-- One row: the highest seq pruned so far. A cursor below it may have missed pruned entries.
create table sync_watermark (
  id integer primary key check (id = 1),
  pruned_through_seq bigint not null
);
insert into sync_watermark (id, pruned_through_seq) values (1, 0);

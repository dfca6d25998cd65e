-- What each customer has sent today, per channel and in total (channel '*'), for the daily
-- transfer limits. The '*' row is locked first by every transfer of that customer and day, which
-- serialises them across channels and nodes.
create table payments_limit_usage (
  customer_id text not null,
  day date not null,
  channel text not null,
  used_minor bigint not null check (used_minor >= 0),
  primary key (customer_id, day, channel)
);

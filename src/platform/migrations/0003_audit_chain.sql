-- The audit trail becomes tamper-evident: every record carries the hash of the one before it
-- (a hash chain), and the database refuses to change or remove a record.
--
-- The chain is kept by the database itself, in a BEFORE INSERT trigger, so that no writer can
-- forget it or get it wrong. The trigger locks the single chain-head row: concurrent
-- transactions that write audit records link one after the other, in the order they take that
-- lock (which is not `seq` order: a sequence value is drawn before the lock), so the chain has
-- its own position column. The lock is held until commit; a deadlock it causes is retried by
-- inTransaction like any other.

alter table platform_audit_log
  add column before jsonb,
  add column after jsonb,
  add column chain_position bigint,
  add column prev_hash text,
  add column hash text;

create table platform_audit_chain_head (
  -- Exactly one row.
  id boolean primary key default true check (id),
  chain_position bigint not null,
  hash text not null
);

-- The text a record's hash covers: every field a reader relies on, as a JSON array (escaping is
-- unambiguous, nulls are explicit). Times are rendered in UTC with microseconds, so the text does
-- not depend on the session's TimeZone; jsonb renders its keys in one canonical order.
create function platform_audit_record_text(r platform_audit_log) returns text
language sql stable as $$
  select jsonb_build_array(
    r.chain_position, r.id,
    to_char(r.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    r.actor_type, r.actor_id, r.action, r.subject_id, r.channel, r.device_id, r.request_id,
    r.on_behalf_of, r.ip, r.country, r.details, r.before, r.after
  )::text
$$;

create function platform_audit_record_hash(prev_hash text, r platform_audit_log) returns text
language sql stable as $$
  select encode(sha256(convert_to(prev_hash || platform_audit_record_text(r), 'UTF8')), 'hex')
$$;

-- The hash the first record links to.
create function platform_audit_genesis_hash() returns text
language sql immutable as $$ select repeat('0', 64) $$;

create function platform_audit_link() returns trigger
language plpgsql as $$
declare
  head platform_audit_chain_head%rowtype;
begin
  select * into head from platform_audit_chain_head where id for update;
  new.chain_position := head.chain_position + 1;
  new.prev_hash := head.hash;
  new.hash := platform_audit_record_hash(head.hash, new);
  update platform_audit_chain_head set chain_position = new.chain_position, hash = new.hash where id;
  return new;
end
$$;

create function platform_audit_refuse_change() returns trigger
language plpgsql as $$
begin
  raise exception 'platform_audit_log is append-only: % refused', tg_op
    using errcode = 'insufficient_privilege';
end
$$;

-- Records written before this migration join the chain in seq order.
insert into platform_audit_chain_head (chain_position, hash) values (0, platform_audit_genesis_hash());
do $$
declare
  r platform_audit_log%rowtype;
  position bigint := 0;
  prev text := platform_audit_genesis_hash();
begin
  for r in select * from platform_audit_log order by seq loop
    position := position + 1;
    r.chain_position := position;
    r.prev_hash := prev;
    r.hash := platform_audit_record_hash(prev, r);
    update platform_audit_log
      set chain_position = r.chain_position, prev_hash = r.prev_hash, hash = r.hash
      where seq = r.seq;
    prev := r.hash;
  end loop;
  update platform_audit_chain_head set chain_position = position, hash = prev where id;
end
$$;

alter table platform_audit_log
  alter column chain_position set not null,
  alter column prev_hash set not null,
  alter column hash set not null;
create unique index platform_audit_log_chain_idx on platform_audit_log (chain_position);

create trigger platform_audit_log_link before insert on platform_audit_log
  for each row execute function platform_audit_link();
create trigger platform_audit_log_append_only before update or delete on platform_audit_log
  for each row execute function platform_audit_refuse_change();
create trigger platform_audit_log_no_truncate before truncate on platform_audit_log
  for each statement execute function platform_audit_refuse_change();

-- A monthly order keeps its day of the month: set up on the 31st, it runs on the last day of
-- shorter months and on the 31st again when the month has one.
alter table payments_scheduled_transfers add column anchor_day smallint check (anchor_day between 1 and 31);

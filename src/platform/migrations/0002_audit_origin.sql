-- Security records need where a request came from and, for staff, whom they acted for.
alter table platform_audit_log
  add column on_behalf_of text,
  add column ip text,
  add column country text;

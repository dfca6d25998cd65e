-- The tier sets a customer's transfer limits; KYC and risk rating will set it (issue 5).
alter table customers
  add column tier text not null default 'standard' check (tier in ('basic', 'standard', 'premium'));

-- The customer record: one per person, shared by every channel. Identity (credentials, sessions)
-- lives in the identity module's own tables and refers to a customer by id only.

create table customers (
  id text primary key,
  -- Stored lower-cased so that lookups never depend on how the customer typed it.
  email text not null check (email = lower(email)),
  given_name text not null,
  family_name text not null,
  -- E.164, e.g. +4915112345678.
  phone text,
  -- A canonical BCP 47 tag, e.g. en or de-DE.
  preferred_language text,
  -- {line1, line2?, postalCode, city, country (ISO 3166-1 alpha-2)}.
  address jsonb,
  status text not null check (status in ('active')),
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create index customers_email_idx on customers (email);

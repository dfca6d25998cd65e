-- Onboarding applications: what an applicant told us, what the checks said, and where the
-- application is in its journey. The applicant is a registered customer (the login is created
-- first, as the identity module designed it); the application completes their record.
create table onboarding_applications (
  id text primary key,
  customer_id text not null,
  status text not null check (status in (
    'draft', 'submitted', 'referred', 'approved', 'rejected', 'active', 'activation_failed'
  )),
  -- Started on one channel, resumable on any other.
  channel_started text not null,
  channel_last text not null,
  -- {givenName, familyName, dateOfBirth, nationality}
  personal jsonb,
  -- {line1, line2?, postalCode, city, country}
  address jsonb,
  -- [{country, taxId}]
  tax_residences jsonb,
  -- {type, number, issuingCountry, expiresOn}
  document jsonb,
  -- [{kind, version, accepted, at}] — every answer is kept, the latest per kind counts.
  consents jsonb not null default '[]',
  -- The checks, filled in on submission and when their results arrive.
  screening jsonb,
  risk jsonb,
  kyc_verification_id text unique,
  kyc_submitted_at timestamptz,
  kyc_result jsonb,
  -- The KYC tier the checks earned: 'basic' (low limits) or 'full'.
  kyc_level text check (kyc_level in ('basic', 'full')),
  -- Basic KYC moves to full after a document verification: the verification in progress.
  upgrade_verification_id text unique,
  upgrade_submitted_at timestamptz,
  referral_reasons jsonb not null default '[]',
  decision jsonb,
  account_id text,
  submitted_at timestamptz,
  decided_at timestamptz,
  activated_at timestamptz,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
-- At most one application in progress per customer.
create unique index onboarding_applications_open_idx on onboarding_applications (customer_id)
  where status in ('draft', 'submitted', 'referred', 'approved');
create index onboarding_applications_queue_idx on onboarding_applications (status, submitted_at);
-- Applications waiting for a KYC result, oldest first: the polling fallback reads these.
create index onboarding_applications_kyc_pending_idx on onboarding_applications (kyc_submitted_at)
  where status = 'submitted';

-- KYC deliveries already applied (webhook or poll), so a replayed webhook changes nothing.
create table onboarding_kyc_results (
  verification_id text primary key,
  application_id text not null,
  outcome text not null,
  received_via text not null check (received_via in ('webhook', 'poll')),
  received_at timestamptz not null
);

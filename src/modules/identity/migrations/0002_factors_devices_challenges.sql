-- Issue 3: second factors (TOTP, recovery codes, passkeys), devices, challenges (second factor at
-- login, step-up with dynamic linking, WebAuthn ceremonies), lock-out counters, the state of the
-- PSD2 low-value exemption, and where each session came from.

alter table identity_sessions
  -- How the session was established: a password alone, password + second factor, or a passkey.
  add column strength text not null default 'password' check (strength in ('password', 'mfa', 'passkey')),
  -- Idle timeout chosen at login from the channel's policy and the device's trust.
  add column idle_timeout_s integer not null default 300,
  add column platform text,
  add column app_version text,
  add column ip text,
  add column country text,
  add column latitude double precision,
  add column longitude double precision;
create index identity_sessions_live_idx on identity_sessions (subject_type, subject_id) where revoked_at is null;

-- The token a rotation produced, so that a retry within the grace window can be told from a reuse.
alter table identity_refresh_tokens add column replaced_by text;

-- Last change of password, e-mail, phone or second factors: a recent change raises the anomaly score.
alter table identity_credentials add column credential_changed_at timestamptz;
alter table identity_staff_users add column credential_changed_at timestamptz;

create table identity_devices (
  subject_type text not null check (subject_type in ('customer', 'staff')),
  subject_id text not null,
  device_id text not null,
  platform text,
  app_version text,
  first_seen_at timestamptz not null,
  last_seen_at timestamptz not null,
  -- Set by a strong login (second factor or passkey) from this device; null = not trusted.
  trusted_at timestamptz,
  primary key (subject_type, subject_id, device_id)
);

-- One TOTP authenticator per subject; 'pending' until the first code confirms it.
create table identity_totp_factors (
  subject_type text not null check (subject_type in ('customer', 'staff')),
  subject_id text not null,
  -- The shared secret must be readable to verify codes (RFC 6238); see docs/security.md.
  secret text not null,
  status text not null check (status in ('pending', 'active')),
  created_at timestamptz not null,
  confirmed_at timestamptz,
  -- Every code is accepted once: a code of this time step or an earlier one is refused.
  last_used_step bigint,
  primary key (subject_type, subject_id)
);

create table identity_recovery_codes (
  id text primary key,
  subject_type text not null check (subject_type in ('customer', 'staff')),
  subject_id text not null,
  code_hash text not null,
  created_at timestamptz not null,
  used_at timestamptz,
  unique (subject_type, subject_id, code_hash)
);

create table identity_passkeys (
  id text primary key,
  subject_type text not null check (subject_type in ('customer', 'staff')),
  subject_id text not null,
  -- base64url, as the authenticator reports it; unique across all users.
  credential_id text not null unique,
  public_key text not null,
  counter bigint not null,
  transports text not null default '[]',
  device_type text not null,
  backed_up boolean not null,
  name text not null,
  created_at timestamptz not null,
  last_used_at timestamptz
);
create index identity_passkeys_subject_idx on identity_passkeys (subject_type, subject_id);

-- A challenge waits for a factor: to finish a login, to approve exactly one operation (step-up),
-- or to finish a WebAuthn ceremony. Single use: consumed_at is set under a row lock.
create table identity_challenges (
  id text primary key,
  purpose text not null check (purpose in ('login', 'step_up', 'passkey_registration', 'passkey_login')),
  subject_type text check (subject_type in ('customer', 'staff')),
  subject_id text,
  session_id text,
  -- The WebAuthn challenge (base64url) when a passkey may answer.
  webauthn_challenge text,
  -- Dynamic linking: a hash of exactly what is approved, and what it is, to show the customer.
  operation_hash text,
  operation json,
  -- For a login challenge: the channel, device and origin the session will be opened with.
  login json,
  created_at timestamptz not null,
  expires_at timestamptz not null,
  approved_at timestamptz,
  proof_hash text,
  consumed_at timestamptz
);
create index identity_challenges_expiry_idx on identity_challenges (expires_at);

-- Consecutive failures per factor. The key is the subject, or a hash of an e-mail address that
-- has no account, so that unknown addresses lock exactly like known ones (no enumeration).
create table identity_factor_failures (
  subject_key text not null,
  factor text not null check (factor in ('password', 'totp', 'passkey')),
  failed_count integer not null,
  last_failed_at timestamptz not null,
  locked_until timestamptz,
  primary key (subject_key, factor)
);

-- PSD2 RTS art. 16: low-value payments since the last strong customer authentication.
create table identity_sca_state (
  customer_id text primary key,
  strong_auth_at timestamptz,
  exempt_count integer not null default 0,
  exempt_sum_minor bigint not null default 0
);

-- Payees the customer approved with strong authentication; the first payment to any other needs it.
create table identity_known_payees (
  customer_id text not null,
  payee text not null,
  approved_at timestamptz not null,
  primary key (customer_id, payee)
);

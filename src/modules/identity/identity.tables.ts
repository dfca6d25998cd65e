import type { Kysely, Transaction } from "kysely";
import type { StaffRole } from "../../platform/context.ts";
import type { Db, Tx } from "../../platform/db/database.ts";

export type SubjectType = "customer" | "staff";
export type StaffStatus = "active" | "disabled";
export type RefreshTokenStatus = "active" | "rotated" | "revoked";
export type SessionStrength = "password" | "mfa" | "passkey";
export type ChallengePurpose = "login" | "step_up" | "passkey_registration" | "passkey_login";
/** Factors that lock after consecutive failures (PSD2 RTS art. 4(3)(b)). */
export type Factor = "password" | "totp" | "passkey";

export interface IdentityTables {
  identity_credentials: {
    customer_id: string;
    email: string;
    password_hash: string;
    created_at: Date;
    credential_changed_at: Date | null;
  };
  identity_staff_users: {
    id: string;
    email: string;
    password_hash: string;
    role: StaffRole;
    status: StaffStatus;
    created_at: Date;
    created_by: string | null;
    credential_changed_at: Date | null;
  };
  identity_sessions: {
    id: string;
    subject_type: SubjectType;
    subject_id: string;
    channel: string;
    device_id: string | null;
    created_at: Date;
    last_seen_at: Date;
    expires_at: Date;
    revoked_at: Date | null;
    revoked_reason: string | null;
    strength: SessionStrength;
    idle_timeout_s: number;
    platform: string | null;
    app_version: string | null;
    ip: string | null;
    country: string | null;
    latitude: number | null;
    longitude: number | null;
  };
  identity_refresh_tokens: {
    id: string;
    session_id: string;
    token_hash: string;
    status: RefreshTokenStatus;
    created_at: Date;
    expires_at: Date;
    rotated_at: Date | null;
    replaced_by: string | null;
  };
  identity_devices: {
    subject_type: SubjectType;
    subject_id: string;
    device_id: string;
    platform: string | null;
    app_version: string | null;
    first_seen_at: Date;
    last_seen_at: Date;
    trusted_at: Date | null;
  };
  identity_totp_factors: {
    subject_type: SubjectType;
    subject_id: string;
    secret: string;
    status: "pending" | "active";
    created_at: Date;
    confirmed_at: Date | null;
    last_used_step: string | number | null;
  };
  identity_recovery_codes: {
    id: string;
    subject_type: SubjectType;
    subject_id: string;
    code_hash: string;
    created_at: Date;
    used_at: Date | null;
  };
  identity_passkeys: {
    id: string;
    subject_type: SubjectType;
    subject_id: string;
    credential_id: string;
    public_key: string;
    counter: string | number;
    transports: string;
    device_type: string;
    backed_up: boolean;
    name: string;
    created_at: Date;
    last_used_at: Date | null;
  };
  identity_challenges: {
    id: string;
    purpose: ChallengePurpose;
    subject_type: SubjectType | null;
    subject_id: string | null;
    session_id: string | null;
    webauthn_challenge: string | null;
    operation_hash: string | null;
    /** json: written as a string, read back parsed. */
    operation: string | object | null;
    login: string | object | null;
    created_at: Date;
    expires_at: Date;
    approved_at: Date | null;
    proof_hash: string | null;
    consumed_at: Date | null;
  };
  identity_factor_failures: {
    subject_key: string;
    factor: Factor;
    failed_count: number;
    last_failed_at: Date;
    locked_until: Date | null;
  };
  identity_sca_state: {
    customer_id: string;
    strong_auth_at: Date | null;
    exempt_count: number;
    exempt_sum_minor: string | number;
  };
  identity_known_payees: {
    customer_id: string;
    payee: string;
    approved_at: Date;
  };
  identity_signing_keys: {
    id: string;
    private_key_pem: string;
    created_at: Date;
  };
}

export type CredentialRow = IdentityTables["identity_credentials"];
export type StaffUserRow = IdentityTables["identity_staff_users"];
export type SessionRow = IdentityTables["identity_sessions"];
export type RefreshTokenRow = IdentityTables["identity_refresh_tokens"];
export type DeviceRow = IdentityTables["identity_devices"];
export type TotpFactorRow = IdentityTables["identity_totp_factors"];
export type PasskeyRow = IdentityTables["identity_passkeys"];
export type ChallengeRow = IdentityTables["identity_challenges"];
export type FactorFailureRow = IdentityTables["identity_factor_failures"];

/** The identity module's view of the database: its own tables and nothing else. */
export function identityDb(db: Db): Kysely<IdentityTables> {
  return db as unknown as Kysely<IdentityTables>;
}

export function identityTx(tx: Tx): Transaction<IdentityTables> {
  return tx as unknown as Transaction<IdentityTables>;
}

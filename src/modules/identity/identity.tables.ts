import type { Kysely, Transaction } from "kysely";
import type { StaffRole } from "../../platform/context.ts";
import type { Db, Tx } from "../../platform/db/database.ts";

export type SubjectType = "customer" | "staff";
export type StaffStatus = "active" | "disabled";
export type RefreshTokenStatus = "active" | "rotated" | "revoked";

export interface IdentityTables {
  identity_credentials: {
    customer_id: string;
    email: string;
    password_hash: string;
    created_at: Date;
  };
  identity_staff_users: {
    id: string;
    email: string;
    password_hash: string;
    role: StaffRole;
    status: StaffStatus;
    created_at: Date;
    created_by: string | null;
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
  };
  identity_refresh_tokens: {
    id: string;
    session_id: string;
    token_hash: string;
    status: RefreshTokenStatus;
    created_at: Date;
    expires_at: Date;
    rotated_at: Date | null;
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

/** The identity module's view of the database: its own tables and nothing else. */
export function identityDb(db: Db): Kysely<IdentityTables> {
  return db as unknown as Kysely<IdentityTables>;
}

export function identityTx(tx: Tx): Transaction<IdentityTables> {
  return tx as unknown as Transaction<IdentityTables>;
}

import { sql } from "kysely";
import type { Db, Tx } from "../../platform/db/database.ts";
import {
  type CredentialRow,
  type DeviceRow,
  identityDb,
  identityTx,
  type RefreshTokenRow,
  type SessionRow,
  type StaffUserRow,
  type SubjectType,
} from "./identity.tables.ts";

export interface SubjectRef {
  type: SubjectType;
  id: string;
}

/** Any fixed number: every node takes the same lock while deciding whether an initial admin is due. */
const INITIAL_ADMIN_LOCK_KEY = 724_231_338;

/** The only place the identity module's SQL lives. */
export class IdentityRepository {
  readonly #db: Db;

  constructor(options: { db: Db }) {
    this.#db = options.db;
  }

  // Customer credentials.

  async insertCredential(tx: Tx, row: CredentialRow): Promise<void> {
    await identityTx(tx).insertInto("identity_credentials").values(row).execute();
  }

  async credentialByEmail(email: string): Promise<CredentialRow | undefined> {
    return identityDb(this.#db)
      .selectFrom("identity_credentials")
      .selectAll()
      .where("email", "=", email)
      .executeTakeFirst();
  }

  async credentialById(tx: Tx, customerId: string): Promise<CredentialRow | undefined> {
    return identityTx(tx)
      .selectFrom("identity_credentials")
      .selectAll()
      .where("customer_id", "=", customerId)
      .executeTakeFirst();
  }

  async updateCredential(
    tx: Tx,
    customerId: string,
    change: Partial<Pick<CredentialRow, "email" | "password_hash">>,
    at: Date,
  ): Promise<void> {
    await identityTx(tx)
      .updateTable("identity_credentials")
      .set({ ...change, credential_changed_at: at })
      .where("customer_id", "=", customerId)
      .execute();
  }

  /** Password, e-mail, phone or factor changed: recorded for the anomaly score. */
  async markCredentialChanged(tx: Tx, subject: SubjectRef, at: Date): Promise<void> {
    if (subject.type === "customer") {
      await identityTx(tx)
        .updateTable("identity_credentials")
        .set({ credential_changed_at: at })
        .where("customer_id", "=", subject.id)
        .execute();
    } else {
      await identityTx(tx)
        .updateTable("identity_staff_users")
        .set({ credential_changed_at: at })
        .where("id", "=", subject.id)
        .execute();
    }
  }

  async credentialChangedAt(tx: Tx, subject: SubjectRef): Promise<Date | undefined> {
    const row =
      subject.type === "customer"
        ? await identityTx(tx)
            .selectFrom("identity_credentials")
            .select("credential_changed_at")
            .where("customer_id", "=", subject.id)
            .executeTakeFirst()
        : await identityTx(tx)
            .selectFrom("identity_staff_users")
            .select("credential_changed_at")
            .where("id", "=", subject.id)
            .executeTakeFirst();
    return row?.credential_changed_at ?? undefined;
  }

  // Staff users.

  async updateStaffStatus(tx: Tx, id: string, status: StaffUserRow["status"]): Promise<void> {
    await identityTx(tx).updateTable("identity_staff_users").set({ status }).where("id", "=", id).execute();
  }

  async insertStaffUser(tx: Tx, row: StaffUserRow): Promise<void> {
    await identityTx(tx).insertInto("identity_staff_users").values(row).execute();
  }

  async staffUserByEmail(email: string): Promise<StaffUserRow | undefined> {
    return identityDb(this.#db)
      .selectFrom("identity_staff_users")
      .selectAll()
      .where("email", "=", email)
      .executeTakeFirst();
  }

  async staffUserById(tx: Tx, id: string): Promise<StaffUserRow | undefined> {
    return identityTx(tx)
      .selectFrom("identity_staff_users")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirst();
  }

  /** Serializes "create the first admin if there is none" across nodes; released at commit. */
  async lockInitialAdmin(tx: Tx): Promise<void> {
    await sql`select pg_advisory_xact_lock(${INITIAL_ADMIN_LOCK_KEY})`.execute(tx);
  }

  async anyStaffUser(tx: Tx): Promise<boolean> {
    const row = await identityTx(tx)
      .selectFrom("identity_staff_users")
      .select("id")
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  // Sessions.

  async insertSession(tx: Tx, row: SessionRow): Promise<void> {
    await identityTx(tx).insertInto("identity_sessions").values(row).execute();
  }

  async lockSession(tx: Tx, id: string): Promise<SessionRow | undefined> {
    return identityTx(tx)
      .selectFrom("identity_sessions")
      .selectAll()
      .where("id", "=", id)
      .forUpdate()
      .executeTakeFirst();
  }

  /** Finds and locks the session that a refresh token belongs to. */
  async lockSessionOfRefreshToken(tx: Tx, tokenHash: string): Promise<SessionRow | undefined> {
    const db = identityTx(tx);
    return db
      .selectFrom("identity_sessions")
      .selectAll()
      .where("id", "=", (query) =>
        query.selectFrom("identity_refresh_tokens").select("session_id").where("token_hash", "=", tokenHash),
      )
      .forUpdate()
      .executeTakeFirst();
  }

  async sessionById(tx: Tx | Db, id: string): Promise<SessionRow | undefined> {
    return identityDb(tx as Db)
      .selectFrom("identity_sessions")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirst();
  }

  /** Sessions not revoked and not past their absolute end, newest first. */
  async liveSessions(tx: Tx | Db, subject: SubjectRef, at: Date): Promise<SessionRow[]> {
    return identityDb(tx as Db)
      .selectFrom("identity_sessions")
      .selectAll()
      .where("subject_type", "=", subject.type)
      .where("subject_id", "=", subject.id)
      .where("revoked_at", "is", null)
      .where("expires_at", ">", at)
      .orderBy("created_at", "desc")
      .limit(100)
      .execute();
  }

  /** The most recent sessions (any state), for the anomaly score's history. */
  async recentSessions(tx: Tx, subject: SubjectRef, limit: number): Promise<SessionRow[]> {
    return identityTx(tx)
      .selectFrom("identity_sessions")
      .selectAll()
      .where("subject_type", "=", subject.type)
      .where("subject_id", "=", subject.id)
      .orderBy("last_seen_at", "desc")
      .limit(limit)
      .execute();
  }

  async touchSession(
    tx: Tx,
    id: string,
    at: Date,
    origin?: Pick<SessionRow, "ip" | "country" | "latitude" | "longitude">,
  ): Promise<void> {
    await identityTx(tx)
      .updateTable("identity_sessions")
      .set({ last_seen_at: at, ...(origin ?? {}) })
      .where("id", "=", id)
      .execute();
  }

  async upgradeSession(tx: Tx, id: string, strength: SessionRow["strength"], idleTimeoutS: number) {
    await identityTx(tx)
      .updateTable("identity_sessions")
      .set({ strength, idle_timeout_s: idleTimeoutS })
      .where("id", "=", id)
      .execute();
  }

  /** Revokes the session unless it already is; true when this call revoked it. */
  async revokeSession(tx: Tx, id: string, at: Date, reason: string): Promise<boolean> {
    const result = await identityTx(tx)
      .updateTable("identity_sessions")
      .set({ revoked_at: at, revoked_reason: reason })
      .where("id", "=", id)
      .where("revoked_at", "is", null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  // Refresh tokens.

  async insertRefreshToken(tx: Tx, row: RefreshTokenRow): Promise<void> {
    await identityTx(tx).insertInto("identity_refresh_tokens").values(row).execute();
  }

  /** Locks the token row, so two concurrent uses of one token cannot both rotate it. */
  async lockRefreshToken(tx: Tx, tokenHash: string): Promise<RefreshTokenRow | undefined> {
    return identityTx(tx)
      .selectFrom("identity_refresh_tokens")
      .selectAll()
      .where("token_hash", "=", tokenHash)
      .forUpdate()
      .executeTakeFirst();
  }

  async markRefreshTokenRotated(tx: Tx, id: string, at: Date, replacedBy: string): Promise<void> {
    await identityTx(tx)
      .updateTable("identity_refresh_tokens")
      .set({ status: "rotated", rotated_at: at, replaced_by: replacedBy })
      .where("id", "=", id)
      .execute();
  }

  async revokeRefreshToken(tx: Tx, id: string): Promise<void> {
    await identityTx(tx)
      .updateTable("identity_refresh_tokens")
      .set({ status: "revoked" })
      .where("id", "=", id)
      .execute();
  }

  async refreshTokenById(tx: Tx, id: string): Promise<RefreshTokenRow | undefined> {
    return identityTx(tx)
      .selectFrom("identity_refresh_tokens")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirst();
  }

  async revokeRefreshTokens(tx: Tx, sessionId: string): Promise<void> {
    await identityTx(tx)
      .updateTable("identity_refresh_tokens")
      .set({ status: "revoked" })
      .where("session_id", "=", sessionId)
      .where("status", "=", "active")
      .execute();
  }

  // Devices.

  async device(tx: Tx, subject: SubjectRef, deviceId: string): Promise<DeviceRow | undefined> {
    return identityTx(tx)
      .selectFrom("identity_devices")
      .selectAll()
      .where("subject_type", "=", subject.type)
      .where("subject_id", "=", subject.id)
      .where("device_id", "=", deviceId)
      .executeTakeFirst();
  }

  async devices(tx: Tx | Db, subject: SubjectRef): Promise<DeviceRow[]> {
    return identityDb(tx as Db)
      .selectFrom("identity_devices")
      .selectAll()
      .where("subject_type", "=", subject.type)
      .where("subject_id", "=", subject.id)
      .orderBy("last_seen_at", "desc")
      .execute();
  }

  /** Records a sighting; `trusted` marks it trusted (a strong login), which is never undone here. */
  async upsertDevice(tx: Tx, row: DeviceRow): Promise<void> {
    await identityTx(tx)
      .insertInto("identity_devices")
      .values(row)
      .onConflict((conflict) =>
        conflict.columns(["subject_type", "subject_id", "device_id"]).doUpdateSet((excluded) => ({
          platform: excluded.ref("excluded.platform"),
          app_version: excluded.ref("excluded.app_version"),
          last_seen_at: excluded.ref("excluded.last_seen_at"),
          trusted_at: sql<Date | null>`coalesce(identity_devices.trusted_at, excluded.trusted_at)`,
        })),
      )
      .execute();
  }

  async untrustDevice(tx: Tx, subject: SubjectRef, deviceId: string): Promise<boolean> {
    const result = await identityTx(tx)
      .deleteFrom("identity_devices")
      .where("subject_type", "=", subject.type)
      .where("subject_id", "=", subject.id)
      .where("device_id", "=", deviceId)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  // Signing keys.

  /** Of several nodes racing to create the key, the first insert wins and all read that one. */
  async ensureSigningKey(id: string, privateKeyPem: string, at: Date): Promise<string> {
    const db = identityDb(this.#db);
    await db
      .insertInto("identity_signing_keys")
      .values({ id, private_key_pem: privateKeyPem, created_at: at })
      .onConflict((conflict) => conflict.column("id").doNothing())
      .execute();
    const row = await db
      .selectFrom("identity_signing_keys")
      .select("private_key_pem")
      .where("id", "=", id)
      .executeTakeFirstOrThrow();
    return row.private_key_pem;
  }
}

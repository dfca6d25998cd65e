import { sql } from "kysely";
import type { Db, Tx } from "../../platform/db/database.ts";
import {
  type CredentialRow,
  identityDb,
  identityTx,
  type RefreshTokenRow,
  type SessionRow,
  type StaffUserRow,
} from "./identity.tables.ts";

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

  // Staff users.

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

  async touchSession(tx: Tx, id: string, at: Date): Promise<void> {
    await identityTx(tx)
      .updateTable("identity_sessions")
      .set({ last_seen_at: at })
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

  async markRefreshTokenRotated(tx: Tx, id: string, at: Date): Promise<void> {
    await identityTx(tx)
      .updateTable("identity_refresh_tokens")
      .set({ status: "rotated", rotated_at: at })
      .where("id", "=", id)
      .execute();
  }

  async revokeRefreshTokens(tx: Tx, sessionId: string): Promise<void> {
    await identityTx(tx)
      .updateTable("identity_refresh_tokens")
      .set({ status: "revoked" })
      .where("session_id", "=", sessionId)
      .where("status", "=", "active")
      .execute();
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

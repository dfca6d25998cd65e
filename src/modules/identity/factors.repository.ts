import { sql } from "kysely";
import type { Db, Tx } from "../../platform/db/database.ts";
import type { SubjectRef } from "./identity.repository.ts";
import {
  type Factor,
  type FactorFailureRow,
  identityDb,
  identityTx,
  type PasskeyRow,
  type TotpFactorRow,
} from "./identity.tables.ts";

/** SQL for second factors (TOTP, recovery codes, passkeys) and the lock-out counters. */
export class FactorsRepository {
  // TOTP.

  async totp(tx: Tx | Db, subject: SubjectRef, options: { lock?: boolean } = {}) {
    let query = identityDb(tx as Db)
      .selectFrom("identity_totp_factors")
      .selectAll()
      .where("subject_type", "=", subject.type)
      .where("subject_id", "=", subject.id);
    if (options.lock) query = query.forUpdate();
    return query.executeTakeFirst();
  }

  /** A new enrolment replaces a pending one; an active one is only replaced after removal. */
  async upsertPendingTotp(tx: Tx, row: TotpFactorRow): Promise<void> {
    await identityTx(tx)
      .insertInto("identity_totp_factors")
      .values(row)
      .onConflict((conflict) =>
        conflict.columns(["subject_type", "subject_id"]).doUpdateSet({
          secret: row.secret,
          status: "pending",
          created_at: row.created_at,
          confirmed_at: null,
          last_used_step: null,
        }),
      )
      .execute();
  }

  async activateTotp(tx: Tx, subject: SubjectRef, at: Date, step: number): Promise<void> {
    await identityTx(tx)
      .updateTable("identity_totp_factors")
      .set({ status: "active", confirmed_at: at, last_used_step: step })
      .where("subject_type", "=", subject.type)
      .where("subject_id", "=", subject.id)
      .execute();
  }

  async recordTotpStep(tx: Tx, subject: SubjectRef, step: number): Promise<void> {
    await identityTx(tx)
      .updateTable("identity_totp_factors")
      .set({ last_used_step: step })
      .where("subject_type", "=", subject.type)
      .where("subject_id", "=", subject.id)
      .execute();
  }

  async deleteTotp(tx: Tx, subject: SubjectRef): Promise<boolean> {
    const result = await identityTx(tx)
      .deleteFrom("identity_totp_factors")
      .where("subject_type", "=", subject.type)
      .where("subject_id", "=", subject.id)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  // Recovery codes.

  async replaceRecoveryCodes(
    tx: Tx,
    subject: SubjectRef,
    rows: Array<{ id: string; code_hash: string }>,
    at: Date,
  ): Promise<void> {
    await this.deleteRecoveryCodes(tx, subject);
    if (rows.length === 0) return;
    await identityTx(tx)
      .insertInto("identity_recovery_codes")
      .values(
        rows.map((row) => ({
          ...row,
          subject_type: subject.type,
          subject_id: subject.id,
          created_at: at,
          used_at: null,
        })),
      )
      .execute();
  }

  async deleteRecoveryCodes(tx: Tx, subject: SubjectRef): Promise<void> {
    await identityTx(tx)
      .deleteFrom("identity_recovery_codes")
      .where("subject_type", "=", subject.type)
      .where("subject_id", "=", subject.id)
      .execute();
  }

  /** Spends an unused code; true when this call spent it (a code is accepted once). */
  async useRecoveryCode(tx: Tx, subject: SubjectRef, codeHash: string, at: Date): Promise<boolean> {
    const result = await identityTx(tx)
      .updateTable("identity_recovery_codes")
      .set({ used_at: at })
      .where("subject_type", "=", subject.type)
      .where("subject_id", "=", subject.id)
      .where("code_hash", "=", codeHash)
      .where("used_at", "is", null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async unusedRecoveryCodes(tx: Tx | Db, subject: SubjectRef): Promise<number> {
    const row = await identityDb(tx as Db)
      .selectFrom("identity_recovery_codes")
      .select((eb) => eb.fn.countAll<string | number>().as("count"))
      .where("subject_type", "=", subject.type)
      .where("subject_id", "=", subject.id)
      .where("used_at", "is", null)
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  // Passkeys.

  async insertPasskey(tx: Tx, row: PasskeyRow): Promise<void> {
    await identityTx(tx).insertInto("identity_passkeys").values(row).execute();
  }

  async passkeys(tx: Tx | Db, subject: SubjectRef): Promise<PasskeyRow[]> {
    return identityDb(tx as Db)
      .selectFrom("identity_passkeys")
      .selectAll()
      .where("subject_type", "=", subject.type)
      .where("subject_id", "=", subject.id)
      .orderBy("created_at")
      .execute();
  }

  async passkeyByCredentialId(tx: Tx, credentialId: string): Promise<PasskeyRow | undefined> {
    return identityTx(tx)
      .selectFrom("identity_passkeys")
      .selectAll()
      .where("credential_id", "=", credentialId)
      .forUpdate()
      .executeTakeFirst();
  }

  async recordPasskeyUse(tx: Tx, id: string, counter: number, at: Date): Promise<void> {
    await identityTx(tx)
      .updateTable("identity_passkeys")
      .set({ counter, last_used_at: at })
      .where("id", "=", id)
      .execute();
  }

  /** Deletes the subject's own passkey only: the id alone is never enough (BOLA). */
  async deletePasskey(tx: Tx, subject: SubjectRef, id: string): Promise<boolean> {
    const result = await identityTx(tx)
      .deleteFrom("identity_passkeys")
      .where("id", "=", id)
      .where("subject_type", "=", subject.type)
      .where("subject_id", "=", subject.id)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  // Lock-out counters.

  async failures(tx: Tx, subjectKey: string, factor: Factor): Promise<FactorFailureRow | undefined> {
    return identityTx(tx)
      .selectFrom("identity_factor_failures")
      .selectAll()
      .where("subject_key", "=", subjectKey)
      .where("factor", "=", factor)
      .executeTakeFirst();
  }

  /** Adds one failure atomically (concurrent guesses cannot both see the old count). */
  async addFailure(tx: Tx, subjectKey: string, factor: Factor, at: Date): Promise<FactorFailureRow> {
    return identityTx(tx)
      .insertInto("identity_factor_failures")
      .values({ subject_key: subjectKey, factor, failed_count: 1, last_failed_at: at, locked_until: null })
      .onConflict((conflict) =>
        conflict.columns(["subject_key", "factor"]).doUpdateSet({
          failed_count: sql<number>`identity_factor_failures.failed_count + 1`,
          last_failed_at: at,
        }),
      )
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async lock(tx: Tx, subjectKey: string, factor: Factor, until: Date): Promise<void> {
    await identityTx(tx)
      .updateTable("identity_factor_failures")
      .set({ locked_until: until })
      .where("subject_key", "=", subjectKey)
      .where("factor", "=", factor)
      .execute();
  }

  async clearFailures(tx: Tx, subjectKey: string, factor?: Factor): Promise<number> {
    let query = identityTx(tx).deleteFrom("identity_factor_failures").where("subject_key", "=", subjectKey);
    if (factor) query = query.where("factor", "=", factor);
    const result = await query.executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** Counters untouched since `before` and not locked now: the streak of failures has ended. */
  async deleteStaleFailures(tx: Tx, before: Date, now: Date, limit: number): Promise<number> {
    const result = await sql`
      delete from identity_factor_failures where (subject_key, factor) in (
        select subject_key, factor from identity_factor_failures
        where last_failed_at < ${before} and (locked_until is null or locked_until < ${now})
        limit ${limit})`.execute(tx);
    return Number(result.numAffectedRows ?? 0n);
  }

  async totalFailures(tx: Tx, subjectKey: string): Promise<number> {
    const row = await identityTx(tx)
      .selectFrom("identity_factor_failures")
      .select((eb) => eb.fn.coalesce(eb.fn.sum<string | number>("failed_count"), sql<number>`0`).as("total"))
      .where("subject_key", "=", subjectKey)
      .executeTakeFirstOrThrow();
    return Number(row.total);
  }
}

import type { Db, Tx } from "../../platform/db/database.ts";
import {
  type ApplicationRow,
  type ApplicationStatus,
  type KycResultRow,
  type OnboardingDb,
  onboardingTx,
} from "./onboarding.tables.ts";

/** The only SQL of the onboarding module; every customer read is scoped by the customer id. */
export class OnboardingRepository {
  readonly #db: OnboardingDb;

  constructor(options: { db: Db }) {
    this.#db = options.db as unknown as OnboardingDb;
  }

  async insert(tx: Tx, row: ApplicationRow): Promise<void> {
    await onboardingTx(tx).insertInto("onboarding_applications").values(row).execute();
  }

  async ownApplication(customerId: string, id: string): Promise<ApplicationRow | undefined> {
    return this.#db
      .selectFrom("onboarding_applications")
      .selectAll()
      .where("id", "=", id)
      .where("customer_id", "=", customerId)
      .executeTakeFirst();
  }

  async ownApplications(customerId: string): Promise<ApplicationRow[]> {
    return this.#db
      .selectFrom("onboarding_applications")
      .selectAll()
      .where("customer_id", "=", customerId)
      .orderBy("created_at", "desc")
      .limit(20)
      .execute();
  }

  async find(id: string): Promise<ApplicationRow | undefined> {
    return this.#db.selectFrom("onboarding_applications").selectAll().where("id", "=", id).executeTakeFirst();
  }

  async lock(tx: Tx, id: string): Promise<ApplicationRow | undefined> {
    return onboardingTx(tx)
      .selectFrom("onboarding_applications")
      .selectAll()
      .where("id", "=", id)
      .forUpdate()
      .executeTakeFirst();
  }

  async update(tx: Tx, id: string, values: Partial<ApplicationRow>): Promise<ApplicationRow> {
    return onboardingTx(tx)
      .updateTable("onboarding_applications")
      .set(values)
      .where("id", "=", id)
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  /** The review queue: oldest submission first (referrals wait in the order they arrived). */
  async byStatus(status: ApplicationStatus, limit: number): Promise<ApplicationRow[]> {
    return this.#db
      .selectFrom("onboarding_applications")
      .selectAll()
      .where("status", "=", status)
      .orderBy("submitted_at")
      .orderBy("id")
      .limit(limit)
      .execute();
  }

  /** Submitted applications whose KYC result has not arrived by `submittedBefore`. */
  async awaitingKyc(submittedBefore: Date, limit: number): Promise<ApplicationRow[]> {
    return this.#db
      .selectFrom("onboarding_applications")
      .selectAll()
      .where("status", "=", "submitted")
      .where("kyc_verification_id", "is not", null)
      .where("kyc_submitted_at", "<=", submittedBefore)
      .orderBy("kyc_submitted_at")
      .limit(limit)
      .execute();
  }

  /** Active basic-KYC applications whose document verification has no result by `submittedBefore`. */
  async awaitingUpgrade(submittedBefore: Date, limit: number): Promise<ApplicationRow[]> {
    return this.#db
      .selectFrom("onboarding_applications")
      .selectAll()
      .where("status", "=", "active")
      .where("kyc_level", "=", "basic")
      .where("upgrade_verification_id", "is not", null)
      .where("upgrade_submitted_at", "<=", submittedBefore)
      .orderBy("upgrade_submitted_at")
      .limit(limit)
      .execute();
  }

  /** Records a KYC result as applied; false when it already was (a replay, or webhook and poll). */
  async recordKycResult(tx: Tx, row: KycResultRow): Promise<boolean> {
    const inserted = await onboardingTx(tx)
      .insertInto("onboarding_kyc_results")
      .values(row)
      .onConflict((conflict) => conflict.column("verification_id").doNothing())
      .returning("verification_id")
      .executeTakeFirst();
    return inserted !== undefined;
  }
}

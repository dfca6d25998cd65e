import type { Db, Tx } from "../../../platform/db/database.ts";
import { afterRiskQueueCursor, type RiskQueueCursor } from "../../../platform/risk-queue.ts";
import { type CaseRow, type CaseStatus, casesDb, casesTx, type NoteRow } from "./fraud-case.tables.ts";

export type CaseDecision = Pick<CaseRow, "status" | "decided_at" | "decided_by" | "resolution_reason">;

/** The only place the fraud cases' SQL lives. */
export class FraudCaseRepository {
  readonly #db: Db;

  constructor(options: { db: Db }) {
    this.#db = options.db;
  }

  /** Inserts the case unless the payment already has one; returns the case's id either way. */
  async insertCase(tx: Tx, row: CaseRow): Promise<{ id: string; inserted: boolean }> {
    const inserted = await casesTx(tx)
      .insertInto("fraud_cases")
      .values(row)
      .onConflict((conflict) => conflict.column("transfer_id").doNothing())
      .returning("id")
      .executeTakeFirst();
    if (inserted) return { id: inserted.id, inserted: true };
    const existing = await casesTx(tx)
      .selectFrom("fraud_cases")
      .select("id")
      .where("transfer_id", "=", row.transfer_id)
      .executeTakeFirstOrThrow();
    return { id: existing.id, inserted: false };
  }

  async caseById(id: string): Promise<CaseRow | undefined> {
    return casesDb(this.#db).selectFrom("fraud_cases").selectAll().where("id", "=", id).executeTakeFirst();
  }

  /** Locks the case for a decision: two investigators deciding at once are serialised here. */
  async lockCase(tx: Tx, id: string): Promise<CaseRow | undefined> {
    return casesTx(tx)
      .selectFrom("fraud_cases")
      .selectAll()
      .where("id", "=", id)
      .forUpdate()
      .executeTakeFirst();
  }

  /** Scoped by the customer: another customer's payment has no case as far as they can tell (BOLA). */
  async caseOfTransfer(transferId: string, customerId: string, tx?: Tx): Promise<CaseRow | undefined> {
    let query = casesDb(tx ?? this.#db)
      .selectFrom("fraud_cases")
      .selectAll()
      .where("transfer_id", "=", transferId)
      .where("customer_id", "=", customerId);
    if (tx) query = query.forUpdate();
    return query.executeTakeFirst();
  }

  async saveDecision(tx: Tx, id: string, decision: CaseDecision): Promise<void> {
    await casesTx(tx).updateTable("fraud_cases").set(decision).where("id", "=", id).execute();
  }

  async markCustomerConfirmed(tx: Tx, id: string, at: Date): Promise<void> {
    await casesTx(tx)
      .updateTable("fraud_cases")
      .set({ customer_confirmed_at: at })
      .where("id", "=", id)
      .execute();
  }

  /** One page of cases in `status`, highest risk first, then oldest first (keyset, no offsets). */
  async queuePage(status: CaseStatus, after: RiskQueueCursor | undefined, limit: number): Promise<CaseRow[]> {
    let query = casesDb(this.#db).selectFrom("fraud_cases").selectAll().where("status", "=", status);
    if (after) query = query.where(afterRiskQueueCursor(after));
    return query.orderBy("risk_score", "desc").orderBy("opened_at").orderBy("id").limit(limit).execute();
  }

  /** The customer's other cases, most recent first. */
  async casesOfCustomer(customerId: string, exceptId: string, limit: number): Promise<CaseRow[]> {
    return casesDb(this.#db)
      .selectFrom("fraud_cases")
      .selectAll()
      .where("customer_id", "=", customerId)
      .where("id", "<>", exceptId)
      .orderBy("opened_at", "desc")
      .orderBy("id", "desc")
      .limit(limit)
      .execute();
  }

  async insertNote(tx: Tx, row: NoteRow): Promise<void> {
    await casesTx(tx).insertInto("fraud_case_notes").values(row).execute();
  }

  async countNotes(tx: Tx, caseId: string): Promise<number> {
    const row = await casesTx(tx)
      .selectFrom("fraud_case_notes")
      .select((eb) => eb.fn.countAll<string>().as("count"))
      .where("case_id", "=", caseId)
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  /** The case's notes, oldest first. */
  async notes(caseId: string, limit: number): Promise<NoteRow[]> {
    return casesDb(this.#db)
      .selectFrom("fraud_case_notes")
      .selectAll()
      .where("case_id", "=", caseId)
      .orderBy("created_at")
      .orderBy("id")
      .limit(limit)
      .execute();
  }
}

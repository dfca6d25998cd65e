import { type Insertable, sql } from "kysely";
import type { Db, Tx } from "../../platform/db/database.ts";
import { afterRiskQueueCursor, type RiskQueueCursor } from "../../platform/risk-queue.ts";
import {
  ACTIVE_STATUSES,
  type AlertRow,
  type AmlTables,
  amlDb,
  amlTx,
  type CaseRow,
  type CaseStatus,
  type MovementRow,
  type NoteRow,
  type ReportRow,
  type RuleSetRow,
} from "./aml.tables.ts";
import type { MovementKey } from "./rules.ts";

type NewMovement = Insertable<AmlTables["aml_movements"]>;
type NewAlert = Omit<AlertRow, "details"> & { details: string };

/** The only place the AML module's SQL lives. Reads that the event handler makes take its tx. */
export class AmlRepository {
  readonly #db: Db;

  constructor(options: { db: Db }) {
    this.#db = options.db;
  }

  // Monitoring state, written by the projection.

  /** Records the event as applied; false when it already was (a redelivery or a replay). */
  async claimEvent(tx: Tx, eventId: string, eventType: string, now: Date): Promise<boolean> {
    const claimed = await amlTx(tx)
      .insertInto("aml_processed_events")
      .values({ event_id: eventId, event_type: eventType, processed_at: now })
      .onConflict((conflict) => conflict.column("event_id").doNothing())
      .returning("event_id")
      .executeTakeFirst();
    return claimed !== undefined;
  }

  /**
   * Remembers whose account it is. An opening (with its time) overwrites what a movement taught
   * earlier; a movement naming the owner only fills a gap (opened before monitoring started).
   */
  async upsertAccount(
    tx: Tx,
    account: { accountId: string; customerId: string; currency: string; openedAt: Date | null },
  ): Promise<void> {
    const { openedAt } = account;
    await amlTx(tx)
      .insertInto("aml_accounts")
      .values({
        account_id: account.accountId,
        customer_id: account.customerId,
        currency: account.currency,
        opened_at: openedAt,
        last_movement_at: null,
      })
      .onConflict((conflict) =>
        openedAt
          ? conflict.column("account_id").doUpdateSet({ opened_at: openedAt })
          : conflict.column("account_id").doNothing(),
      )
      .execute();
  }

  /** Locks the account's row: movements of one account are applied one at a time. */
  async lockAccount(tx: Tx, accountId: string) {
    return amlTx(tx)
      .selectFrom("aml_accounts")
      .selectAll()
      .where("account_id", "=", accountId)
      .forUpdate()
      .executeTakeFirst();
  }

  async touchAccount(tx: Tx, accountId: string, at: Date): Promise<void> {
    await amlTx(tx)
      .updateTable("aml_accounts")
      .set({ last_movement_at: sql<Date>`greatest(last_movement_at, ${at})` })
      .where("account_id", "=", accountId)
      .execute();
  }

  /** False when this leg was recorded already (the same payment seen through another event). */
  async insertMovement(tx: Tx, row: NewMovement): Promise<boolean> {
    const inserted = await amlTx(tx)
      .insertInto("aml_movements")
      .values(row)
      .onConflict((conflict) => conflict.columns(["transaction_id", "account_id"]).doNothing())
      .returning("transaction_id")
      .executeTakeFirst();
    return inserted !== undefined;
  }

  /** The customer's movements since `from`, newest first, at most `limit`. */
  async recentMovements(tx: Tx, customerId: string, from: Date, limit: number): Promise<MovementRow[]> {
    return amlTx(tx)
      .selectFrom("aml_movements")
      .selectAll()
      .where("customer_id", "=", customerId)
      .where("occurred_at", ">=", from)
      .orderBy("occurred_at", "desc")
      .orderBy("transaction_id", "desc")
      .limit(limit)
      .execute();
  }

  /** The first day the customer moved money in `currency`, or undefined. */
  async firstActiveDay(tx: Tx, customerId: string, currency: string): Promise<Date | undefined> {
    const row = await amlTx(tx)
      .selectFrom("aml_daily_volumes")
      .select((eb) => eb.fn.min("day").as("first"))
      .where("customer_id", "=", customerId)
      .where("currency", "=", currency)
      .executeTakeFirst();
    return row?.first ? new Date(row.first) : undefined;
  }

  /** Daily volumes from `fromDay` up to and including `toDay` (ISO dates). */
  async dailyVolumes(tx: Tx, customerId: string, currency: string, fromDay: string, toDay: string) {
    const rows = await amlTx(tx)
      .selectFrom("aml_daily_volumes")
      .select(["day", "volume_minor"])
      .where("customer_id", "=", customerId)
      .where("currency", "=", currency)
      .where(sql<boolean>`day between ${fromDay}::date and ${toDay}::date`)
      .execute();
    return rows.map((row) => ({ day: new Date(row.day), volumeMinor: BigInt(row.volume_minor) }));
  }

  async addDailyVolume(tx: Tx, customerId: string, currency: string, day: string, amountMinor: bigint) {
    await amlTx(tx)
      .insertInto("aml_daily_volumes")
      .values({ customer_id: customerId, currency, day, volume_minor: amountMinor, movements_count: 1 })
      .onConflict((conflict) =>
        conflict.columns(["customer_id", "currency", "day"]).doUpdateSet({
          volume_minor: sql`aml_daily_volumes.volume_minor + ${amountMinor}`,
          movements_count: sql`aml_daily_volumes.movements_count + 1`,
        }),
      )
      .execute();
  }

  // Cases and alerts.

  async lockActiveCase(tx: Tx, customerId: string): Promise<CaseRow | undefined> {
    return amlTx(tx)
      .selectFrom("aml_cases")
      .selectAll()
      .where("customer_id", "=", customerId)
      .where("status", "in", ACTIVE_STATUSES)
      .forUpdate()
      .executeTakeFirst();
  }

  async insertCase(tx: Tx, row: CaseRow): Promise<void> {
    await amlTx(tx).insertInto("aml_cases").values(row).execute();
  }

  async alertOnCase(tx: Tx, caseId: string, ruleCode: string): Promise<AlertRow | undefined> {
    return amlTx(tx)
      .selectFrom("aml_alerts")
      .selectAll()
      .where("case_id", "=", caseId)
      .where("rule_code", "=", ruleCode)
      .executeTakeFirst();
  }

  async insertAlert(tx: Tx, row: NewAlert): Promise<void> {
    await amlTx(tx).insertInto("aml_alerts").values(row).execute();
  }

  async retriggerAlert(tx: Tx, id: string, at: Date, details: Record<string, unknown>): Promise<void> {
    await amlTx(tx)
      .updateTable("aml_alerts")
      .set({
        triggers_count: sql`triggers_count + 1`,
        last_triggered_at: at,
        details: JSON.stringify(details),
      })
      .where("id", "=", id)
      .execute();
  }

  /** Links movements to the alert; returns how many were not linked before. */
  async linkTransactions(tx: Tx, alertId: string, movements: MovementKey[]): Promise<number> {
    if (movements.length === 0) return 0;
    const rows = await amlTx(tx)
      .insertInto("aml_alert_transactions")
      .values(
        movements.map((key) => ({
          alert_id: alertId,
          transaction_id: key.transactionId,
          account_id: key.accountId,
        })),
      )
      .onConflict((conflict) => conflict.doNothing())
      .returning("transaction_id")
      .execute();
    return rows.length;
  }

  /** The case's risk is the sum of its alerts' scores, capped at 100. */
  async refreshCaseRisk(tx: Tx, caseId: string, now: Date): Promise<CaseRow> {
    const totals = await amlTx(tx)
      .selectFrom("aml_alerts")
      .select((eb) => [eb.fn.sum<string>("risk_score").as("score"), eb.fn.countAll<string>().as("count")])
      .where("case_id", "=", caseId)
      .executeTakeFirstOrThrow();
    return amlTx(tx)
      .updateTable("aml_cases")
      .set({
        risk_score: Math.min(100, Number(totals.score ?? 0)),
        alerts_count: Number(totals.count),
        updated_at: now,
      })
      .where("id", "=", caseId)
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async caseById(id: string): Promise<CaseRow | undefined> {
    return amlDb(this.#db).selectFrom("aml_cases").selectAll().where("id", "=", id).executeTakeFirst();
  }

  /** Locks the case for an action: two analysts acting at once are serialised here. */
  async lockCase(tx: Tx, id: string): Promise<CaseRow | undefined> {
    return amlTx(tx).selectFrom("aml_cases").selectAll().where("id", "=", id).forUpdate().executeTakeFirst();
  }

  async updateCase(tx: Tx, id: string, changes: Partial<CaseRow>): Promise<CaseRow> {
    return amlTx(tx)
      .updateTable("aml_cases")
      .set(changes)
      .where("id", "=", id)
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  /** One page of cases in `status`, highest risk first, then the oldest (keyset, no offsets). */
  async queuePage(status: CaseStatus, after: RiskQueueCursor | undefined, limit: number): Promise<CaseRow[]> {
    let query = amlDb(this.#db).selectFrom("aml_cases").selectAll().where("status", "=", status);
    if (after) query = query.where(afterRiskQueueCursor(after));
    return query.orderBy("risk_score", "desc").orderBy("opened_at").orderBy("id").limit(limit).execute();
  }

  async casesOfCustomer(customerId: string, exceptId: string, limit: number): Promise<CaseRow[]> {
    return amlDb(this.#db)
      .selectFrom("aml_cases")
      .selectAll()
      .where("customer_id", "=", customerId)
      .where("id", "<>", exceptId)
      .orderBy("opened_at", "desc")
      .orderBy("id", "desc")
      .limit(limit)
      .execute();
  }

  async alertsOfCase(caseId: string, limit: number, tx?: Tx): Promise<AlertRow[]> {
    return amlDb(tx ?? this.#db)
      .selectFrom("aml_alerts")
      .selectAll()
      .where("case_id", "=", caseId)
      .orderBy("raised_at")
      .orderBy("id")
      .limit(limit)
      .execute();
  }

  /** The links of the case's alerts to their movements. */
  async alertLinks(caseId: string, limit: number, tx?: Tx) {
    return amlDb(tx ?? this.#db)
      .selectFrom("aml_alert_transactions as link")
      .innerJoin("aml_alerts as alert", "alert.id", "link.alert_id")
      .select(["link.alert_id", "link.transaction_id", "link.account_id"])
      .where("alert.case_id", "=", caseId)
      .orderBy("link.transaction_id")
      .limit(limit)
      .execute();
  }

  /** The movements behind the case's alerts, oldest first. */
  async transactionsOfCase(caseId: string, limit: number, tx?: Tx): Promise<MovementRow[]> {
    return amlDb(tx ?? this.#db)
      .selectFrom("aml_movements as movement")
      .selectAll("movement")
      .where(({ exists, selectFrom }) =>
        exists(
          selectFrom("aml_alert_transactions as link")
            .innerJoin("aml_alerts as alert", "alert.id", "link.alert_id")
            .select("link.alert_id")
            .where("alert.case_id", "=", caseId)
            .whereRef("link.transaction_id", "=", "movement.transaction_id")
            .whereRef("link.account_id", "=", "movement.account_id"),
        ),
      )
      .orderBy("movement.occurred_at")
      .orderBy("movement.transaction_id")
      .limit(limit)
      .execute();
  }

  async insertNote(tx: Tx, row: NoteRow): Promise<void> {
    await amlTx(tx).insertInto("aml_case_notes").values(row).execute();
  }

  async countNotes(tx: Tx, caseId: string): Promise<number> {
    const row = await amlTx(tx)
      .selectFrom("aml_case_notes")
      .select((eb) => eb.fn.countAll<string>().as("count"))
      .where("case_id", "=", caseId)
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  async notes(caseId: string, limit: number): Promise<NoteRow[]> {
    return amlDb(this.#db)
      .selectFrom("aml_case_notes")
      .selectAll()
      .where("case_id", "=", caseId)
      .orderBy("created_at")
      .orderBy("id")
      .limit(limit)
      .execute();
  }

  async insertReport(tx: Tx, row: Omit<ReportRow, "document"> & { document: string }): Promise<void> {
    await amlTx(tx).insertInto("aml_reports").values(row).execute();
  }

  async report(id: string): Promise<ReportRow | undefined> {
    return amlDb(this.#db).selectFrom("aml_reports").selectAll().where("id", "=", id).executeTakeFirst();
  }

  // Rule sets.

  async activeRuleSet(executor?: Tx): Promise<RuleSetRow | undefined> {
    return amlDb(executor ?? this.#db)
      .selectFrom("aml_rule_sets")
      .selectAll()
      .where("active", "=", true)
      .executeTakeFirst();
  }

  async ruleSets(limit: number): Promise<RuleSetRow[]> {
    return amlDb(this.#db)
      .selectFrom("aml_rule_sets")
      .selectAll()
      .orderBy("version", "desc")
      .limit(limit)
      .execute();
  }

  async ruleSet(version: number, tx?: Tx): Promise<RuleSetRow | undefined> {
    return amlDb(tx ?? this.#db)
      .selectFrom("aml_rule_sets")
      .selectAll()
      .where("version", "=", version)
      .executeTakeFirst();
  }

  async nextRuleSetVersion(tx: Tx): Promise<number> {
    const row = await amlTx(tx)
      .selectFrom("aml_rule_sets")
      .select((eb) => eb.fn.max("version").as("latest"))
      .executeTakeFirst();
    return Number(row?.latest ?? 0) + 1;
  }

  async insertRuleSet(tx: Tx, row: Omit<RuleSetRow, "definition"> & { definition: string }): Promise<void> {
    await amlTx(tx).insertInto("aml_rule_sets").values(row).execute();
  }

  /** Seeds version 1 once; several nodes starting together insert it at most once. */
  async seedRuleSet(row: Omit<RuleSetRow, "definition"> & { definition: string }): Promise<void> {
    await amlDb(this.#db)
      .insertInto("aml_rule_sets")
      .values(row)
      .onConflict((conflict) => conflict.doNothing())
      .execute();
  }

  /** Deactivates the current set first: the one-active index is checked per statement. */
  async activate(tx: Tx, version: number): Promise<number | undefined> {
    const previous = await amlTx(tx)
      .updateTable("aml_rule_sets")
      .set({ active: false })
      .where("active", "=", true)
      .returning("version")
      .executeTakeFirst();
    await amlTx(tx)
      .updateTable("aml_rule_sets")
      .set({ active: true })
      .where("version", "=", version)
      .execute();
    return previous?.version;
  }
}

import type { Db, Tx } from "../../platform/db/database.ts";
import {
  type DecisionRow,
  fraudDb,
  fraudTx,
  type NewDecision,
  type NewRuleSet,
  type RuleSetRow,
} from "./fraud.tables.ts";
import { emptyProfile, type FraudProfile, parseProfile } from "./profile.ts";

/** The only place the fraud module's SQL lives. */
export class FraudRepository {
  readonly #db: Db;

  constructor(options: { db: Db }) {
    this.#db = options.db;
  }

  /** In `tx` when given: a sign-in reads the profile inside its own transaction. */
  async profile(customerId: string, tx?: Tx): Promise<FraudProfile | undefined> {
    const row = await (tx ? fraudTx(tx) : fraudDb(this.#db))
      .selectFrom("fraud_profiles")
      .select("document")
      .where("customer_id", "=", customerId)
      .executeTakeFirst();
    return row ? parseProfile(row.document) : undefined;
  }

  /** Creates the profile when missing and locks it: concurrent consumers update it one at a time. */
  async lockProfile(tx: Tx, customerId: string, now: Date): Promise<FraudProfile> {
    await fraudTx(tx)
      .insertInto("fraud_profiles")
      .values({ customer_id: customerId, document: JSON.stringify(emptyProfile()), updated_at: now })
      .onConflict((conflict) => conflict.column("customer_id").doNothing())
      .execute();
    const row = await fraudTx(tx)
      .selectFrom("fraud_profiles")
      .select("document")
      .where("customer_id", "=", customerId)
      .forUpdate()
      .executeTakeFirstOrThrow();
    return parseProfile(row.document);
  }

  async saveProfile(tx: Tx, customerId: string, profile: FraudProfile, now: Date): Promise<void> {
    await fraudTx(tx)
      .updateTable("fraud_profiles")
      .set({ document: JSON.stringify(profile), updated_at: now })
      .where("customer_id", "=", customerId)
      .execute();
  }

  async activeRuleSet(tx?: Tx): Promise<RuleSetRow | undefined> {
    return (tx ? fraudTx(tx) : fraudDb(this.#db))
      .selectFrom("fraud_rule_sets")
      .selectAll()
      .where("active", "=", true)
      .executeTakeFirst();
  }

  async ruleSets(limit: number): Promise<RuleSetRow[]> {
    return fraudDb(this.#db)
      .selectFrom("fraud_rule_sets")
      .selectAll()
      .orderBy("version", "desc")
      .limit(limit)
      .execute();
  }

  async ruleSet(version: number, tx?: Tx): Promise<RuleSetRow | undefined> {
    const db = tx ? fraudTx(tx) : fraudDb(this.#db);
    return db.selectFrom("fraud_rule_sets").selectAll().where("version", "=", version).executeTakeFirst();
  }

  async nextRuleSetVersion(tx: Tx): Promise<number> {
    const row = await fraudTx(tx)
      .selectFrom("fraud_rule_sets")
      .select((eb) => eb.fn.max("version").as("latest"))
      .executeTakeFirst();
    return Number(row?.latest ?? 0) + 1;
  }

  async insertRuleSet(tx: Tx, row: NewRuleSet): Promise<void> {
    await fraudTx(tx).insertInto("fraud_rule_sets").values(row).execute();
  }

  /** Seeds version 1 once; several nodes starting together insert it at most once. */
  async seedRuleSet(row: NewRuleSet): Promise<void> {
    await fraudDb(this.#db)
      .insertInto("fraud_rule_sets")
      .values(row)
      .onConflict((conflict) => conflict.doNothing())
      .execute();
  }

  /** Deactivates the current set first: the one-active index is checked per statement. */
  async activate(tx: Tx, version: number): Promise<number | undefined> {
    const previous = await fraudTx(tx)
      .updateTable("fraud_rule_sets")
      .set({ active: false })
      .where("active", "=", true)
      .returning("version")
      .executeTakeFirst();
    await fraudTx(tx)
      .updateTable("fraud_rule_sets")
      .set({ active: true })
      .where("version", "=", version)
      .execute();
    return previous?.version;
  }

  async insertDecisions(tx: Tx, rows: NewDecision[]): Promise<void> {
    if (rows.length > 0) await fraudTx(tx).insertInto("fraud_decisions").values(rows).execute();
  }

  async decision(id: string): Promise<DecisionRow | undefined> {
    return fraudDb(this.#db)
      .selectFrom("fraud_decisions")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirst();
  }

  /** The latest decision about a transfer, read by the profile consumer in its own transaction. */
  async decisionForTransfer(tx: Tx, transferId: string): Promise<DecisionRow | undefined> {
    return fraudTx(tx)
      .selectFrom("fraud_decisions")
      .selectAll()
      .where("transfer_id", "=", transferId)
      .orderBy("created_at", "desc")
      .orderBy("id", "desc")
      .limit(1)
      .executeTakeFirst();
  }

  async decisionsForCustomer(customerId: string, limit: number): Promise<DecisionRow[]> {
    return fraudDb(this.#db)
      .selectFrom("fraud_decisions")
      .selectAll()
      .where("customer_id", "=", customerId)
      .orderBy("created_at", "desc")
      .orderBy("id", "desc")
      .limit(limit)
      .execute();
  }

  /** Newest first, from `since` on; what a dry run replays. */
  async decisionsSince(since: Date | undefined, limit: number): Promise<DecisionRow[]> {
    let query = fraudDb(this.#db).selectFrom("fraud_decisions").selectAll();
    if (since) query = query.where("created_at", ">=", since);
    return query.orderBy("created_at", "desc").orderBy("id", "desc").limit(limit).execute();
  }
}

import { sql } from "kysely";
import type { Tx } from "../../platform/db/database.ts";
import { type ChallengeRow, identityTx } from "./identity.tables.ts";

/** SQL for challenges, the low-value exemption state and the payees a customer approved. */
export class ChallengeRepository {
  async insert(tx: Tx, row: ChallengeRow): Promise<void> {
    await identityTx(tx).insertInto("identity_challenges").values(row).execute();
  }

  /** Locked, so that two answers to one challenge cannot both succeed. */
  async lock(tx: Tx, id: string): Promise<ChallengeRow | undefined> {
    return identityTx(tx)
      .selectFrom("identity_challenges")
      .selectAll()
      .where("id", "=", id)
      .forUpdate()
      .executeTakeFirst();
  }

  async approve(tx: Tx, id: string, at: Date, proofHash: string | null): Promise<void> {
    await identityTx(tx)
      .updateTable("identity_challenges")
      .set({ approved_at: at, proof_hash: proofHash })
      .where("id", "=", id)
      .execute();
  }

  async consume(tx: Tx, id: string, at: Date): Promise<void> {
    await identityTx(tx)
      .updateTable("identity_challenges")
      .set({ consumed_at: at })
      .where("id", "=", id)
      .execute();
  }

  async deleteExpired(tx: Tx, before: Date, limit: number): Promise<number> {
    const result = await identityTx(tx)
      .deleteFrom("identity_challenges")
      .where("id", "in", (query) =>
        query.selectFrom("identity_challenges").select("id").where("expires_at", "<", before).limit(limit),
      )
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  // PSD2 RTS art. 16 state.

  async lockScaState(tx: Tx, customerId: string) {
    await identityTx(tx)
      .insertInto("identity_sca_state")
      .values({ customer_id: customerId, strong_auth_at: null, exempt_count: 0, exempt_sum_minor: 0 })
      .onConflict((conflict) => conflict.column("customer_id").doNothing())
      .execute();
    return identityTx(tx)
      .selectFrom("identity_sca_state")
      .selectAll()
      .where("customer_id", "=", customerId)
      .forUpdate()
      .executeTakeFirstOrThrow();
  }

  async addExemptPayment(tx: Tx, customerId: string, amountMinor: bigint): Promise<void> {
    await identityTx(tx)
      .updateTable("identity_sca_state")
      .set({
        exempt_count: sql<number>`exempt_count + 1`,
        exempt_sum_minor: sql<string>`exempt_sum_minor + ${amountMinor.toString()}::bigint`,
      })
      .where("customer_id", "=", customerId)
      .execute();
  }

  /** A strong authentication starts the counts of the low-value exemption again. */
  async resetSca(tx: Tx, customerId: string, at: Date): Promise<void> {
    await identityTx(tx)
      .insertInto("identity_sca_state")
      .values({ customer_id: customerId, strong_auth_at: at, exempt_count: 0, exempt_sum_minor: 0 })
      .onConflict((conflict) =>
        conflict
          .column("customer_id")
          .doUpdateSet({ strong_auth_at: at, exempt_count: 0, exempt_sum_minor: 0 }),
      )
      .execute();
  }

  /** After an anomaly: the next payment needs strong authentication whatever its amount. */
  async exhaustExemptions(tx: Tx, customerId: string): Promise<void> {
    await this.lockScaState(tx, customerId);
    await identityTx(tx)
      .updateTable("identity_sca_state")
      .set({ exempt_count: 1_000_000 })
      .where("customer_id", "=", customerId)
      .execute();
  }

  // Known payees.

  async isKnownPayee(tx: Tx, customerId: string, payee: string): Promise<boolean> {
    const row = await identityTx(tx)
      .selectFrom("identity_known_payees")
      .select("payee")
      .where("customer_id", "=", customerId)
      .where("payee", "=", payee)
      .executeTakeFirst();
    return row !== undefined;
  }

  async addKnownPayee(tx: Tx, customerId: string, payee: string, at: Date): Promise<void> {
    await identityTx(tx)
      .insertInto("identity_known_payees")
      .values({ customer_id: customerId, payee, approved_at: at })
      .onConflict((conflict) => conflict.columns(["customer_id", "payee"]).doNothing())
      .execute();
  }
}

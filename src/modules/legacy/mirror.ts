import { sql } from "kysely";
import type { Clock } from "../../platform/clock.ts";
import { type RequestContext, systemContext } from "../../platform/context.ts";
import { type Db, inTransaction, type Tx } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { assertInvariant } from "../../platform/errors.ts";
import { appendToOutbox } from "../../platform/events/outbox.ts";
import { type LegacyAccountRow, type LegacyTransactionRow, legacyDb, legacyTx } from "./legacy.tables.ts";
import type { CoreChange, CoreExport, CorePosting, LegacyCorePort } from "./legacy-core.client.ts";

/**
 * The mirror of the legacy core: accounts (balances, status, as-of time) and their transactions,
 * ingested from the core's change feed. Each page of changes is applied in one transaction with
 * the checkpoint (the last seq applied), and the checkpoint is compared and set in that same
 * transaction under its row lock: a page fetched by two nodes is applied by the first one only,
 * and a restart resumes exactly after the last committed page. A lease keeps the other nodes
 * from fetching the same page meanwhile. A feed that no longer reaches back to our checkpoint
 * (410) is replaced by the core's export: balances, that day's postings and its lastSeq.
 */

export interface MirrorOptions extends ServiceDependencies {
  core: LegacyCorePort | undefined;
  nodeId: string;
  pageMax: number;
  staleAfterS: number;
  /** Called in the page's transaction for a posting whose id is one of our payments (the echo). */
  onOwnPosting: (tx: Tx, paymentId: string, posting: CorePosting) => Promise<void>;
  /** Called before a page's transaction, so that nothing queries outside it while it is open. */
  prepare: (currencies: string[]) => Promise<void>;
}

export interface IngestResult {
  applied: number;
  lastSeq: number;
  hasMore: boolean;
  /** Why nothing was applied: the core is unreachable, another node holds the lease, a resync ran. */
  skipped?: "unavailable" | "leased" | "resynced" | "raced";
}

export interface Freshness {
  lastSeq: number;
  lastReadAt: Date | null;
  stale: boolean;
}

const CHECKPOINT = "changes";
const FEED_LEASE_S = 60;
const OWN_POSTING = /^lpm_[0-9a-f]{32}$/;

export function isOwnPostingId(postingId: string): boolean {
  return OWN_POSTING.test(postingId);
}

export async function tryLease(db: Db, clock: Clock, name: string, holder: string, leaseS: number) {
  const now = clock.now();
  const result = await sql`
    update legacy_job_leases set holder = ${holder}, locked_until = ${new Date(now.getTime() + leaseS * 1000)}
    where name = ${name} and (locked_until is null or locked_until < ${now} or holder = ${holder})
    returning name`.execute(db);
  return result.rows.length === 1;
}

export async function releaseLease(db: Db, name: string, holder: string): Promise<void> {
  await sql`update legacy_job_leases set locked_until = null
    where name = ${name} and holder = ${holder}`.execute(db);
}

export class LegacyMirror {
  readonly #options: MirrorOptions;
  readonly #context: RequestContext = systemContext("legacy-mirror");

  constructor(options: MirrorOptions) {
    this.#options = options;
  }

  async checkpoint(db: Db | Tx = this.#options.db) {
    return legacyDb(db as Db)
      .selectFrom("legacy_feed_checkpoints")
      .selectAll()
      .where("name", "=", CHECKPOINT)
      .executeTakeFirstOrThrow();
  }

  /** Stale: the feed was not read for `staleAfterS`, or the core's circuit is not closed. */
  async freshness(): Promise<Freshness> {
    const row = await this.checkpoint();
    const now = this.#options.clock.now().getTime();
    const lastReadAt = row.last_read_at ? new Date(row.last_read_at) : null;
    const old = !lastReadAt || now - lastReadAt.getTime() > this.#options.staleAfterS * 1000;
    const open = this.#options.core ? this.#options.core.state() !== "closed" : true;
    return { lastSeq: Number(row.last_seq), lastReadAt, stale: old || open };
  }

  /** Reads and applies one page of the feed, under the feed lease. */
  async ingestOnce(): Promise<IngestResult> {
    const { db, clock, nodeId } = this.#options;
    if (!(await tryLease(db, clock, "feed", nodeId, FEED_LEASE_S))) {
      const lastSeq = Number((await this.checkpoint()).last_seq);
      return { applied: 0, lastSeq, hasMore: false, skipped: "leased" };
    }
    try {
      return await this.#ingestPage();
    } finally {
      await releaseLease(db, "feed", nodeId);
    }
  }

  /** Pages until the feed has no more or `pagesMax` pages were applied. */
  async catchUp(pagesMax = 100): Promise<IngestResult> {
    let result: IngestResult = await this.ingestOnce();
    for (let page = 1; page < pagesMax && result.hasMore && !result.skipped; page++) {
      result = await this.ingestOnce();
    }
    return result;
  }

  async #ingestPage(): Promise<IngestResult> {
    const core = this.#options.core;
    const after = Number((await this.checkpoint()).last_seq);
    if (!core) return { applied: 0, lastSeq: after, hasMore: false, skipped: "unavailable" };
    const page = await core.changes(after, this.#options.pageMax);
    if (!page.ok) {
      if (!page.gone) return { applied: 0, lastSeq: after, hasMore: false, skipped: "unavailable" };
      const lastSeq = await this.resync();
      return { applied: 0, lastSeq: lastSeq ?? after, hasMore: true, skipped: "resynced" };
    }
    const { changes, nextSeq, hasMore } = page.value;
    await this.#options.prepare([...new Set(changes.map((change) => change.currency))]);
    const applied = await inTransaction(this.#options.db, async (tx) => {
      // The compare-and-set: a node that fetched the same page later finds the checkpoint moved.
      const row = await sql<{ last_seq: bigint }>`
        select last_seq from legacy_feed_checkpoints where name = ${CHECKPOINT} for update`.execute(tx);
      if (Number(row.rows[0]?.last_seq) !== after) return undefined;
      for (const change of changes) await this.#apply(tx, change);
      const now = this.#options.clock.now();
      await legacyTx(tx)
        .updateTable("legacy_feed_checkpoints")
        .set({ last_seq: BigInt(Math.max(after, nextSeq)), last_read_at: now, updated_at: now })
        .where("name", "=", CHECKPOINT)
        .execute();
      return changes.length;
    });
    if (applied === undefined) return { applied: 0, lastSeq: after, hasMore: true, skipped: "raced" };
    return { applied, lastSeq: Math.max(after, nextSeq), hasMore };
  }

  async #apply(tx: Tx, change: CoreChange): Promise<void> {
    if (change.kind === "balance") {
      await this.#upsertAccount(tx, {
        legacyAccountId: change.accountId,
        customerId: change.ownerRef,
        iban: change.iban,
        currency: change.currency,
        status: change.status,
        bookedMinor: BigInt(change.bookedMinor),
        availableMinor: BigInt(change.availableMinor),
        asOf: new Date(change.at),
        seq: BigInt(change.seq),
      });
      return;
    }
    const inserted = await this.#insertPosting(tx, change, BigInt(change.seq));
    if (!inserted) return;
    // The posting moves the balance; the balance change that follows it says the same again.
    await legacyTx(tx)
      .updateTable("legacy_accounts")
      .set((eb) => ({
        booked_minor: BigInt(change.balanceAfterMinor),
        available_minor: eb("available_minor", "+", BigInt(change.amountMinor)),
        as_of: new Date(change.bookedAt),
        last_seq: BigInt(change.seq),
        updated_at: this.#options.clock.now(),
      }))
      .where("legacy_account_id", "=", change.accountId)
      .execute();
    if (isOwnPostingId(change.postingId)) await this.#options.onOwnPosting(tx, change.postingId, change);
  }

  async #upsertAccount(
    tx: Tx,
    account: {
      legacyAccountId: string;
      customerId: string;
      iban: string;
      currency: string;
      status: string;
      bookedMinor: bigint;
      availableMinor: bigint;
      asOf: Date;
      seq: bigint;
    },
  ): Promise<void> {
    const now = this.#options.clock.now();
    await legacyTx(tx)
      .insertInto("legacy_accounts")
      .values({
        id: this.#options.ids.next("lac"),
        legacy_account_id: account.legacyAccountId,
        customer_id: account.customerId,
        iban: account.iban,
        currency: account.currency,
        status: account.status,
        booked_minor: account.bookedMinor,
        available_minor: account.availableMinor,
        as_of: account.asOf,
        first_seq: account.seq,
        last_seq: account.seq,
        updated_at: now,
      })
      .onConflict((conflict) =>
        conflict.column("legacy_account_id").doUpdateSet({
          customer_id: account.customerId,
          iban: account.iban,
          currency: account.currency,
          status: account.status,
          booked_minor: account.bookedMinor,
          available_minor: account.availableMinor,
          as_of: account.asOf,
          last_seq: account.seq,
          updated_at: now,
        }),
      )
      .execute();
  }

  /** Inserts a posting once per posting id; false when it was there already (an echo, a replay). */
  async #insertPosting(tx: Tx, posting: CorePosting, seq: bigint | null): Promise<boolean> {
    const account = await legacyTx(tx)
      .selectFrom("legacy_accounts")
      .select("id")
      .where("legacy_account_id", "=", posting.accountId)
      .executeTakeFirst();
    assertInvariant(account, `legacy posting ${posting.postingId} for an account never fed`);
    const inserted = await legacyTx(tx)
      .insertInto("legacy_transactions")
      .values({
        posting_id: posting.postingId,
        account_id: account.id,
        legacy_account_id: posting.accountId,
        amount_minor: BigInt(posting.amountMinor),
        currency: posting.currency,
        reference: posting.reference,
        booked_at: new Date(posting.bookedAt),
        business_date: posting.businessDate,
        balance_after_minor: BigInt(posting.balanceAfterMinor),
        seq,
        payment_id: isOwnPostingId(posting.postingId) ? posting.postingId : null,
      })
      .onConflict((conflict) => conflict.column("posting_id").doNothing())
      .returning("posting_id")
      .executeTakeFirst();
    return inserted !== undefined;
  }

  /**
   * Replaces the mirror's balances with the core's export and continues the feed from its
   * lastSeq: used when the feed no longer reaches back to our checkpoint. The export's postings of
   * the day are added where missing; our payments it shows booked are captured.
   */
  async resync(): Promise<number | undefined> {
    const core = this.#options.core;
    if (!core) return undefined;
    const exported = await core.export();
    if (!exported.ok) return undefined;
    const snapshot: CoreExport = exported.value;
    await this.#options.prepare([...new Set(snapshot.accounts.map((account) => account.currency))]);
    await inTransaction(this.#options.db, async (tx) => {
      const asOf = new Date(snapshot.asOf);
      for (const account of snapshot.accounts) {
        await this.#upsertAccount(tx, {
          legacyAccountId: account.id,
          customerId: account.ownerRef,
          iban: account.iban,
          currency: account.currency,
          status: account.status,
          bookedMinor: BigInt(account.bookedMinor),
          availableMinor: BigInt(account.availableMinor),
          asOf,
          seq: BigInt(snapshot.lastSeq),
        });
      }
      for (const posting of snapshot.postings) {
        const inserted = await this.#insertPosting(tx, posting, null);
        if (inserted && isOwnPostingId(posting.postingId)) {
          await this.#options.onOwnPosting(tx, posting.postingId, posting);
        }
      }
      const now = this.#options.clock.now();
      await legacyTx(tx)
        .updateTable("legacy_feed_checkpoints")
        .set({ last_seq: BigInt(snapshot.lastSeq), last_read_at: now, resynced_at: now, updated_at: now })
        .where("name", "=", CHECKPOINT)
        .execute();
      const event = this.#options.events.create(this.#context, "legacy.mirror_resynced", CHECKPOINT, {
        lastSeq: snapshot.lastSeq,
        asOf: snapshot.asOf,
        accountsCount: snapshot.accounts.length,
      });
      await appendToOutbox(tx, [event]);
      await this.#options.audit.record(tx, this.#context, {
        action: "legacy.mirror_resync",
        details: { lastSeq: snapshot.lastSeq, asOf: snapshot.asOf },
      });
    });
    this.#options.logger.warn({ lastSeq: snapshot.lastSeq }, "legacy mirror resynced from the export");
    return snapshot.lastSeq;
  }

  // ————— Reads, scoped by the customer —————

  async accountsOf(customerId: string): Promise<LegacyAccountRow[]> {
    return legacyDb(this.#options.db)
      .selectFrom("legacy_accounts")
      .selectAll()
      .where("customer_id", "=", customerId)
      .orderBy("id")
      .limit(100)
      .execute();
  }

  async accountOf(customerId: string, accountId: string): Promise<LegacyAccountRow | undefined> {
    return legacyDb(this.#options.db)
      .selectFrom("legacy_accounts")
      .selectAll()
      .where("id", "=", accountId)
      .where("customer_id", "=", customerId)
      .executeTakeFirst();
  }

  async transactionsOf(accountId: string, limit: number): Promise<LegacyTransactionRow[]> {
    return legacyDb(this.#options.db)
      .selectFrom("legacy_transactions")
      .selectAll()
      .where("account_id", "=", accountId)
      .orderBy("booked_at", "desc")
      .orderBy("posting_id", "desc")
      .limit(limit)
      .execute();
  }
}

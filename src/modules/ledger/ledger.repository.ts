import { type RawBuilder, sql } from "kysely";
import { bulkInsert, unnestRows } from "../../platform/db/bulk.ts";
import type { Db, Tx } from "../../platform/db/database.ts";
import { type AccountRow, type LedgerTables, ledgerDb, ledgerTx } from "./ledger.tables.ts";
import type { AccountState, EntryRequest, PlannedPosting } from "./posting.engine.ts";

const ENTRY_COLUMNS = [
  ["id", "text"],
  ["kind", "text"],
  ["transfer_id", "text"],
  ["reference", "text"],
  ["created_at", "timestamptz"],
] as const;

const POSTING_COLUMNS = [
  ["id", "text"],
  ["entry_id", "text"],
  ["account_id", "text"],
  ["seq", "bigint"],
  ["amount_minor", "bigint"],
  ["currency", "text"],
  ["balance_after_minor", "bigint"],
  ["created_at", "timestamptz"],
] as const;

const BALANCE_COLUMNS = [
  ["id", "text"],
  ["booked", "bigint"],
  ["held", "bigint"],
  ["seq", "bigint"],
] as const;

/** The only place the ledger's SQL lives. Every query that serves a customer is scoped by owner. */
export class LedgerRepository {
  readonly #db: Db;

  constructor(options: { db: Db }) {
    this.#db = options.db;
  }

  /** Locks the rows in id order, so concurrent batches never wait on each other in a cycle. */
  async lockAccounts(tx: Tx, ids: string[]): Promise<Map<string, AccountState>> {
    if (ids.length === 0) return new Map();
    const rows = await ledgerTx(tx)
      .selectFrom("ledger_accounts")
      .selectAll()
      .where("id", "in", [...new Set(ids)].sort())
      .orderBy("id")
      .forUpdate()
      .execute();
    return new Map(rows.map((row) => [row.id, toState(row)]));
  }

  /**
   * Locks accounts named by id or by IBAN in one statement (one round trip on the hot path),
   * still in id order. Returns the states and the ids of the IBANs that exist.
   */
  async lockAccountsAndIbans(tx: Tx, ids: string[], ibans: string[]) {
    const rows = await ledgerTx(tx)
      .selectFrom("ledger_accounts")
      .selectAll()
      .where(
        sql<boolean>`id = any(${[...new Set(ids)]}::text[]) or iban = any(${[...new Set(ibans)]}::text[])`,
      )
      .orderBy("id")
      .forUpdate()
      .execute();
    const idsByIban = new Map<string, string>();
    for (const row of rows) if (row.iban) idsByIban.set(row.iban, row.id);
    return { accounts: new Map(rows.map((row) => [row.id, toState(row)])), idsByIban };
  }

  entriesStatement(entries: EntryRequest[], at: Date): RawBuilder<unknown> | undefined {
    if (entries.length === 0) return undefined;
    const rows = entries.map((entry) => ({
      id: entry.entryId,
      kind: entry.kind,
      transfer_id: entry.transferId,
      reference: entry.reference,
      created_at: at,
    }));
    return bulkInsert("ledger_journal_entries", ENTRY_COLUMNS, rows);
  }

  postingsStatement(postings: PlannedPosting[], at: Date): RawBuilder<unknown> | undefined {
    if (postings.length === 0) return undefined;
    const rows = postings.map((posting) => ({
      id: posting.id,
      entry_id: posting.entryId,
      account_id: posting.accountId,
      seq: posting.seq,
      amount_minor: posting.amountMinor,
      currency: posting.currency,
      balance_after_minor: posting.balanceAfterMinor,
      created_at: at,
    }));
    return bulkInsert("ledger_postings", POSTING_COLUMNS, rows);
  }

  /** The new balances of many accounts, in one statement. */
  balancesStatement(accounts: AccountState[], at: Date): RawBuilder<unknown> | undefined {
    if (accounts.length === 0) return undefined;
    const rows = accounts.map((account) => ({
      id: account.id,
      booked: account.bookedMinor,
      held: account.heldMinor,
      seq: account.postingSeq,
    }));
    return sql`
      update ledger_accounts as a
      set booked_minor = v.booked, held_minor = v.held, posting_seq = v.seq, updated_at = ${at}
      from (${unnestRows(BALANCE_COLUMNS, rows)}) as v
      where a.id = v.id`;
  }

  async saveBalances(tx: Tx, accounts: AccountState[], at: Date): Promise<void> {
    await this.balancesStatement(accounts, at)?.execute(tx);
  }

  /**
   * Serialises account openings of one customer (until the transaction ends), so that counting
   * their accounts and inserting a new one cannot interleave across connections.
   */
  async lockOwner(tx: Tx, ownerCustomerId: string): Promise<void> {
    await sql`select pg_advisory_xact_lock(hashtextextended(${ownerCustomerId}, 0))`.execute(tx);
  }

  async nextAccountNumber(tx: Tx): Promise<bigint> {
    const result = await sql<{ value: bigint }>`select nextval('ledger_account_number_seq') as value`.execute(
      tx,
    );
    return BigInt(result.rows[0]!.value);
  }

  /**
   * Freezes the owner's active accounts; returns the ids it froze. The rows are locked in id order
   * first, as every posting does, so a freeze never deadlocks with a transfer in flight.
   */
  async freezeAccountsOfOwner(tx: Tx, ownerCustomerId: string, at: Date): Promise<string[]> {
    const owned = await this.accountsOfOwner(ownerCustomerId, tx);
    const ids = owned.filter((row) => row.status === "active").map((row) => row.id);
    if (ids.length === 0) return [];
    await this.lockAccounts(tx, ids);
    const rows = await ledgerTx(tx)
      .updateTable("ledger_accounts")
      .set({ status: "frozen", updated_at: at })
      .where("id", "in", ids)
      .where("status", "=", "active")
      .returning("id")
      .execute();
    return rows.map((row) => row.id).sort();
  }

  async insertAccount(tx: Tx, row: AccountRow): Promise<void> {
    await ledgerTx(tx).insertInto("ledger_accounts").values(row).execute();
  }

  async insertSystemAccounts(tx: Tx, rows: AccountRow[]): Promise<void> {
    await ledgerTx(tx)
      .insertInto("ledger_accounts")
      .values(rows)
      .onConflict((conflict) =>
        conflict.columns(["system_code", "currency", "shard"]).where("kind", "=", "system").doNothing(),
      )
      .execute();
  }

  async systemShardIds(code: string, currency: string): Promise<string[]> {
    const rows = await this.#ledger()
      .selectFrom("ledger_accounts")
      .select("id")
      .where("kind", "=", "system")
      .where("system_code", "=", code)
      .where("currency", "=", currency)
      .orderBy("shard")
      .execute();
    return rows.map((row) => row.id);
  }

  /** `executor` is the open transaction when called inside one (PGlite has a single connection). */
  async accountsOfOwner(ownerCustomerId: string, executor: Db | Tx = this.#db): Promise<AccountRow[]> {
    return ledgerDb(executor)
      .selectFrom("ledger_accounts")
      .selectAll()
      .where("owner_customer_id", "=", ownerCustomerId)
      .orderBy("created_at")
      .orderBy("id")
      .execute();
  }

  async account(
    id: string,
    ownerCustomerId?: string,
    executor: Db | Tx = this.#db,
  ): Promise<AccountRow | undefined> {
    let query = ledgerDb(executor).selectFrom("ledger_accounts").selectAll().where("id", "=", id);
    if (ownerCustomerId !== undefined) query = query.where("owner_customer_id", "=", ownerCustomerId);
    return query.executeTakeFirst();
  }

  /** Read in `tx` when given: a caller inside a transaction must not wait for another connection. */
  async accountByIban(iban: string, tx?: Tx): Promise<AccountRow | undefined> {
    return (tx ? ledgerTx(tx) : this.#ledger())
      .selectFrom("ledger_accounts")
      .selectAll()
      .where("iban", "=", iban)
      .executeTakeFirst();
  }

  async postingsPage(accountId: string, beforeSeq: bigint | undefined, limit: number) {
    let query = this.#ledger()
      .selectFrom("ledger_postings as p")
      .innerJoin("ledger_journal_entries as e", "e.id", "p.entry_id")
      .select([
        "p.id",
        "p.seq",
        "p.amount_minor",
        "p.currency",
        "p.balance_after_minor",
        "p.created_at",
        "e.kind",
        "e.reference",
        "e.transfer_id",
      ])
      .where("p.account_id", "=", accountId)
      .orderBy("p.seq", "desc")
      .limit(limit);
    if (beforeSeq !== undefined) query = query.where("p.seq", "<", beforeSeq);
    return query.execute();
  }

  async insertHold(tx: Tx, row: LedgerTables["ledger_holds"]): Promise<void> {
    await ledgerTx(tx).insertInto("ledger_holds").values(row).execute();
  }

  async lockHold(tx: Tx, holdId: string) {
    return ledgerTx(tx)
      .selectFrom("ledger_holds")
      .selectAll()
      .where("id", "=", holdId)
      .forUpdate()
      .executeTakeFirst();
  }

  async settleHold(
    tx: Tx,
    holdId: string,
    status: "captured" | "released",
    entryId: string | null,
    at: Date,
  ) {
    await ledgerTx(tx)
      .updateTable("ledger_holds")
      .set({ status, entry_id: entryId, updated_at: at })
      .where("id", "=", holdId)
      .execute();
  }

  /** Sums used by the consistency checks: postings per currency, and per account. */
  async postingTotals(db: Db = this.#db) {
    const perCurrency = await ledgerDb(db)
      .selectFrom("ledger_postings")
      .select(["currency", sql<bigint>`coalesce(sum(amount_minor), 0)::bigint`.as("total")])
      .groupBy("currency")
      .execute();
    const mismatched = await sql<{ id: string }>`
      select a.id from ledger_accounts a
      left join (select account_id, sum(amount_minor) as total, max(seq) as last_seq
                 from ledger_postings group by account_id) p on p.account_id = a.id
      where a.booked_minor <> coalesce(p.total, 0) or a.posting_seq <> coalesce(p.last_seq, 0)`.execute(db);
    return { perCurrency, accountsOutOfBalance: mismatched.rows.map((row) => row.id) };
  }

  #ledger() {
    return ledgerDb(this.#db);
  }
}

function toState(row: AccountRow): AccountState {
  return {
    id: row.id,
    kind: row.kind,
    ownerCustomerId: row.owner_customer_id,
    currency: row.currency,
    status: row.status,
    bookedMinor: BigInt(row.booked_minor),
    heldMinor: BigInt(row.held_minor),
    overdraftLimitMinor: BigInt(row.overdraft_limit_minor),
    allowNegative: row.allow_negative,
    postingSeq: BigInt(row.posting_seq),
  };
}

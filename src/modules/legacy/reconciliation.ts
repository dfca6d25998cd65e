import { sql } from "kysely";
import { type RequestContext, systemContext } from "../../platform/context.ts";
import { inTransaction } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { appendToOutbox } from "../../platform/events/outbox.ts";
import { type BreakKind, type BreakRow, legacyDb, legacyTx, type RunRow } from "./legacy.tables.ts";
import type { CoreExport, LegacyCorePort } from "./legacy-core.client.ts";
import { type LegacyMirror, releaseLease, tryLease } from "./mirror.ts";

/**
 * Reconciliation compares the mirror with the legacy core's export as of the export's lastSeq:
 * every account's booked and available balance, and every posting of the export's business day,
 * by posting id. The mirror is first brought up to that seq through the feed; where it has run
 * past it, the balances are taken back by the postings it applied after it. Each run is stored
 * with its breaks, and every break is published as `legacy.reconciliation_break` (the alert).
 */

export interface ReconcilerOptions extends ServiceDependencies {
  core: LegacyCorePort | undefined;
  mirror: LegacyMirror;
  nodeId: string;
}

export interface MirrorAccountAtSeq {
  legacyAccountId: string;
  bookedMinor: bigint;
  availableMinor: bigint;
}

export interface MirrorPosting {
  postingId: string;
  legacyAccountId: string;
  amountMinor: bigint;
}

export interface FoundBreak {
  kind: BreakKind;
  subject: "account" | "posting";
  legacyAccountId: string;
  postingId: string | null;
  mirrorMinor: bigint | null;
  coreMinor: bigint | null;
}

export interface Comparison {
  accountsMatched: number;
  postingsMatched: number;
  breaks: FoundBreak[];
}

export interface ReconciliationReport {
  runId: string;
  status: "completed" | "incomplete";
  startedAt: string;
  finishedAt: string;
  asOf: string | null;
  businessDate: string | null;
  lastSeq: number | null;
  accountsMatched: number;
  postingsMatched: number;
  breaksCount: number;
  detail: string | null;
  breaks: Array<{
    id: string;
    kind: BreakKind;
    subject: "account" | "posting";
    legacyAccountId: string;
    postingId: string | null;
    mirrorMinor: string | null;
    coreMinor: string | null;
  }>;
}

const RECONCILIATION_LEASE_S = 300;
const BREAKS_PER_RUN_MAX = 10_000;

/** The comparison itself, pure: what matched and every break, accounts first. */
export function compareWithExport(
  exported: Pick<CoreExport, "accounts" | "postings">,
  accounts: MirrorAccountAtSeq[],
  postings: MirrorPosting[],
): Comparison {
  const breaks: FoundBreak[] = [];
  let accountsMatched = 0;
  let postingsMatched = 0;
  const mirrorAccounts = new Map(accounts.map((account) => [account.legacyAccountId, account]));
  for (const core of exported.accounts) {
    const mine = mirrorAccounts.get(core.id);
    mirrorAccounts.delete(core.id);
    const coreBooked = BigInt(core.bookedMinor);
    if (!mine) {
      breaks.push(accountBreak("missing_in_mirror", core.id, null, coreBooked));
    } else if (mine.bookedMinor !== coreBooked || mine.availableMinor !== BigInt(core.availableMinor)) {
      breaks.push(accountBreak("balance_mismatch", core.id, mine.bookedMinor, coreBooked));
    } else {
      accountsMatched += 1;
    }
  }
  for (const mine of mirrorAccounts.values()) {
    breaks.push(accountBreak("missing_in_core", mine.legacyAccountId, mine.bookedMinor, null));
  }
  const mirrorPostings = new Map(postings.map((posting) => [posting.postingId, posting]));
  for (const core of exported.postings) {
    const mine = mirrorPostings.get(core.postingId);
    mirrorPostings.delete(core.postingId);
    const coreAmount = BigInt(core.amountMinor);
    if (!mine)
      breaks.push(postingBreak("missing_in_mirror", core.accountId, core.postingId, null, coreAmount));
    else if (mine.amountMinor !== coreAmount) {
      breaks.push(
        postingBreak("amount_mismatch", core.accountId, core.postingId, mine.amountMinor, coreAmount),
      );
    } else postingsMatched += 1;
  }
  for (const mine of mirrorPostings.values()) {
    breaks.push(
      postingBreak("missing_in_core", mine.legacyAccountId, mine.postingId, mine.amountMinor, null),
    );
  }
  return { accountsMatched, postingsMatched, breaks };
}

function accountBreak(
  kind: BreakKind,
  legacyAccountId: string,
  mirror: bigint | null,
  core: bigint | null,
): FoundBreak {
  return { kind, subject: "account", legacyAccountId, postingId: null, mirrorMinor: mirror, coreMinor: core };
}

function postingBreak(
  kind: BreakKind,
  legacyAccountId: string,
  postingId: string,
  mirror: bigint | null,
  core: bigint | null,
): FoundBreak {
  return { kind, subject: "posting", legacyAccountId, postingId, mirrorMinor: mirror, coreMinor: core };
}

export class LegacyReconciler {
  readonly #options: ReconcilerOptions;
  readonly #context: RequestContext = systemContext("legacy-reconciliation");

  constructor(options: ReconcilerOptions) {
    this.#options = options;
  }

  /** One run under the reconciliation lease; undefined when another node is running one. */
  async run(): Promise<ReconciliationReport | undefined> {
    const { db, clock, nodeId } = this.#options;
    if (!(await tryLease(db, clock, "reconciliation", nodeId, RECONCILIATION_LEASE_S))) return undefined;
    try {
      return await this.#run();
    } finally {
      await releaseLease(db, "reconciliation", nodeId);
    }
  }

  async #run(): Promise<ReconciliationReport> {
    const startedAt = this.#options.clock.now();
    const core = this.#options.core;
    if (!core) return this.#store(startedAt, undefined, undefined, "no legacy core is configured");
    const exported = await core.export();
    if (!exported.ok) return this.#store(startedAt, undefined, undefined, `export: ${exported.reason}`);
    const snapshot = exported.value;
    let lastSeq = (await this.#options.mirror.freshness()).lastSeq;
    for (let page = 0; page < 100 && lastSeq < snapshot.lastSeq; page++) {
      const result = await this.#options.mirror.ingestOnce();
      lastSeq = result.lastSeq;
      if (result.skipped === "unavailable") break;
    }
    if (lastSeq < snapshot.lastSeq) {
      return this.#store(
        startedAt,
        snapshot,
        undefined,
        `the mirror is at seq ${lastSeq}, the export at ${snapshot.lastSeq}`,
      );
    }
    const comparison = compareWithExport(snapshot, ...(await this.#mirrorAt(snapshot)));
    return this.#store(startedAt, snapshot, comparison, null);
  }

  /** The mirror as of the export's lastSeq: later postings are taken back out of the balances. */
  async #mirrorAt(snapshot: CoreExport): Promise<[MirrorAccountAtSeq[], MirrorPosting[]]> {
    const seq = BigInt(snapshot.lastSeq);
    const accounts = await sql<{ legacy_account_id: string; booked: bigint; available: bigint }>`
      select a.legacy_account_id,
        a.booked_minor - coalesce(sum(t.amount_minor), 0) as booked,
        a.available_minor - coalesce(sum(t.amount_minor), 0) as available
      from legacy_accounts a
      left join legacy_transactions t on t.account_id = a.id and t.seq > ${seq}
      where a.first_seq <= ${seq}
      group by a.id, a.legacy_account_id, a.booked_minor, a.available_minor`.execute(this.#options.db);
    const postings = await legacyDb(this.#options.db)
      .selectFrom("legacy_transactions")
      .select(["posting_id", "legacy_account_id", "amount_minor"])
      .where("business_date", "=", snapshot.businessDate)
      .where("booked_at", "<=", new Date(snapshot.asOf))
      .where((eb) => eb.or([eb("seq", "is", null), eb("seq", "<=", seq)]))
      .execute();
    return [
      accounts.rows.map((row) => ({
        legacyAccountId: row.legacy_account_id,
        bookedMinor: BigInt(row.booked),
        availableMinor: BigInt(row.available),
      })),
      postings.map((row) => ({
        postingId: row.posting_id,
        legacyAccountId: row.legacy_account_id,
        amountMinor: BigInt(row.amount_minor),
      })),
    ];
  }

  async #store(
    startedAt: Date,
    snapshot: CoreExport | undefined,
    comparison: Comparison | undefined,
    detail: string | null,
  ): Promise<ReconciliationReport> {
    const { ids, clock, events } = this.#options;
    const now = clock.now();
    const run: RunRow = {
      id: ids.next("lrr"),
      started_at: startedAt,
      finished_at: now,
      status: comparison ? "completed" : "incomplete",
      as_of: snapshot ? new Date(snapshot.asOf) : null,
      business_date: snapshot?.businessDate ?? null,
      last_seq: snapshot ? BigInt(snapshot.lastSeq) : null,
      accounts_matched: comparison?.accountsMatched ?? 0,
      postings_matched: comparison?.postingsMatched ?? 0,
      breaks_count: comparison?.breaks.length ?? 0,
      detail,
    };
    const breaks: BreakRow[] = (comparison?.breaks ?? []).slice(0, BREAKS_PER_RUN_MAX).map((found) => ({
      id: ids.next("lrb"),
      run_id: run.id,
      kind: found.kind,
      subject: found.subject,
      legacy_account_id: found.legacyAccountId,
      posting_id: found.postingId,
      mirror_minor: found.mirrorMinor,
      core_minor: found.coreMinor,
      created_at: now,
    }));
    await inTransaction(this.#options.db, async (tx) => {
      await legacyTx(tx).insertInto("legacy_reconciliation_runs").values(run).execute();
      if (breaks.length > 0)
        await legacyTx(tx).insertInto("legacy_reconciliation_breaks").values(breaks).execute();
      const alerts = breaks.map((row) =>
        events.create(this.#context, "legacy.reconciliation_break", row.id, {
          runId: run.id,
          breakId: row.id,
          kind: row.kind,
          subject: row.subject,
          legacyAccountId: row.legacy_account_id,
          postingId: row.posting_id,
          mirrorMinor: row.mirror_minor?.toString() ?? null,
          coreMinor: row.core_minor?.toString() ?? null,
        }),
      );
      const completed = events.create(this.#context, "legacy.reconciliation_completed", run.id, {
        runId: run.id,
        status: run.status,
        lastSeq: snapshot?.lastSeq ?? null,
        accountsMatched: run.accounts_matched,
        postingsMatched: run.postings_matched,
        breaksCount: run.breaks_count,
      });
      await appendToOutbox(tx, [...alerts, completed]);
      await this.#options.audit.record(tx, this.#context, {
        action: "legacy.reconciliation_run",
        subjectId: run.id,
        details: { status: run.status, breaksCount: run.breaks_count },
      });
    });
    if (breaks.length > 0) {
      this.#options.logger.warn(
        { runId: run.id, breaks: breaks.length },
        "legacy reconciliation found breaks",
      );
    }
    return toReport(run, breaks);
  }

  async latest(): Promise<ReconciliationReport | undefined> {
    const db = legacyDb(this.#options.db);
    const run = await db
      .selectFrom("legacy_reconciliation_runs")
      .selectAll()
      .orderBy("started_at", "desc")
      .orderBy("id", "desc")
      .limit(1)
      .executeTakeFirst();
    if (!run) return undefined;
    const breaks = await db
      .selectFrom("legacy_reconciliation_breaks")
      .selectAll()
      .where("run_id", "=", run.id)
      .orderBy("id")
      .limit(1_000)
      .execute();
    return toReport(run, breaks);
  }
}

function toReport(run: RunRow, breaks: BreakRow[]): ReconciliationReport {
  return {
    runId: run.id,
    status: run.status,
    startedAt: new Date(run.started_at).toISOString(),
    finishedAt: new Date(run.finished_at).toISOString(),
    asOf: run.as_of ? new Date(run.as_of).toISOString() : null,
    businessDate: run.business_date,
    lastSeq: run.last_seq === null ? null : Number(run.last_seq),
    accountsMatched: run.accounts_matched,
    postingsMatched: run.postings_matched,
    breaksCount: run.breaks_count,
    detail: run.detail,
    breaks: breaks.map((row) => ({
      id: row.id,
      kind: row.kind,
      subject: row.subject,
      legacyAccountId: row.legacy_account_id,
      postingId: row.posting_id,
      mirrorMinor: row.mirror_minor === null ? null : row.mirror_minor.toString(),
      coreMinor: row.core_minor === null ? null : row.core_minor.toString(),
    })),
  };
}

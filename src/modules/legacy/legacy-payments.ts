import { sql } from "kysely";
import { type RequestContext, systemContext } from "../../platform/context.ts";
import { inTransaction, type Tx } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { AppError, type ProblemSlug } from "../../platform/errors.ts";
import { appendToOutbox } from "../../platform/events/outbox.ts";
import {
  type IdempotencyStore,
  type InFlightKeys,
  requestHash,
  type StoredResponse,
} from "../../platform/idempotency.ts";
import { type AmountDto, parseAmount, toAmountDto } from "../../platform/money.ts";
import type { LedgerService } from "../ledger/index.ts";
import { normalizeIban } from "../ledger/index.ts";
import { type LegacyPaymentRow, type LegacyPaymentStatus, legacyDb, legacyTx } from "./legacy.tables.ts";
import type { CorePosting, LegacyCorePort } from "./legacy-core.client.ts";
import type { LegacyMirror } from "./mirror.ts";

/**
 * Payments from legacy-mastered accounts. A payment is decided at once against the mirror's
 * available balance less the holds of our payments the mirror does not show yet, and accepted
 * (202) in one transaction with its hold, its queued posting, its audit record and its event. A
 * sender on every node leases due postings with skip locked and posts them to the core with the
 * payment id as the posting id, so a retry after a lost answer books once; transient failures are
 * retried with capped backoff for as long as it takes. The core's verdict posts the payment (the
 * destination is credited in the ledger, once) or rejects it (the hold released, the customer
 * told). The hold is captured when the feed echoes our posting: until then the mirror does not
 * show the debit, so the hold keeps it out of the available balance; the echo is recognised by
 * its posting id and applied to the mirror once.
 */

export interface LegacyPaymentsOptions extends ServiceDependencies {
  core: LegacyCorePort | undefined;
  mirror: LegacyMirror;
  ledger: LedgerService;
  idempotency: IdempotencyStore;
  inFlight: InFlightKeys;
  iban: { countryCode: string; bankCode: string };
  exposureMaxMinor: bigint;
  retryBackoffMaxMs: number;
  leaseS: number;
  random?: () => number;
}

export interface LegacyPaymentDto {
  id: string;
  accountId: string;
  status: LegacyPaymentStatus;
  statusReason: string | null;
  statusHistory: Array<{ status: LegacyPaymentStatus; reasonCode: string | null; at: string }>;
  toIban: string;
  amount: AmountDto;
  reference: string;
  /** Accepted while the legacy core was down or the mirror stale, within the exposure limit. */
  degraded: boolean;
  createdAt: string;
}

export interface LegacyPaymentStatusChangedEvent extends Record<string, unknown> {
  paymentId: string;
  customerId: string;
  accountId: string;
  from: LegacyPaymentStatus | null;
  to: LegacyPaymentStatus;
  reasonCode: string | null;
  amount: AmountDto;
}

interface StoredProblem {
  problem: { slug: ProblemSlug; detail: string; extensions: Record<string, unknown> };
}

const BACKOFF_INITIAL_MS = 100;

export function toPaymentDto(row: LegacyPaymentRow): LegacyPaymentDto {
  return {
    id: row.id,
    accountId: row.account_id,
    status: row.status,
    statusReason: row.rejection_reason,
    statusHistory: JSON.parse(row.status_history),
    toIban: row.to_iban,
    amount: toAmountDto(BigInt(row.amount_minor), row.currency),
    reference: row.reference,
    degraded: row.degraded,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

function stored(statusCode: number, slug: ProblemSlug, detail: string): StoredResponse {
  const body: StoredProblem = { problem: { slug, detail, extensions: {} } };
  return { statusCode, body };
}

function unwrap(response: StoredResponse): LegacyPaymentDto {
  const problem = (response.body as Partial<StoredProblem>).problem;
  if (problem) throw new AppError(problem.slug, problem.detail, problem.extensions);
  return response.body as LegacyPaymentDto;
}

export class LegacyPayments {
  readonly #options: LegacyPaymentsOptions;
  readonly #context: RequestContext = systemContext("legacy-sender");
  /** The `legacy` system account shard per currency, looked up before any transaction opens. */
  readonly #systemAccounts = new Map<string, string>();

  constructor(options: LegacyPaymentsOptions) {
    this.#options = options;
  }

  async prepare(currencies: string[]): Promise<void> {
    for (const currency of currencies) {
      if (!this.#systemAccounts.has(currency)) {
        this.#systemAccounts.set(currency, await this.#options.ledger.systemAccount("legacy", currency));
      }
    }
  }

  async pay(
    context: RequestContext,
    customerId: string,
    accountId: string,
    input: { toIban: string; amount: AmountDto; reference?: string | undefined },
    idempotencyKey: string,
  ): Promise<LegacyPaymentDto> {
    const { db, idempotency, inFlight, mirror } = this.#options;
    const scope = `${customerId}:legacy-payment`;
    const toIban = normalizeIban(input.toIban);
    const hash = requestHash({ accountId, ...input, toIban: toIban ?? input.toIban });
    const account = await mirror.accountOf(customerId, accountId);
    if (!account) throw new AppError("not-found", "No such legacy account.");
    const parsed = parseAmount(input.amount.amount, input.amount.currency);
    if (!parsed.ok || parsed.money.amountMinor <= 0n) {
      throw new AppError("invalid-amount", "The amount must be positive, with the currency's decimals.");
    }
    if (parsed.money.currency !== account.currency) {
      throw new AppError("currency-mismatch", `The account is in ${account.currency}.`);
    }
    if (!toIban) throw new AppError("invalid-iban", "toIban is not a valid IBAN (check digits or format).");
    if (!this.#isOurs(toIban) || !(await this.#options.ledger.findByIban(toIban))) {
      throw new AppError(
        "account-not-found",
        "Payments from legacy accounts go to accounts of this bank only, for now.",
      );
    }
    await this.prepare([account.currency]);
    const { stale } = await mirror.freshness();
    const release = inFlight.acquire(scope, idempotencyKey);
    try {
      const response = await inTransaction(db, async (tx) => {
        const claim = await idempotency.claim(tx, {
          scope,
          key: idempotencyKey,
          requestHash: hash,
          deviceId: context.deviceId ?? null,
        });
        if (claim.kind === "replay") return claim.response;
        if (claim.kind === "mismatch") {
          return stored(
            422,
            "idempotency-key-reused",
            "This Idempotency-Key was already used with a different request.",
          );
        }
        const decided = await this.#decide(tx, context, {
          customerId,
          accountId,
          toIban,
          amountMinor: parsed.money.amountMinor,
          currency: account.currency,
          reference: input.reference ?? "",
          stale,
        });
        await idempotency.completeMany(tx, [{ scope, key: idempotencyKey, response: decided }]);
        return decided;
      });
      return unwrap(response);
    } finally {
      release();
    }
  }

  #isOurs(iban: string): boolean {
    const { countryCode, bankCode } = this.#options.iban;
    return iban.startsWith(countryCode.toUpperCase()) && iban.slice(4).startsWith(bankCode.toUpperCase());
  }

  /** Under the mirror account's row lock, so two payments from one account are decided in turn. */
  async #decide(
    tx: Tx,
    context: RequestContext,
    payment: {
      customerId: string;
      accountId: string;
      toIban: string;
      amountMinor: bigint;
      currency: string;
      reference: string;
      stale: boolean;
    },
  ): Promise<StoredResponse> {
    // Payments from one account are decided one at a time (a transaction-scoped advisory lock),
    // but never wait for the feed: the mirror's row is read, not locked, so a page of feed changes
    // applying under that row's lock does not hold a customer's payment back. Balance and holds
    // are read in one statement, so they come from one snapshot (a capture moves both at once).
    await sql`select pg_advisory_xact_lock(hashtextextended(${payment.accountId}, 0))`.execute(tx);
    const locked = await sql<{
      available_minor: bigint;
      status: string;
      legacy_account_id: string;
      held: bigint | null;
      unposted: bigint | null;
    }>`
      select a.available_minor, a.status, a.legacy_account_id, p.held, p.unposted
      from legacy_accounts a, lateral (
        select sum(amount_minor) filter (where hold_status = 'held') as held,
               sum(amount_minor) filter (where status = 'accepted') as unposted
        from legacy_payments
        where account_id = a.id and (hold_status = 'held' or status = 'accepted')
      ) p
      where a.id = ${payment.accountId}`.execute(tx);
    const account = locked.rows[0]!;
    if (account.status !== "open")
      return stored(422, "account-not-active", "The legacy account is not open.");
    const held = BigInt(account.held ?? 0n);
    const unposted = BigInt(account.unposted ?? 0n);
    if (BigInt(account.available_minor) - held < payment.amountMinor) {
      return stored(422, "insufficient-funds", "The available balance does not cover this amount.");
    }
    if (payment.stale && unposted + payment.amountMinor > this.#options.exposureMaxMinor) {
      // Not stored under the key: the same request may well succeed once the core is back.
      throw new AppError(
        "legacy-exposure-exceeded",
        "The account's core system is unavailable; payments above the exposure limit must wait until it is back.",
        { exposureMax: toAmountDto(this.#options.exposureMaxMinor, payment.currency) },
      );
    }
    const now = this.#options.clock.now();
    const row: LegacyPaymentRow = {
      id: this.#options.ids.next("lpm"),
      customer_id: payment.customerId,
      account_id: payment.accountId,
      legacy_account_id: account.legacy_account_id,
      to_iban: payment.toIban,
      amount_minor: payment.amountMinor,
      currency: payment.currency,
      reference: payment.reference,
      status: "accepted",
      rejection_reason: null,
      hold_status: "held",
      credit_status: "pending",
      credited_entry_id: null,
      degraded: payment.stale,
      status_history: JSON.stringify([{ status: "accepted", reasonCode: null, at: now.toISOString() }]),
      legacy_booked_at: null,
      channel: context.channel,
      request_id: context.requestId,
      created_at: now,
      updated_at: now,
    };
    await legacyTx(tx).insertInto("legacy_payments").values(row).execute();
    await legacyTx(tx)
      .insertInto("legacy_posting_outbox")
      .values({
        payment_id: row.id,
        status: "pending",
        attempts: 0,
        next_attempt_at: now,
        locked_until: null,
        last_error: null,
        created_at: now,
        done_at: null,
      })
      .execute();
    await this.#publish(tx, context, row, null, null);
    await this.#options.audit.record(tx, context, {
      action: "legacy_payment.create",
      subjectId: row.id,
      details: { accountId: row.account_id, degraded: row.degraded },
    });
    return { statusCode: 202, body: toPaymentDto(row) };
  }

  async #publish(
    tx: Tx,
    context: RequestContext,
    row: LegacyPaymentRow,
    from: LegacyPaymentStatus | null,
    reasonCode: string | null,
    extra: ReturnType<ServiceDependencies["events"]["create"]>[] = [],
  ): Promise<void> {
    const data: LegacyPaymentStatusChangedEvent = {
      paymentId: row.id,
      customerId: row.customer_id,
      accountId: row.account_id,
      from,
      to: row.status,
      reasonCode,
      amount: toAmountDto(BigInt(row.amount_minor), row.currency),
    };
    const event = this.#options.events.create(context, "legacy_payment.status_changed", row.id, data);
    await appendToOutbox(tx, [event, ...extra]);
  }

  async get(customerId: string, paymentId: string): Promise<LegacyPaymentDto> {
    const row = await legacyDb(this.#options.db)
      .selectFrom("legacy_payments")
      .selectAll()
      .where("id", "=", paymentId)
      .where("customer_id", "=", customerId)
      .executeTakeFirst();
    if (!row) throw new AppError("not-found", "No such payment.");
    return toPaymentDto(row);
  }

  /** The sum of the account's payments the mirror does not show yet (they reduce its available balance). */
  async heldMinor(accountId: string): Promise<bigint> {
    const result = await sql<{ held: bigint | null }>`
      select sum(amount_minor) as held from legacy_payments
      where account_id = ${accountId} and hold_status = 'held'`.execute(this.#options.db);
    return BigInt(result.rows[0]?.held ?? 0n);
  }

  // ————— The sender —————

  /** Posts due payments to the core; returns how many were leased. */
  async sendDue(limit: number): Promise<number> {
    const core = this.#options.core;
    if (!core) return 0;
    const { db, clock } = this.#options;
    const now = clock.now();
    const until = new Date(now.getTime() + this.#options.leaseS * 1000);
    const leased = await sql<{ payment_id: string; attempts: number }>`
      update legacy_posting_outbox set locked_until = ${until}
      where payment_id in (
        select payment_id from legacy_posting_outbox
        where status = 'pending' and next_attempt_at <= ${now}
          and (locked_until is null or locked_until < ${now})
        order by next_attempt_at
        limit ${limit}
        for update skip locked)
      returning payment_id, attempts`.execute(db);
    await Promise.all(leased.rows.map((row) => this.#send(core, row.payment_id, Number(row.attempts))));
    return leased.rows.length;
  }

  async #send(core: LegacyCorePort, paymentId: string, attempts: number): Promise<void> {
    const payment = await legacyDb(this.#options.db)
      .selectFrom("legacy_payments")
      .selectAll()
      .where("id", "=", paymentId)
      .executeTakeFirstOrThrow();
    if (payment.status !== "accepted") {
      await this.#markDone(undefined, paymentId);
      return;
    }
    const outcome = await core.post({
      postingId: payment.id,
      accountId: payment.legacy_account_id,
      amountMinor: -BigInt(payment.amount_minor),
      currency: payment.currency,
      reference: payment.reference || payment.id,
    });
    if (outcome.kind === "retry") {
      await this.#markRetry(paymentId, attempts + 1, outcome.reason);
      return;
    }
    await this.prepare([payment.currency]);
    await inTransaction(this.#options.db, async (tx) => {
      if (outcome.kind === "posted") await this.#post(tx, paymentId, new Date(outcome.bookedAt));
      else await this.#reject(tx, paymentId, outcome.reason);
      await this.#markDone(tx, paymentId);
    });
  }

  async #markDone(tx: Tx | undefined, paymentId: string): Promise<void> {
    const now = this.#options.clock.now();
    const query = (tx ? legacyTx(tx) : legacyDb(this.#options.db))
      .updateTable("legacy_posting_outbox")
      .set({ status: "done", done_at: now, locked_until: null })
      .where("payment_id", "=", paymentId);
    await query.execute();
  }

  async #markRetry(paymentId: string, attempts: number, reason: string): Promise<void> {
    const random = this.#options.random ?? Math.random;
    const ceiling = Math.min(
      this.#options.retryBackoffMaxMs,
      BACKOFF_INITIAL_MS * 2 ** Math.min(attempts, 20),
    );
    // Full jitter: nodes retrying after one outage do not all come back at the same instant.
    const delayMs = Math.max(10, Math.floor(random() * ceiling));
    await legacyDb(this.#options.db)
      .updateTable("legacy_posting_outbox")
      .set({
        attempts,
        next_attempt_at: new Date(this.#options.clock.now().getTime() + delayMs),
        locked_until: null,
        last_error: reason.slice(0, 200),
      })
      .where("payment_id", "=", paymentId)
      .execute();
  }

  async #lockPayment(tx: Tx, paymentId: string): Promise<LegacyPaymentRow | undefined> {
    return legacyTx(tx)
      .selectFrom("legacy_payments")
      .selectAll()
      .where("id", "=", paymentId)
      .forUpdate()
      .executeTakeFirst();
  }

  /** The core booked the payment: credit the destination once. Idempotent. */
  async #post(tx: Tx, paymentId: string, bookedAt: Date): Promise<LegacyPaymentRow | undefined> {
    const row = await this.#lockPayment(tx, paymentId);
    if (row?.status !== "accepted") return row;
    const systemAccountId = this.#systemAccounts.get(row.currency);
    if (!systemAccountId) throw new Error(`legacy system account for ${row.currency} not prepared`);
    const amountMinor = BigInt(row.amount_minor);
    const entryId = this.#options.ids.next("jrn");
    const [outcome] = await this.#options.ledger.postEntries(tx, [
      {
        entryId,
        kind: "legacy_payment",
        transferId: row.id,
        reference: row.reference || null,
        currency: row.currency,
        legs: [
          { accountId: systemAccountId, amountMinor: -amountMinor },
          { iban: row.to_iban, amountMinor },
        ],
      },
    ]);
    const credited = outcome?.ok === true;
    if (!credited) {
      this.#options.logger.error({ paymentId, reason: outcome?.reason }, "crediting a legacy payment failed");
    }
    const now = this.#options.clock.now();
    const history = [
      ...JSON.parse(row.status_history),
      { status: "posted", reasonCode: null, at: now.toISOString() },
    ];
    const updated: LegacyPaymentRow = {
      ...row,
      status: "posted",
      credit_status: credited ? "credited" : "failed",
      credited_entry_id: credited ? entryId : null,
      legacy_booked_at: bookedAt,
      status_history: JSON.stringify(history),
      updated_at: now,
    };
    await legacyTx(tx)
      .updateTable("legacy_payments")
      .set({
        status: updated.status,
        credit_status: updated.credit_status,
        credited_entry_id: updated.credited_entry_id,
        legacy_booked_at: bookedAt,
        status_history: updated.status_history,
        updated_at: now,
      })
      .where("id", "=", row.id)
      .execute();
    await this.#publish(tx, this.#context, updated, "accepted", null);
    await this.#options.audit.record(tx, this.#context, {
      action: "legacy_payment.posted",
      subjectId: row.id,
      details: { creditStatus: updated.credit_status },
    });
    return updated;
  }

  /** The core refused the payment: release the hold, mark it rejected, tell the customer. */
  async #reject(tx: Tx, paymentId: string, reason: string): Promise<void> {
    const row = await this.#lockPayment(tx, paymentId);
    if (row?.status !== "accepted") return;
    const now = this.#options.clock.now();
    const history = [
      ...JSON.parse(row.status_history),
      { status: "rejected", reasonCode: reason, at: now.toISOString() },
    ];
    const updated: LegacyPaymentRow = {
      ...row,
      status: "rejected",
      rejection_reason: reason,
      hold_status: "released",
      credit_status: "none",
      status_history: JSON.stringify(history),
      updated_at: now,
    };
    await legacyTx(tx)
      .updateTable("legacy_payments")
      .set({
        status: "rejected",
        rejection_reason: reason,
        hold_status: "released",
        credit_status: "none",
        status_history: updated.status_history,
        updated_at: now,
      })
      .where("id", "=", row.id)
      .execute();
    const notification = this.#options.events.create(
      this.#context,
      "notification.requested",
      row.customer_id,
      {
        customerId: row.customer_id,
        category: "payments",
        template: "legacy_payment_rejected",
        paymentId: row.id,
        reasonCode: reason,
      },
    );
    await this.#publish(tx, this.#context, updated, "accepted", reason, [notification]);
    await this.#options.audit.record(tx, this.#context, {
      action: "legacy_payment.rejected",
      subjectId: row.id,
      details: { reason },
    });
  }

  /**
   * The feed (or an export) shows our posting booked: the mirror now carries the debit, so the
   * hold is captured; if the sender had not recorded the core's answer yet, this posts it.
   */
  async onOwnPosting(tx: Tx, paymentId: string, posting: CorePosting): Promise<void> {
    const row = await this.#post(tx, paymentId, new Date(posting.bookedAt));
    if (!row) return;
    await legacyTx(tx)
      .updateTable("legacy_payments")
      .set({ hold_status: "captured", updated_at: this.#options.clock.now() })
      .where("id", "=", paymentId)
      .where("hold_status", "=", "held")
      .execute();
    await this.#markDone(tx, paymentId);
  }

  /** Payments queued for the core and not yet answered (all nodes). */
  async pendingCount(): Promise<number> {
    const row = await legacyDb(this.#options.db)
      .selectFrom("legacy_posting_outbox")
      .select((eb) => eb.fn.countAll<string>().as("count"))
      .where("status", "=", "pending")
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }
}

import type { RequestContext } from "../../platform/context.ts";
import { StatementBundle } from "../../platform/db/bulk.ts";
import { inTransaction, type Tx } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { AppError, assertInvariant } from "../../platform/errors.ts";
import { appendToOutbox } from "../../platform/events/outbox.ts";
import {
  type IdempotencyStore,
  type InFlightKeys,
  requestHash,
  throwIfMismatch,
} from "../../platform/idempotency.ts";
import { isSupportedCurrency } from "../../platform/money.ts";
import { IbanIssuer } from "./iban.ts";
import { LedgerRepository } from "./ledger.repository.ts";
import type { AccountRow, HoldStatus } from "./ledger.tables.ts";
import {
  type AccountState,
  availableMinor,
  type EntryOutcome,
  type EntryRequest,
  planEntries,
} from "./posting.engine.ts";

/** `legacy`: the other leg of money that arrives from, or leaves through, the legacy core. */
export type SystemAccountCode = "cash" | "clearing" | "legacy";
export type CustomerAccountType = "current" | "savings";

export interface Account {
  id: string;
  iban: string;
  type: CustomerAccountType;
  currency: string;
  status: AccountRow["status"];
  ownerCustomerId: string;
  bookedMinor: bigint;
  availableMinor: bigint;
  createdAt: Date;
}

export interface AccountTransaction {
  id: string;
  seq: bigint;
  bookedAt: Date;
  amountMinor: bigint;
  currency: string;
  balanceAfterMinor: bigint;
  kind: string;
  reference: string | null;
  transferId: string | null;
}

export interface AccountFrozenEvent extends Record<string, unknown> {
  accountId: string;
  customerId: string;
  reason: string;
}

export interface LedgerServiceOptions extends ServiceDependencies {
  idempotency: IdempotencyStore;
  inFlight: InFlightKeys;
  iban: { countryCode: string; bankCode: string };
  ledger: { systemAccountShards: number };
}

/** A customer may hold this many accounts; a bound on everything (architecture rule 11). */
const ACCOUNTS_PER_CUSTOMER_MAX = 20;
const HISTORY_PAGE_MAX = 200;

function toAccount(row: AccountRow): Account {
  assertInvariant(row.kind !== "system" && row.iban && row.owner_customer_id, "customer account expected");
  return {
    id: row.id,
    iban: row.iban,
    type: row.kind,
    currency: row.currency,
    status: row.status,
    ownerCustomerId: row.owner_customer_id,
    bookedMinor: BigInt(row.booked_minor),
    availableMinor: BigInt(row.booked_minor) - BigInt(row.held_minor),
    createdAt: row.created_at,
  };
}

/** A leg that names its account by id, or by IBAN (resolved under the same lock). */
export type PostingLeg = { accountId: string; amountMinor: bigint } | { iban: string; amountMinor: bigint };

export interface PostingRequest extends Omit<EntryRequest, "legs"> {
  legs: PostingLeg[];
}

function resolveLegs(request: PostingRequest, idsByIban: Map<string, string>): EntryRequest | EntryOutcome {
  const legs: EntryRequest["legs"] = [];
  for (const leg of request.legs) {
    const accountId = "accountId" in leg ? leg.accountId : idsByIban.get(leg.iban);
    if (!accountId)
      return { ok: false, reason: "account-not-found", accountId: "iban" in leg ? leg.iban : "" };
    legs.push({ accountId, amountMinor: leg.amountMinor });
  }
  return { ...request, legs };
}

/**
 * Accounts, the double-entry journal and holds. Other modules move money only through
 * `postEntries` (inside their own transaction), which books a whole batch with one lock round,
 * a result per entry, and balances updated in the same transaction as the postings.
 */
export class LedgerService {
  readonly #options: LedgerServiceOptions;
  readonly #repository: LedgerRepository;
  readonly #ibans: IbanIssuer;
  /** System account shard ids per "code:currency", filled lazily and never changed after. */
  readonly #shards = new Map<string, string[]>();

  constructor(options: LedgerServiceOptions) {
    this.#options = options;
    this.#repository = new LedgerRepository({ db: options.db });
    this.#ibans = new IbanIssuer(options.iban);
  }

  async init(): Promise<void> {}

  async openAccount(
    context: RequestContext,
    customerId: string,
    input: { type: CustomerAccountType; currency: string },
    idempotencyKey?: string,
  ): Promise<Account> {
    if (!isSupportedCurrency(input.currency)) {
      throw new AppError("validation", `${input.currency} is not an ISO 4217 currency with a minor unit.`);
    }
    const scope = `${customerId}:open-account`;
    const release = idempotencyKey ? this.#options.inFlight.acquire(scope, idempotencyKey) : () => undefined;
    try {
      return await inTransaction(this.#options.db, async (tx) => {
        if (idempotencyKey) {
          const outcome = await this.#options.idempotency.claim(tx, {
            scope,
            key: idempotencyKey,
            requestHash: requestHash(input),
            deviceId: context.deviceId ?? null,
          });
          throwIfMismatch(outcome);
          if (outcome.kind === "replay") {
            const id = (outcome.response.body as { id: string }).id;
            return toAccount((await this.#repository.account(id, customerId, tx))!);
          }
        }
        const account = await this.#insertCustomerAccount(tx, context, customerId, input);
        if (idempotencyKey) {
          await this.#options.idempotency.completeMany(tx, [
            { scope, key: idempotencyKey, response: { statusCode: 201, body: { id: account.id } } },
          ]);
        }
        return account;
      });
    } finally {
      release();
    }
  }

  async #insertCustomerAccount(
    tx: Tx,
    context: RequestContext,
    customerId: string,
    input: { type: CustomerAccountType; currency: string },
  ): Promise<Account> {
    await this.#repository.lockOwner(tx, customerId);
    const existing = await this.#repository.accountsOfOwner(customerId, tx);
    if (existing.length >= ACCOUNTS_PER_CUSTOMER_MAX) {
      throw new AppError("conflict", `A customer may hold at most ${ACCOUNTS_PER_CUSTOMER_MAX} accounts.`);
    }
    const iban = this.#ibans.issue(await this.#repository.nextAccountNumber(tx));
    assertInvariant(iban, "the bank has run out of account numbers");
    const now = this.#options.clock.now();
    const row: AccountRow = {
      id: this.#options.ids.next("acc"),
      iban,
      owner_customer_id: customerId,
      kind: input.type,
      system_code: null,
      shard: null,
      currency: input.currency,
      status: "active",
      booked_minor: 0n,
      held_minor: 0n,
      overdraft_limit_minor: 0n,
      allow_negative: false,
      posting_seq: 0n,
      created_at: now,
      updated_at: now,
    };
    await this.#repository.insertAccount(tx, row);
    const event = this.#options.events.create(context, "account.opened", row.id, {
      accountId: row.id,
      customerId,
      type: input.type,
      currency: input.currency,
    });
    await appendToOutbox(tx, [event]);
    await this.#options.audit.record(tx, context, { action: "account.open", subjectId: row.id });
    return toAccount(row);
  }

  async listAccounts(customerId: string): Promise<Account[]> {
    return (await this.#repository.accountsOfOwner(customerId)).map(toAccount);
  }

  /** Scoped by owner: another customer's account is indistinguishable from a missing one (BOLA). */
  async getAccount(customerId: string, accountId: string): Promise<Account> {
    const row = await this.#repository.account(accountId, customerId);
    if (!row) throw new AppError("not-found", "No such account.");
    return toAccount(row);
  }

  /** Whether the customer owns the account, read in the caller's transaction. */
  async isOwner(tx: Tx, customerId: string, accountId: string): Promise<boolean> {
    return (await this.#repository.account(accountId, customerId, tx)) !== undefined;
  }

  /** Staff see any customer account; the route checks the role. */
  async getAccountForStaff(accountId: string): Promise<Account> {
    const row = await this.#repository.account(accountId);
    if (!row || row.kind === "system") throw new AppError("not-found", "No such account.");
    return toAccount(row);
  }

  async findByIban(iban: string, tx?: Tx): Promise<Account | undefined> {
    const row = await this.#repository.accountByIban(iban, tx);
    return row ? toAccount(row) : undefined;
  }

  async history(
    customerId: string,
    accountId: string,
    page: { limit: number; beforeSeq?: bigint },
  ): Promise<{ items: AccountTransaction[]; nextBeforeSeq?: bigint }> {
    await this.getAccount(customerId, accountId);
    const limit = Math.min(Math.max(page.limit, 1), HISTORY_PAGE_MAX);
    const rows = await this.#repository.postingsPage(accountId, page.beforeSeq, limit + 1);
    const items = rows.slice(0, limit).map((row) => ({
      id: row.id,
      seq: BigInt(row.seq),
      bookedAt: row.created_at,
      amountMinor: BigInt(row.amount_minor),
      currency: row.currency,
      balanceAfterMinor: BigInt(row.balance_after_minor),
      kind: row.kind,
      reference: row.reference,
      transferId: row.transfer_id,
    }));
    const last = items.at(-1);
    return rows.length > limit && last ? { items, nextBeforeSeq: last.seq } : { items };
  }

  /**
   * One shard of a system account, chosen at random so concurrent postings spread over rows.
   * Shards are created on first use of a currency.
   */
  async systemAccount(code: SystemAccountCode, currency: string): Promise<string> {
    const key = `${code}:${currency}`;
    let shards = this.#shards.get(key);
    if (!shards) {
      shards = await this.#ensureSystemShards(code, currency);
      this.#shards.set(key, shards);
    }
    return shards[Math.floor(Math.random() * shards.length)]!;
  }

  async #ensureSystemShards(code: SystemAccountCode, currency: string): Promise<string[]> {
    const existing = await this.#repository.systemShardIds(code, currency);
    if (existing.length >= this.#options.ledger.systemAccountShards) return existing;
    const now = this.#options.clock.now();
    const rows: AccountRow[] = Array.from(
      { length: this.#options.ledger.systemAccountShards },
      (_, shard) => ({
        id: this.#options.ids.next("acc"),
        iban: null,
        owner_customer_id: null,
        kind: "system",
        system_code: code,
        shard,
        currency,
        status: "active",
        booked_minor: 0n,
        held_minor: 0n,
        overdraft_limit_minor: 0n,
        allow_negative: true,
        posting_seq: 0n,
        created_at: now,
        updated_at: now,
      }),
    );
    await inTransaction(this.#options.db, (tx) => this.#repository.insertSystemAccounts(tx, rows));
    return this.#repository.systemShardIds(code, currency);
  }

  /**
   * Books a batch of journal entries inside the caller's transaction: locks every account involved
   * once (in id order), decides each entry against the running balances, then writes all entries,
   * postings and balances in a few statements. A refused entry books nothing. Legs may name an
   * account by IBAN; an IBAN of no account of the bank refuses that entry as `account-not-found`.
   */
  async postEntries(tx: Tx, requests: PostingRequest[], bundle?: StatementBundle): Promise<EntryOutcome[]> {
    const legs = requests.flatMap((request) => request.legs);
    const ids = legs.flatMap((leg) => ("accountId" in leg ? [leg.accountId] : []));
    const ibans = legs.flatMap((leg) => ("iban" in leg ? [leg.iban] : []));
    const { accounts, idsByIban } = await this.#repository.lockAccountsAndIbans(tx, ids, ibans);
    const resolved = requests.map((request) => resolveLegs(request, idsByIban));
    const entries = resolved.filter((entry): entry is EntryRequest => "legs" in entry);
    const booked = await this.#bookPlanned(tx, accounts, entries, bundle);
    let next = 0;
    return resolved.map((entry) => ("legs" in entry ? booked[next++]! : entry));
  }

  /**
   * Decides the entries and writes their effects: into `bundle` when the caller sends its own
   * writes together with the ledger's (the transfer batch), otherwise at once.
   */
  async #bookPlanned(
    tx: Tx,
    accounts: Map<string, AccountState>,
    entries: EntryRequest[],
    bundle?: StatementBundle,
  ): Promise<EntryOutcome[]> {
    const outcomes = planEntries(accounts, entries, () => this.#options.ids.next("pst"));
    const booked = entries.filter((_, index) => outcomes[index]?.ok);
    const postings = outcomes.flatMap((outcome) => (outcome.ok ? outcome.postings : []));
    const touched = new Set(postings.map((posting) => posting.accountId));
    for (const entry of entries) {
      if (entry.releasesHeldMinor) touched.add(entry.releasesHeldMinor.accountId);
    }
    const now = this.#options.clock.now();
    const writes = bundle ?? new StatementBundle();
    writes.add(this.#repository.entriesStatement(booked, now));
    writes.add(this.#repository.postingsStatement(postings, now));
    writes.add(
      this.#repository.balancesStatement(
        [...touched].map((id) => accounts.get(id)!),
        now,
      ),
    );
    if (!bundle) await writes.execute(tx);
    return outcomes;
  }

  /** Reserves funds without booking: the available balance drops, the booked one does not. */
  async placeHold(
    tx: Tx,
    input: { accountId: string; amountMinor: bigint; currency: string; reference?: string },
  ): Promise<
    | { ok: true; holdId: string }
    | {
        ok: false;
        reason: "insufficient-funds" | "account-not-active" | "currency-mismatch" | "account-not-found";
      }
  > {
    assertInvariant(input.amountMinor > 0n, "a hold must be positive");
    const account = (await this.#repository.lockAccounts(tx, [input.accountId])).get(input.accountId);
    if (!account) return { ok: false, reason: "account-not-found" };
    if (account.status !== "active") return { ok: false, reason: "account-not-active" };
    if (account.currency !== input.currency) return { ok: false, reason: "currency-mismatch" };
    if (
      !account.allowNegative &&
      availableMinor(account) - input.amountMinor < -account.overdraftLimitMinor
    ) {
      return { ok: false, reason: "insufficient-funds" };
    }
    account.heldMinor += input.amountMinor;
    const now = this.#options.clock.now();
    const holdId = this.#options.ids.next("hld");
    await this.#repository.insertHold(tx, {
      id: holdId,
      account_id: account.id,
      amount_minor: input.amountMinor,
      currency: input.currency,
      status: "placed",
      reference: input.reference ?? null,
      entry_id: null,
      created_at: now,
      updated_at: now,
    });
    await this.#repository.saveBalances(tx, [account], now);
    return { ok: true, holdId };
  }

  /** Books a held amount to `creditAccountId` and releases the hold, in one journal entry. */
  async captureHold(
    tx: Tx,
    input: { holdId: string; creditAccountId: string; transferId?: string; reference?: string },
  ): Promise<EntryOutcome> {
    const hold = await this.#lockPlacedHold(tx, input.holdId);
    const accounts = await this.#repository.lockAccounts(tx, [hold.account_id, input.creditAccountId]);
    const amountMinor = BigInt(hold.amount_minor);
    const entry: EntryRequest = {
      entryId: this.#options.ids.next("jrn"),
      kind: "hold_capture",
      transferId: input.transferId ?? null,
      reference: input.reference ?? hold.reference,
      currency: hold.currency,
      legs: [
        { accountId: hold.account_id, amountMinor: -amountMinor },
        { accountId: input.creditAccountId, amountMinor },
      ],
      releasesHeldMinor: { accountId: hold.account_id, amountMinor },
    };
    const [outcome] = await this.#bookPlanned(tx, accounts, [entry]);
    assertInvariant(outcome, "capture produced no outcome");
    if (outcome.ok)
      await this.#repository.settleHold(tx, hold.id, "captured", entry.entryId, this.#options.clock.now());
    return outcome;
  }

  async releaseHold(tx: Tx, holdId: string): Promise<void> {
    const hold = await this.#lockPlacedHold(tx, holdId);
    const account = (await this.#repository.lockAccounts(tx, [hold.account_id])).get(hold.account_id)!;
    account.heldMinor -= BigInt(hold.amount_minor);
    const now = this.#options.clock.now();
    await this.#repository.saveBalances(tx, [account], now);
    await this.#repository.settleHold(tx, hold.id, "released", null, now);
  }

  async #lockPlacedHold(tx: Tx, holdId: string) {
    const hold = await this.#repository.lockHold(tx, holdId);
    if (!hold) throw new AppError("not-found", "No such hold.");
    if (hold.status !== ("placed" satisfies HoldStatus)) {
      throw new AppError("conflict", `The hold is already ${hold.status}.`);
    }
    return hold;
  }

  /**
   * Freezes every active account of the customer inside the caller's transaction (confirmed
   * fraud): a frozen account takes part in no posting and no new hold (the posting engine and
   * `placeHold` refuse any account that is not active). Audited and published per account.
   */
  async freezeCustomerAccounts(
    tx: Tx,
    context: RequestContext,
    customerId: string,
    reason: string,
  ): Promise<string[]> {
    const frozen = await this.#repository.freezeAccountsOfOwner(tx, customerId, this.#options.clock.now());
    const { events, audit } = this.#options;
    for (const accountId of frozen) {
      const data: AccountFrozenEvent = { accountId, customerId, reason };
      await appendToOutbox(tx, [events.create(context, "account.frozen", accountId, data)]);
      await audit.record(tx, context, {
        action: "account.frozen",
        subjectId: accountId,
        details: { reason, statusBefore: "active", statusAfter: "frozen" },
      });
    }
    return frozen;
  }

  /** Sum of postings per currency (must be zero) and accounts whose balance disagrees with them. */
  consistencyReport() {
    return this.#repository.postingTotals();
  }
}

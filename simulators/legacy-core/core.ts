import { composeIBAN } from "ibantools";
import type { Clock } from "../../src/platform/clock.ts";

/**
 * The state of the simulated legacy core banking system, in memory: accounts with booked and
 * available balances, postings (idempotent by the caller's posting id), a change feed with a
 * monotonic sequence number, and an end-of-day export computed from the same records. Test
 * controls plant breaks — changes the core makes without telling the feed — so that
 * reconciliation has something to find. Amounts are bigint minor units inside and decimal
 * strings outside.
 */

export type RejectionReason =
  | "insufficient_funds"
  | "account_closed"
  | "unknown_account"
  | "currency_mismatch";
export type AccountStatus = "open" | "closed";

export interface LegacyAccountSeed {
  /** Defaults to `LC` and eight digits. */
  id?: string;
  /** Defaults to the id's digits, zero-padded to ten. */
  number?: string;
  /** Defaults to a valid German IBAN made of `bankCode` and `number`. */
  iban?: string;
  currency: string;
  ownerRef: string;
  bookedMinor?: bigint | string;
  /** Defaults to the booked balance: the legacy core has no holds of its own unless seeded so. */
  availableMinor?: bigint | string;
  /** How far the available balance may go below zero; 0 by default. */
  overdraftLimitMinor?: bigint | string;
  status?: AccountStatus;
}

/** An account as the API shows it. */
export interface LegacyAccount {
  id: string;
  number: string;
  iban: string;
  currency: string;
  ownerRef: string;
  status: AccountStatus;
  bookedMinor: string;
  availableMinor: string;
  overdraftLimitMinor: string;
  openedAt: string;
}

export interface LegacyPosting {
  postingId: string;
  accountId: string;
  amountMinor: string;
  currency: string;
  reference: string;
  bookedAt: string;
  businessDate: string;
  balanceAfterMinor: string;
}

export interface PostingRequest {
  postingId: string;
  accountId: string;
  amountMinor: string;
  currency: string;
  reference: string;
}

export type PostingOutcome =
  | { status: "posted"; postingId: string; balanceAfterMinor: string; bookedAt: string }
  | { status: "rejected"; postingId: string; reason: RejectionReason };

export type PostingAnswer =
  | { kind: "outcome"; outcome: PostingOutcome; replayed: boolean }
  | { kind: "conflict" }
  | { kind: "full" };

export type Change =
  | ({ seq: number; kind: "posting" } & LegacyPosting)
  | {
      seq: number;
      kind: "balance";
      accountId: string;
      iban: string;
      currency: string;
      ownerRef: string;
      status: AccountStatus;
      bookedMinor: string;
      availableMinor: string;
      at: string;
    };

type ChangeWithoutSeq = Change extends infer C ? (C extends Change ? Omit<C, "seq"> : never) : never;

export type PlantBreakInput =
  /** The balance moves by `deltaMinor` with no posting and no change in the feed. */
  | { kind: "balance_changed"; accountId: string; deltaMinor: bigint | string }
  /** A posting is booked (export and balance show it) but the feed never carries it. */
  | {
      kind: "posting_unfed";
      accountId: string;
      amountMinor: bigint | string;
      reference?: string;
      postingId?: string;
    }
  /** A posting the feed carried vanishes from the core, and its amount from the balance. */
  | { kind: "posting_dropped"; postingId: string }
  /** A posting the feed carried once is booked a second time, under a derived id. */
  | { kind: "posting_duplicated"; postingId: string }
  /** A posting the feed carried now has another amount in the core, and the balance follows. */
  | { kind: "posting_amount_changed"; postingId: string; amountMinor: bigint | string };

export interface PlantedBreak {
  kind: PlantBreakInput["kind"];
  accountId: string;
  /** The posting concerned (for a duplicate, the new one); null for a balance change. */
  postingId: string | null;
  /** What the core's balance moved by. */
  deltaMinor: string;
  plantedAt: string;
}

export interface ChangesPage {
  changes: Change[];
  /** Pass it as `after` to read on; the last seq returned, or `after` when none was. */
  nextSeq: number;
  hasMore: boolean;
}

export interface LegacyExport {
  asOf: string;
  businessDate: string;
  /** The last change-feed seq written at or before `asOf`: the feed up to it is what the export shows. */
  lastSeq: number;
  accounts: Array<Omit<LegacyAccount, "overdraftLimitMinor">>;
  /** The postings booked on the business day of `asOf`, up to `asOf`, oldest first. */
  postings: LegacyPosting[];
}

export interface LegacyCoreLimits {
  /** Accounts kept at most; seeding beyond it fails. */
  accountsMax: number;
  /** Postings and rejections kept at most; beyond it new postings are refused with 503. */
  postingsMax: number;
  /** Feed changes kept at most (oldest dropped; reading before them answers 410). */
  changesRetainedMax: number;
}

export class LegacyCoreError extends Error {
  readonly slug: "validation" | "not-found" | "conflict" | "gone" | "capacity";
  constructor(slug: LegacyCoreError["slug"], message: string) {
    super(message);
    this.slug = slug;
  }
}

interface Account {
  id: string;
  number: string;
  iban: string;
  currency: string;
  ownerRef: string;
  status: AccountStatus;
  bookedMinor: bigint;
  availableMinor: bigint;
  overdraftLimitMinor: bigint;
  openedAtMs: number;
}

interface Posting {
  postingId: string;
  accountId: string;
  amountMinor: bigint;
  currency: string;
  reference: string;
  bookedAtMs: number;
  balanceAfterMinor: bigint;
  dropped: boolean;
}

/** A balance movement that is not a posting: an opening balance or a planted change. */
interface Adjustment {
  accountId: string;
  atMs: number;
  bookedDeltaMinor: bigint;
  availableDeltaMinor: bigint;
}

interface Remembered {
  request: PostingRequest;
  outcome: PostingOutcome;
}

const BANK_CODE = "50010517";
const MINOR_PATTERN = /^-?(0|[1-9]\d{0,17})$/;

function minor(name: string, value: bigint | string | undefined, fallback: bigint): bigint {
  if (value === undefined) return fallback;
  if (typeof value === "bigint") return value;
  if (!MINOR_PATTERN.test(value))
    throw new LegacyCoreError("validation", `${name} must be a whole number of minor units`);
  return BigInt(value);
}

function businessDate(atMs: number): string {
  return new Date(atMs).toISOString().slice(0, 10);
}

function samePostingRequest(a: PostingRequest, b: PostingRequest): boolean {
  return (
    a.accountId === b.accountId &&
    BigInt(a.amountMinor) === BigInt(b.amountMinor) &&
    a.currency === b.currency &&
    a.reference === b.reference
  );
}

function accountView(account: Account): LegacyAccount {
  return {
    id: account.id,
    number: account.number,
    iban: account.iban,
    currency: account.currency,
    ownerRef: account.ownerRef,
    status: account.status,
    bookedMinor: account.bookedMinor.toString(),
    availableMinor: account.availableMinor.toString(),
    overdraftLimitMinor: account.overdraftLimitMinor.toString(),
    openedAt: new Date(account.openedAtMs).toISOString(),
  };
}

function postingView(posting: Posting): LegacyPosting {
  return {
    postingId: posting.postingId,
    accountId: posting.accountId,
    amountMinor: posting.amountMinor.toString(),
    currency: posting.currency,
    reference: posting.reference,
    bookedAt: new Date(posting.bookedAtMs).toISOString(),
    businessDate: businessDate(posting.bookedAtMs),
    balanceAfterMinor: posting.balanceAfterMinor.toString(),
  };
}

export class LegacyCore {
  readonly #clock: Clock;
  readonly #limits: LegacyCoreLimits;
  readonly #accounts = new Map<string, Account>();
  /** Every posting ever booked, in booking order, including planted ones. */
  readonly #postings: Posting[] = [];
  readonly #postingsById = new Map<string, Posting>();
  readonly #remembered = new Map<string, Remembered>();
  readonly #adjustments: Adjustment[] = [];
  readonly #changes: Array<{ change: Change; atMs: number }> = [];
  readonly #breaks: PlantedBreak[] = [];
  #lastSeq = 0;
  #silentPostings = 0;

  constructor(options: { clock: Clock; limits: LegacyCoreLimits }) {
    this.#clock = options.clock;
    this.#limits = options.limits;
  }

  // ————— Accounts —————

  seedAccounts(seeds: readonly LegacyAccountSeed[]): LegacyAccount[] {
    if (this.#accounts.size + seeds.length > this.#limits.accountsMax) {
      throw new LegacyCoreError("capacity", `At most ${this.#limits.accountsMax} accounts.`);
    }
    const accounts = seeds.map((seed, index) => this.#newAccount(seed, this.#accounts.size + index + 1));
    const ids = new Set(accounts.map((account) => account.id));
    if (ids.size !== accounts.length || accounts.some((account) => this.#accounts.has(account.id))) {
      throw new LegacyCoreError("conflict", "An account with this id exists already.");
    }
    for (const account of accounts) {
      this.#accounts.set(account.id, account);
      this.#adjustments.push({
        accountId: account.id,
        atMs: account.openedAtMs,
        bookedDeltaMinor: account.bookedMinor,
        availableDeltaMinor: account.availableMinor,
      });
      this.#appendBalanceChange(account);
    }
    return accounts.map(accountView);
  }

  #newAccount(seed: LegacyAccountSeed, ordinal: number): Account {
    if (!/^[A-Z]{3}$/.test(seed.currency))
      throw new LegacyCoreError("validation", "currency must be ISO 4217");
    if (seed.ownerRef.length === 0 || seed.ownerRef.length > 100) {
      throw new LegacyCoreError("validation", "ownerRef must have 1 to 100 characters");
    }
    const id = seed.id ?? `LC${String(ordinal).padStart(8, "0")}`;
    const number = seed.number ?? id.replace(/\D/g, "").padStart(10, "0").slice(-10);
    const iban = seed.iban ?? composeIBAN({ countryCode: "DE", bban: `${BANK_CODE}${number}` });
    if (!iban) throw new LegacyCoreError("validation", "No IBAN can be made from this account number.");
    const bookedMinor = minor("bookedMinor", seed.bookedMinor, 0n);
    return {
      id,
      number,
      iban,
      currency: seed.currency,
      ownerRef: seed.ownerRef,
      status: seed.status ?? "open",
      bookedMinor,
      availableMinor: minor("availableMinor", seed.availableMinor, bookedMinor),
      overdraftLimitMinor: minor("overdraftLimitMinor", seed.overdraftLimitMinor, 0n),
      openedAtMs: this.#clock.now().getTime(),
    };
  }

  accounts(): LegacyAccount[] {
    return [...this.#accounts.values()].map(accountView);
  }

  account(id: string): LegacyAccount | undefined {
    const account = this.#accounts.get(id);
    return account && accountView(account);
  }

  postings(): LegacyPosting[] {
    return this.#postings.filter((posting) => !posting.dropped).map(postingView);
  }

  // ————— Postings —————

  /** Whether a posting with this id was answered already (posted or rejected). */
  hasPosting(postingId: string): boolean {
    return this.#remembered.has(postingId);
  }

  /**
   * Books a posting once per posting id: the same id with the same request answers the first
   * outcome (a rejection included), with another request a conflict.
   */
  post(request: PostingRequest, forcedRejection: RejectionReason | null): PostingAnswer {
    const known = this.#remembered.get(request.postingId);
    if (known) {
      if (!samePostingRequest(known.request, request)) return { kind: "conflict" };
      return { kind: "outcome", outcome: known.outcome, replayed: true };
    }
    if (this.#remembered.size >= this.#limits.postingsMax) return { kind: "full" };
    const amountMinor = BigInt(request.amountMinor);
    const reason = forcedRejection ?? this.#rejection(request, amountMinor);
    const outcome: PostingOutcome =
      reason === null
        ? this.#book(request, amountMinor)
        : { status: "rejected", postingId: request.postingId, reason };
    this.#remembered.set(request.postingId, { request: { ...request }, outcome });
    return { kind: "outcome", outcome, replayed: false };
  }

  #rejection(request: PostingRequest, amountMinor: bigint): RejectionReason | null {
    const account = this.#accounts.get(request.accountId);
    if (!account) return "unknown_account";
    if (account.status === "closed") return "account_closed";
    if (account.currency !== request.currency) return "currency_mismatch";
    if (amountMinor < 0n && account.availableMinor + amountMinor < -account.overdraftLimitMinor) {
      return "insufficient_funds";
    }
    return null;
  }

  #book(request: PostingRequest, amountMinor: bigint): PostingOutcome {
    const account = this.#accounts.get(request.accountId)!;
    const posting = this.#bookPosting(account, request.postingId, amountMinor, request.reference);
    this.#appendChange({ kind: "posting", ...postingView(posting) });
    this.#appendBalanceChange(account);
    return {
      status: "posted",
      postingId: posting.postingId,
      balanceAfterMinor: posting.balanceAfterMinor.toString(),
      bookedAt: new Date(posting.bookedAtMs).toISOString(),
    };
  }

  #bookPosting(account: Account, postingId: string, amountMinor: bigint, reference: string): Posting {
    account.bookedMinor += amountMinor;
    account.availableMinor += amountMinor;
    const posting: Posting = {
      postingId,
      accountId: account.id,
      amountMinor,
      currency: account.currency,
      reference,
      bookedAtMs: this.#clock.now().getTime(),
      balanceAfterMinor: account.bookedMinor,
      dropped: false,
    };
    this.#postings.push(posting);
    this.#postingsById.set(postingId, posting);
    return posting;
  }

  // ————— The change feed —————

  #appendChange(change: ChangeWithoutSeq): void {
    this.#lastSeq += 1;
    this.#changes.push({
      change: { ...change, seq: this.#lastSeq } as Change,
      atMs: this.#clock.now().getTime(),
    });
    if (this.#changes.length > this.#limits.changesRetainedMax) {
      this.#changes.splice(0, this.#changes.length - this.#limits.changesRetainedMax);
    }
  }

  #appendBalanceChange(account: Account): void {
    this.#appendChange({
      kind: "balance",
      accountId: account.id,
      iban: account.iban,
      currency: account.currency,
      ownerRef: account.ownerRef,
      status: account.status,
      bookedMinor: account.bookedMinor.toString(),
      availableMinor: account.availableMinor.toString(),
      at: this.#clock.now().toISOString(),
    });
  }

  /** The changes after `after`, oldest first, at most `limit`. */
  changes(after: number, limit: number): ChangesPage {
    const oldestSeq = this.#changes[0]?.change.seq ?? this.#lastSeq + 1;
    if (after < oldestSeq - 1) {
      throw new LegacyCoreError("gone", `Changes before seq ${oldestSeq} are no longer kept.`);
    }
    // seq is dense and increasing, so the first change after `after` sits at a known index.
    const start = Math.max(0, after + 1 - oldestSeq);
    const changes = this.#changes.slice(start, start + limit).map(({ change }) => change);
    const nextSeq = changes.at(-1)?.seq ?? Math.min(after, this.#lastSeq);
    return { changes, nextSeq, hasMore: nextSeq < this.#lastSeq };
  }

  // ————— The end-of-day export —————

  /** Balances as of `asOfMs` (at most now) and that business day's postings up to it. */
  export(asOfMs: number): LegacyExport {
    const at = Math.min(asOfMs, this.#clock.now().getTime());
    const day = businessDate(at);
    const balances = new Map<string, { booked: bigint; available: bigint }>();
    const add = (accountId: string, booked: bigint, available: bigint) => {
      const balance = balances.get(accountId) ?? { booked: 0n, available: 0n };
      balances.set(accountId, { booked: balance.booked + booked, available: balance.available + available });
    };
    for (const adjustment of this.#adjustments) {
      if (adjustment.atMs <= at)
        add(adjustment.accountId, adjustment.bookedDeltaMinor, adjustment.availableDeltaMinor);
    }
    const postings = this.#postings.filter((posting) => !posting.dropped && posting.bookedAtMs <= at);
    for (const posting of postings) add(posting.accountId, posting.amountMinor, posting.amountMinor);
    const accounts = [...this.#accounts.values()]
      .filter((account) => account.openedAtMs <= at)
      .map((account) => {
        const { overdraftLimitMinor: _, ...view } = accountView(account);
        const balance = balances.get(account.id) ?? { booked: 0n, available: 0n };
        return {
          ...view,
          bookedMinor: balance.booked.toString(),
          availableMinor: balance.available.toString(),
        };
      });
    const lastSeq = this.#changes.findLast(({ atMs }) => atMs <= at)?.change.seq ?? 0;
    return {
      asOf: new Date(at).toISOString(),
      businessDate: day,
      lastSeq,
      accounts,
      postings: postings.filter((posting) => businessDate(posting.bookedAtMs) === day).map(postingView),
    };
  }

  // ————— Planted breaks —————

  breaks(): PlantedBreak[] {
    return [...this.#breaks];
  }

  plantBreak(input: PlantBreakInput): PlantedBreak {
    const planted = this.#plant(input);
    const record = { ...planted, kind: input.kind, plantedAt: this.#clock.now().toISOString() };
    this.#breaks.push(record);
    return { ...record };
  }

  #plant(input: PlantBreakInput): Omit<PlantedBreak, "kind" | "plantedAt"> {
    switch (input.kind) {
      case "balance_changed": {
        const account = this.#knownAccount(input.accountId);
        const deltaMinor = minor("deltaMinor", input.deltaMinor, 0n);
        this.#adjust(account, deltaMinor);
        return { accountId: account.id, postingId: null, deltaMinor: deltaMinor.toString() };
      }
      case "posting_unfed": {
        const account = this.#knownAccount(input.accountId);
        const amountMinor = minor("amountMinor", input.amountMinor, 0n);
        this.#silentPostings += 1;
        const postingId = input.postingId ?? `lcp_silent_${this.#silentPostings}`;
        if (this.#postingsById.has(postingId) || this.#remembered.has(postingId)) {
          throw new LegacyCoreError("conflict", "A posting with this id exists already.");
        }
        this.#bookPosting(account, postingId, amountMinor, input.reference ?? "unfed posting");
        return { accountId: account.id, postingId, deltaMinor: amountMinor.toString() };
      }
      case "posting_dropped": {
        const posting = this.#knownPosting(input.postingId);
        posting.dropped = true;
        this.#moveBalance(this.#knownAccount(posting.accountId), -posting.amountMinor);
        return {
          accountId: posting.accountId,
          postingId: posting.postingId,
          deltaMinor: (-posting.amountMinor).toString(),
        };
      }
      case "posting_duplicated": {
        const posting = this.#knownPosting(input.postingId);
        const account = this.#knownAccount(posting.accountId);
        let copy = 1;
        while (this.#postingsById.has(`${posting.postingId}~dup${copy}`)) copy += 1;
        const postingId = `${posting.postingId}~dup${copy}`;
        this.#bookPosting(account, postingId, posting.amountMinor, posting.reference);
        return { accountId: account.id, postingId, deltaMinor: posting.amountMinor.toString() };
      }
      case "posting_amount_changed": {
        const posting = this.#knownPosting(input.postingId);
        const amountMinor = minor("amountMinor", input.amountMinor, posting.amountMinor);
        const deltaMinor = amountMinor - posting.amountMinor;
        posting.amountMinor = amountMinor;
        this.#moveBalance(this.#knownAccount(posting.accountId), deltaMinor);
        return {
          accountId: posting.accountId,
          postingId: posting.postingId,
          deltaMinor: deltaMinor.toString(),
        };
      }
    }
  }

  /** Moves a balance without a posting, recorded so that exports as of later times show it. */
  #adjust(account: Account, deltaMinor: bigint): void {
    this.#moveBalance(account, deltaMinor);
    this.#adjustments.push({
      accountId: account.id,
      atMs: this.#clock.now().getTime(),
      bookedDeltaMinor: deltaMinor,
      availableDeltaMinor: deltaMinor,
    });
  }

  /** A posting's amount is read from the posting itself by the export, so only the running balance moves. */
  #moveBalance(account: Account, deltaMinor: bigint): void {
    account.bookedMinor += deltaMinor;
    account.availableMinor += deltaMinor;
  }

  #knownAccount(id: string): Account {
    const account = this.#accounts.get(id);
    if (!account) throw new LegacyCoreError("not-found", `No account ${id}.`);
    return account;
  }

  #knownPosting(id: string): Posting {
    const posting = this.#postingsById.get(id);
    if (!posting || posting.dropped) throw new LegacyCoreError("not-found", `No posting ${id}.`);
    return posting;
  }
}

import { assertInvariant } from "../../platform/errors.ts";
import type { AccountKind, AccountStatus } from "./ledger.tables.ts";

/**
 * The pure core of the ledger: given locked account states and a batch of journal entries, decide
 * which entries can be booked and compute their postings and the new balances. No I/O, so the
 * property tests can drive it directly and the repository only persists what it decided.
 */
export interface AccountState {
  id: string;
  kind: AccountKind;
  ownerCustomerId: string | null;
  currency: string;
  status: AccountStatus;
  bookedMinor: bigint;
  heldMinor: bigint;
  overdraftLimitMinor: bigint;
  allowNegative: boolean;
  postingSeq: bigint;
}

export interface Leg {
  accountId: string;
  /** Signed: a credit raises the account's balance, a debit lowers it. */
  amountMinor: bigint;
}

export interface EntryRequest {
  entryId: string;
  kind: string;
  transferId: string | null;
  reference: string | null;
  currency: string;
  legs: Leg[];
  /**
   * When set, this account must be a customer account (not a system one) and, if `customerId` is
   * given, belong to that customer; otherwise the entry is refused as not found.
   */
  requireOwner?: { accountId: string; customerId?: string };
  /** A hold on a debited account released by this very entry (a capture). */
  releasesHeldMinor?: { accountId: string; amountMinor: bigint };
}

export type RejectionReason =
  | "account-not-found"
  | "account-not-active"
  | "currency-mismatch"
  | "insufficient-funds"
  | "same-account";

export type EntryOutcome =
  | { ok: true; entryId: string; postings: PlannedPosting[] }
  | { ok: false; reason: RejectionReason; accountId: string };

export interface PlannedPosting {
  id: string;
  entryId: string;
  accountId: string;
  seq: bigint;
  amountMinor: bigint;
  currency: string;
  balanceAfterMinor: bigint;
}

export function availableMinor(account: AccountState): bigint {
  return account.bookedMinor - account.heldMinor;
}

/** The lowest available balance the account may reach. */
function floorMinor(account: AccountState): bigint | undefined {
  return account.allowNegative ? undefined : -account.overdraftLimitMinor;
}

function checkEntry(
  accounts: ReadonlyMap<string, AccountState>,
  entry: EntryRequest,
): { reason: RejectionReason; accountId: string } | undefined {
  for (const leg of entry.legs) {
    if (!accounts.has(leg.accountId)) return { reason: "account-not-found", accountId: leg.accountId };
  }
  const owner = entry.requireOwner;
  if (owner) {
    const account = accounts.get(owner.accountId);
    const wrongOwner = owner.customerId !== undefined && account?.ownerCustomerId !== owner.customerId;
    if (!account || account.kind === "system" || wrongOwner) {
      return { reason: "account-not-found", accountId: owner.accountId };
    }
  }
  if (new Set(entry.legs.map((leg) => leg.accountId)).size !== entry.legs.length) {
    return { reason: "same-account", accountId: entry.legs[0]?.accountId ?? "" };
  }
  const legAccounts = entry.legs.map((leg) => accounts.get(leg.accountId)!);
  const inactive = legAccounts.find((account) => account.status !== "active");
  if (inactive) return { reason: "account-not-active", accountId: inactive.id };
  const otherCurrency = legAccounts.find((account) => account.currency !== entry.currency);
  if (otherCurrency) return { reason: "currency-mismatch", accountId: otherCurrency.id };
  for (const leg of entry.legs) {
    const account = accounts.get(leg.accountId)!;
    const floor = floorMinor(account);
    const released =
      entry.releasesHeldMinor?.accountId === account.id ? entry.releasesHeldMinor.amountMinor : 0n;
    if (
      leg.amountMinor < 0n &&
      floor !== undefined &&
      availableMinor(account) + released + leg.amountMinor < floor
    ) {
      return { reason: "insufficient-funds", accountId: account.id };
    }
  }
  return undefined;
}

/**
 * Applies the entries in order to `accounts` (mutated: the caller passes its working copy).
 * A refused entry changes nothing; later entries see the balances left by earlier ones.
 */
export function planEntries(
  accounts: Map<string, AccountState>,
  entries: EntryRequest[],
  nextPostingId: () => string,
): EntryOutcome[] {
  return entries.map((entry) => {
    const total = entry.legs.reduce((sum, leg) => sum + leg.amountMinor, 0n);
    assertInvariant(total === 0n, `journal entry ${entry.entryId} does not balance (${total})`);
    assertInvariant(entry.legs.length >= 2, `journal entry ${entry.entryId} has fewer than two legs`);
    assertInvariant(
      entry.legs.every((leg) => leg.amountMinor !== 0n),
      `journal entry ${entry.entryId} has a zero leg`,
    );
    const rejection = checkEntry(accounts, entry);
    if (rejection) return { ok: false, ...rejection };
    const release = entry.releasesHeldMinor;
    if (release) {
      const account = accounts.get(release.accountId)!;
      assertInvariant(account.heldMinor >= release.amountMinor, "hold release exceeds held amount");
      account.heldMinor -= release.amountMinor;
    }
    const postings = entry.legs.map((leg) => {
      const account = accounts.get(leg.accountId)!;
      account.bookedMinor += leg.amountMinor;
      account.postingSeq += 1n;
      return {
        id: nextPostingId(),
        entryId: entry.entryId,
        accountId: account.id,
        seq: account.postingSeq,
        amountMinor: leg.amountMinor,
        currency: entry.currency,
        balanceAfterMinor: account.bookedMinor,
      };
    });
    return { ok: true, entryId: entry.entryId, postings };
  });
}

import { AppError } from "../../platform/errors.ts";
import { toAmountDto } from "../../platform/money.ts";
import type { Account, AccountTransaction, LedgerService } from "../ledger/index.ts";
import { toAccountDto } from "../ledger/index.ts";
import type { LegacyService } from "../legacy/index.ts";
import type { NotificationService } from "../notifications/index.ts";
import type { PayeeService, PaymentHistory, PaymentService } from "../payments/index.ts";

type Dto = Record<string, unknown>;

/**
 * What the change log snapshots, read through the other modules' public faces: each answer is the
 * entity exactly as the customer API shows it. Every read is scoped by the customer, except the
 * owner look-up of an account named by a cash movement (whose event names no customer).
 */
export interface SyncSources {
  accountWithOwner(accountId: string): Promise<{ customerId: string; account: Dto } | undefined>;
  accounts(customerId: string): Promise<Dto[]>;
  /** Newest first, at most `limit`. */
  transactions(customerId: string, accountId: string, limit: number): Promise<Dto[]>;
  transfer(customerId: string, transferId: string): Promise<Dto | undefined>;
  recentTransferIds(customerId: string, limit: number): Promise<string[]>;
  payees(customerId: string): Promise<Dto[]>;
  legacyPayment(customerId: string, paymentId: string): Promise<Dto | undefined>;
  notification(customerId: string, notificationId: string): Promise<Dto | undefined>;
  /** Newest first, at most `limit`. */
  recentNotifications(customerId: string, limit: number): Promise<Dto[]>;
}

export function transactionDto(accountId: string, item: AccountTransaction): Dto {
  return {
    id: item.id,
    accountId,
    bookedAt: item.bookedAt.toISOString(),
    amount: toAmountDto(item.amountMinor, item.currency),
    balanceAfter: toAmountDto(item.balanceAfterMinor, item.currency),
    kind: item.kind,
    reference: item.reference,
    transferId: item.transferId,
  };
}

/** A missing (or someone else's) entity reads as undefined; anything else is a real failure. */
async function orMissing<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (error) {
    if (error instanceof AppError && error.slug === "not-found") return undefined;
    throw error;
  }
}

export function syncSources(options: {
  ledger: LedgerService;
  payments: PaymentService;
  history: PaymentHistory;
  payees: PayeeService;
  legacy: LegacyService;
  notifications: NotificationService;
}): SyncSources {
  const { ledger, payments, history, payees, legacy, notifications } = options;
  return {
    async accountWithOwner(accountId) {
      const account: Account | undefined = await orMissing(ledger.getAccountForStaff(accountId));
      return account ? { customerId: account.ownerCustomerId, account: toAccountDto(account) } : undefined;
    },
    accounts: async (customerId) => (await ledger.listAccounts(customerId)).map(toAccountDto),
    async transactions(customerId, accountId, limit) {
      const page = await orMissing(ledger.history(customerId, accountId, { limit }));
      return (page?.items ?? []).map((item) => transactionDto(accountId, item));
    },
    transfer: async (customerId, transferId) =>
      (await orMissing(payments.getTransfer(customerId, transferId))) as Dto | undefined,
    recentTransferIds: async (customerId, limit) =>
      (await history.recentTransfersOf(customerId, limit)).map((record) => record.id),
    payees: async (customerId) => (await payees.list(customerId)) as unknown as Dto[],
    legacyPayment: async (customerId, paymentId) =>
      (await orMissing(legacy.getPayment(customerId, paymentId))) as Dto | undefined,
    notification: async (customerId, notificationId) =>
      (await notifications.get(customerId, notificationId)) as Dto | undefined,
    recentNotifications: async (customerId, limit) =>
      (await notifications.list(customerId, { limit })).items as unknown as Dto[],
  };
}

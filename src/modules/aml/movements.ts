import type { DomainEvent } from "../../platform/events/event.ts";
import { parseAmount } from "../../platform/money.ts";
import type { MovementFact } from "./rules.ts";

/**
 * What a money event means for monitoring: one leg per customer account it touched. A transfer
 * inside the bank is two legs (out of the payer's account, into the payee's); cash and credits
 * from other banks are one. Pure: the projection resolves whose accounts they are.
 */
export interface MovementLeg {
  transactionId: string;
  kind: MovementFact["kind"];
  direction: MovementFact["direction"];
  accountId: string;
  /** The owner when the event names it; otherwise looked up from the accounts monitoring knows. */
  customerId: string | undefined;
  amountMinor: bigint;
  currency: string;
  counterpartyIban: string | null;
  /** The other leg's account, for a transfer inside the bank. */
  counterpartyAccountId: string | null;
  occurredAtMs: number;
}

export interface AccountOpening {
  accountId: string;
  customerId: string;
  currency: string;
  openedAtMs: number;
}

export const MONEY_EVENT_TYPES = [
  "deposit.completed",
  "withdrawal.completed",
  "transfer.completed",
  "inbound_credit.booked",
] as const;

export function accountOpeningOf(event: DomainEvent): AccountOpening | undefined {
  if (event.type !== "account.opened") return undefined;
  const accountId = text(event.data.accountId);
  const customerId = text(event.data.customerId);
  const currency = text(event.data.currency);
  const openedAtMs = Date.parse(event.occurredAt);
  if (!accountId || !customerId || !currency || !Number.isFinite(openedAtMs)) return undefined;
  return { accountId, customerId, currency, openedAtMs };
}

/** The legs of a money event; empty for anything else or a malformed body. */
export function legsOf(event: DomainEvent): MovementLeg[] {
  const occurredAtMs = Date.parse(event.occurredAt);
  const money = moneyOf(event.data.amount);
  if (!Number.isFinite(occurredAtMs) || !money || money.amountMinor <= 0n) return [];
  const data = event.data;
  const base = { ...money, occurredAtMs, counterpartyIban: null, counterpartyAccountId: null };
  const toAccountId = text(data.toAccountId);
  const fromAccountId = text(data.fromAccountId);
  const customerId = text(data.customerId);
  switch (event.type) {
    case "deposit.completed": {
      const transactionId = text(data.depositId);
      if (!transactionId || !toAccountId) return [];
      return [
        { ...base, transactionId, kind: "deposit", direction: "in", accountId: toAccountId, customerId },
      ];
    }
    case "withdrawal.completed": {
      const transactionId = text(data.withdrawalId);
      if (!transactionId || !fromAccountId) return [];
      return [
        {
          ...base,
          transactionId,
          kind: "withdrawal",
          direction: "out",
          accountId: fromAccountId,
          customerId,
        },
      ];
    }
    case "inbound_credit.booked": {
      const transactionId = text(data.transferId);
      if (!transactionId || !toAccountId) return [];
      // The payer's IBAN, when the rail event carries it (payments may add it later).
      const counterpartyIban = text(data.debtorIban) ?? text(data.fromIban) ?? null;
      return [
        {
          ...base,
          transactionId,
          kind: "inbound_credit",
          direction: "in",
          accountId: toAccountId,
          customerId,
          counterpartyIban,
        },
      ];
    }
    case "transfer.completed":
      return transferLegs(data, base, { fromAccountId, toAccountId, customerId });
    default:
      return [];
  }
}

function transferLegs(
  data: Record<string, unknown>,
  base: Pick<MovementLeg, "amountMinor" | "currency" | "occurredAtMs">,
  ids: {
    fromAccountId?: string | undefined;
    toAccountId?: string | undefined;
    customerId?: string | undefined;
  },
): MovementLeg[] {
  const transactionId = text(data.transferId);
  if (!transactionId || !ids.fromAccountId) return [];
  const legs: MovementLeg[] = [
    {
      ...base,
      transactionId,
      kind: "transfer",
      direction: "out",
      accountId: ids.fromAccountId,
      customerId: ids.customerId,
      counterpartyIban: text(data.toIban) ?? null,
      counterpartyAccountId: ids.toAccountId ?? null,
    },
  ];
  // A payee at another bank has no account here: only the payer's leg is ours to monitor.
  if (ids.toAccountId) {
    legs.push({
      ...base,
      transactionId,
      kind: "transfer",
      direction: "in",
      accountId: ids.toAccountId,
      customerId: undefined,
      counterpartyIban: null,
      counterpartyAccountId: ids.fromAccountId,
    });
  }
  return legs;
}

/** The country of an IBAN is its first two letters (ISO 13616). */
export function ibanCountry(iban: string | null): string | null {
  if (!iban) return null;
  const country = iban.replace(/\s+/g, "").slice(0, 2).toUpperCase();
  return /^[A-Z]{2}$/.test(country) ? country : null;
}

function moneyOf(value: unknown): { amountMinor: bigint; currency: string } | undefined {
  const amount = value as { amount?: unknown; currency?: unknown } | undefined;
  if (typeof amount?.amount !== "string" || typeof amount.currency !== "string") return undefined;
  const parsed = parseAmount(amount.amount, amount.currency);
  return parsed.ok ? parsed.money : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

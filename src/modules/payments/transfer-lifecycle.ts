import { assertInvariant } from "../../platform/errors.ts";
import { type AmountDto, toAmountDto } from "../../platform/money.ts";
import type { TransferRow, TransferStatus } from "./payments.tables.ts";

/** One step of a payment's story, as the customer sees it. */
export interface StatusStep {
  status: TransferStatus;
  /** Why the payment entered this state: our code (`fraud_review`) or the rail's ISO code (`AC04`). */
  reasonCode: string | null;
  at: string;
}

/**
 * The transitions a payment may make. Anything else is a broken invariant: a status report for a
 * payment already settled, say, is answered before it gets here (the callers check the state).
 */
const NEXT: Record<TransferStatus, readonly TransferStatus[]> = {
  received: ["pending_review", "accepted", "settled", "rejected"],
  pending_review: ["received", "accepted", "settled", "rejected"],
  accepted: ["settled", "rejected"],
  settled: ["returned"],
  rejected: [],
  returned: [],
  completed: [],
};

export function canMove(from: TransferStatus, to: TransferStatus): boolean {
  return NEXT[from].includes(to);
}

export function parseHistory(row: Pick<TransferRow, "status_history">): StatusStep[] {
  return row.status_history ? (JSON.parse(row.status_history) as StatusStep[]) : [];
}

/** The history after moving `row` to `to`; asserts the move is allowed. */
export function appendStep(
  row: Pick<TransferRow, "status" | "status_history">,
  to: TransferStatus,
  reasonCode: string | null,
  at: Date,
): string {
  assertInvariant(canMove(row.status, to), `a payment cannot move from ${row.status} to ${to}`);
  return JSON.stringify([...parseHistory(row), { status: to, reasonCode, at: at.toISOString() }]);
}

/** A history of steps that all happened in one transaction (e.g. received → accepted → settled). */
export function historyOf(steps: ReadonlyArray<[TransferStatus, string | null]>, at: Date): string {
  return JSON.stringify(steps.map(([status, reasonCode]) => ({ status, reasonCode, at: at.toISOString() })));
}

export interface TransferDto {
  id: string;
  status: TransferStatus;
  /** The reason code of the current state, when it has one (rejected, returned, pending_review). */
  statusReason: string | null;
  statusHistory: StatusStep[];
  fromAccountId: string;
  toIban: string;
  /** The payee's account is at another bank: the money goes through the payment rail. */
  external: boolean;
  amount: AmountDto;
  reference: string | null;
  createdAt: string;
}

export function transferDto(row: TransferRow): TransferDto {
  const history = parseHistory(row);
  return {
    id: row.id,
    status: row.status,
    statusReason: history.at(-1)?.reasonCode ?? row.rejection_reason,
    statusHistory: history,
    fromAccountId: row.from_account_id!,
    toIban: row.to_iban!,
    external: row.external,
    amount: toAmountDto(BigInt(row.amount_minor), row.currency),
    reference: row.reference,
    createdAt: row.created_at.toISOString(),
  };
}

/** States in which the payment is not final yet: answered 202 rather than 201. */
export function isFinal(status: TransferStatus): boolean {
  return status === "settled" || status === "rejected" || status === "returned" || status === "completed";
}

import type { RequestContext } from "../../platform/context.ts";
import { actorId } from "../../platform/context.ts";
import { inTransaction, type Tx } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { assertInvariant, type ProblemSlug } from "../../platform/errors.ts";
import { appendToOutbox } from "../../platform/events/outbox.ts";
import type {
  FraudCaseOpener,
  HeldPaymentResolution,
  HeldPayments,
  RiskDecision,
} from "../../platform/fraud.ts";
import type { IdempotencyStore, StoredResponse } from "../../platform/idempotency.ts";
import { toAmountDto } from "../../platform/money.ts";
import type { LedgerService } from "../ledger/index.ts";
import type { LimitCandidate, TransferLimitGuard } from "./limits.ts";
import type { PaymentsRepository } from "./payments.repository.ts";
import type { TransferRow, TransferStatus } from "./payments.tables.ts";
import type { RailOutbox } from "./rail/rail-outbox.ts";
import { appendStep, historyOf, transferDto } from "./transfer-lifecycle.ts";

/** A customer transfer that does not book at once: held for review, blocked, or leaving the bank. */
export interface SingleTransfer {
  id: string;
  context: RequestContext;
  scope: string;
  idempotencyKey: string;
  requestHash: string;
  customerId: string;
  fromAccountId: string;
  toIban: string;
  amountMinor: bigint;
  currency: string;
  reference: string | null;
  decision: RiskDecision | undefined;
  /** held: fraud review; blocked: refused by fraud; external: to another bank through the rail. */
  route: "held" | "blocked" | "external";
  external: boolean;
}

export interface PendingTransfersOptions extends ServiceDependencies {
  ledger: LedgerService;
  idempotency: IdempotencyStore;
  limits: TransferLimitGuard;
  repository: PaymentsRepository;
  rail: RailOutbox;
  /** Opens the investigation case of a held payment, in the payment's transaction. */
  cases: () => FraudCaseOpener;
}

/** Reason codes of our own, next to the rail's ISO 20022 ones. */
export const REASON = {
  fraudReview: "fraud_review",
  fraudBlocked: "fraud_blocked",
  releasedAfterReview: "released_after_review",
} as const;

const PROBLEM_DETAIL: Partial<Record<ProblemSlug, string>> = {
  "payment-blocked": "The payment was refused by the bank's fraud checks.",
  "insufficient-funds": "The available balance does not cover this amount.",
  "account-not-active": "One of the accounts is not active.",
  "currency-mismatch": "The amount's currency does not match the accounts' currency.",
  "limit-exceeded":
    "The amount is above a transfer limit of the customer's tier (per transfer, per day or per channel).",
};

/**
 * Transfers that wait between received and settled: a payment held for fraud review (its amount
 * held in the ledger, a case opened), a payment to another bank (held, then sent to the rail), or
 * one refused by fraud. Each is decided in a transaction of its own, off the batch: they are few,
 * and each does more than a booking (a hold, a case, a rail message).
 */
export class PendingTransfers implements HeldPayments {
  readonly #options: PendingTransfersOptions;

  constructor(options: PendingTransfersOptions) {
    this.#options = options;
  }

  /** Records the transfer in its first state(s) and answers as the API will replay it. */
  async submit(transfer: SingleTransfer): Promise<StoredResponse> {
    const { db, idempotency } = this.#options;
    return inTransaction(db, async (tx) => {
      const claim = await idempotency.claim(tx, {
        scope: transfer.scope,
        key: transfer.idempotencyKey,
        requestHash: transfer.requestHash,
        deviceId: transfer.context.deviceId ?? null,
      });
      if (claim.kind === "replay") return claim.response;
      if (claim.kind === "mismatch") return problem(422, "idempotency-key-reused", transfer.id);
      const response = await this.#decide(tx, transfer);
      await idempotency.completeMany(tx, [{ scope: transfer.scope, key: transfer.idempotencyKey, response }]);
      return response;
    });
  }

  async #decide(tx: Tx, transfer: SingleTransfer): Promise<StoredResponse> {
    if (transfer.route === "blocked") {
      return this.#refuse(tx, transfer, REASON.fraudBlocked, "payment-blocked");
    }
    const now = this.#options.clock.now();
    const candidate: LimitCandidate = {
      id: transfer.id,
      customerId: transfer.customerId,
      channel: transfer.context.channel,
      amountMinor: transfer.amountMinor,
      currency: transfer.currency,
    };
    const limits = await this.#options.limits.decide(tx, [candidate], now);
    if (limits.rejected.has(transfer.id)) {
      return this.#refuse(tx, transfer, "limit-exceeded", "limit-exceeded", {
        limit: limits.rejected.get(transfer.id),
      });
    }
    const hold = await this.#options.ledger.placeHold(tx, {
      accountId: transfer.fromAccountId,
      amountMinor: transfer.amountMinor,
      currency: transfer.currency,
      reference: transfer.id,
    });
    if (!hold.ok) {
      const slug = hold.reason === "account-not-found" ? "not-found" : hold.reason;
      return this.#refuse(tx, transfer, hold.reason, slug);
    }
    // The reserved amount counts toward today's limits, like a booked one.
    await this.#options.limits.usageStatement([candidate], limits.day)?.execute(tx);
    const row = await this.#recordHeld(tx, transfer, hold.holdId, now);
    return { statusCode: 202, body: transferDto(row) };
  }

  async #recordHeld(tx: Tx, transfer: SingleTransfer, holdId: string, now: Date): Promise<TransferRow> {
    const held = transfer.route === "held";
    const status: TransferStatus = held ? "pending_review" : "received";
    const steps: Array<[TransferStatus, string | null]> = held
      ? [
          ["received", null],
          ["pending_review", REASON.fraudReview],
        ]
      : [["received", null]];
    const row: TransferRow = {
      ...this.#baseRow(transfer, now),
      status,
      hold_id: holdId,
      status_history: historyOf(steps, now),
    };
    await this.#options.repository.insert(tx, row);
    if (held) {
      assertInvariant(transfer.decision, "a held payment has a fraud decision");
      await this.#options.cases().openForHeldPayment(tx, {
        context: transfer.context,
        customerId: transfer.customerId,
        transferId: transfer.id,
        decision: transfer.decision,
      });
    } else {
      await this.#options.rail.enqueue(tx, row);
    }
    await this.#publish(tx, transfer.context, row, null, status);
    return row;
  }

  async #refuse(
    tx: Tx,
    transfer: SingleTransfer,
    reasonCode: string,
    slug: ProblemSlug,
    extensions: Record<string, unknown> = {},
  ): Promise<StoredResponse> {
    const now = this.#options.clock.now();
    const row: TransferRow = {
      ...this.#baseRow(transfer, now),
      status: "rejected",
      rejection_reason: reasonCode,
      status_history: historyOf(
        [
          ["received", null],
          ["rejected", reasonCode],
        ],
        now,
      ),
    };
    await this.#options.repository.insert(tx, row);
    await appendToOutbox(tx, [this.#event(transfer.context, "transfer.rejected", row)]);
    const status = slug === "not-found" ? 404 : 422;
    return problem(status, slug, transfer.id, extensions);
  }

  #baseRow(transfer: SingleTransfer, now: Date): TransferRow {
    return {
      id: transfer.id,
      kind: "transfer",
      status: "received",
      rejection_reason: null,
      initiator_type: transfer.context.actor.type,
      initiator_id: actorId(transfer.context.actor) ?? "unknown",
      customer_id: transfer.customerId,
      from_account_id: transfer.fromAccountId,
      to_account_id: null,
      to_iban: transfer.toIban,
      amount_minor: transfer.amountMinor,
      currency: transfer.currency,
      reference: transfer.reference,
      journal_entry_id: null,
      channel: transfer.context.channel,
      device_id: transfer.context.deviceId ?? null,
      request_id: transfer.context.requestId,
      created_at: now,
      hold_id: null,
      decision_id: transfer.decision?.id ?? null,
      external: transfer.external,
      status_history: null,
      updated_at: now,
    };
  }

  /** An investigator (or the customer, by step-up) lets a held payment go on. */
  async release(tx: Tx, context: RequestContext, transferId: string): Promise<HeldPaymentResolution> {
    const row = await this.#options.repository.lock(tx, transferId);
    if (row?.status !== "pending_review" || !row.hold_id) return { ok: false, reason: "not-held" };
    if (row.external) {
      const moved = await this.move(tx, context, row, "received", REASON.releasedAfterReview);
      await this.#options.rail.enqueue(tx, moved);
      return { ok: true, status: moved.status };
    }
    const destination = await this.#options.ledger.findByIban(row.to_iban!, tx);
    if (!destination) return this.#rejectHeld(tx, context, row, "account-not-found");
    const outcome = await this.#options.ledger.captureHold(tx, {
      holdId: row.hold_id,
      creditAccountId: destination.id,
      transferId: row.id,
    });
    if (!outcome.ok) {
      // The hold is still placed when the capture is refused; give the money back to the customer.
      return this.#rejectHeld(tx, context, row, outcome.reason);
    }
    const settled = await this.move(tx, context, row, "settled", REASON.releasedAfterReview, {
      journal_entry_id: outcome.entryId,
      to_account_id: destination.id,
    });
    await this.publishCompleted(tx, context, settled);
    return { ok: true, status: "settled" };
  }

  async reject(
    tx: Tx,
    context: RequestContext,
    transferId: string,
    reasonCode: string,
  ): Promise<HeldPaymentResolution> {
    const row = await this.#options.repository.lock(tx, transferId);
    if (row?.status !== "pending_review" || !row.hold_id) return { ok: false, reason: "not-held" };
    await this.#options.ledger.releaseHold(tx, row.hold_id);
    const rejected = await this.move(tx, context, row, "rejected", reasonCode, {
      rejection_reason: reasonCode,
    });
    await appendToOutbox(tx, [this.#event(context, "transfer.rejected", rejected)]);
    return { ok: true, status: "rejected" };
  }

  async #rejectHeld(
    tx: Tx,
    context: RequestContext,
    row: TransferRow,
    reason:
      | "account-not-found"
      | "account-not-active"
      | "currency-mismatch"
      | "insufficient-funds"
      | "same-account",
  ): Promise<HeldPaymentResolution> {
    await this.#options.ledger.releaseHold(tx, row.hold_id!);
    const rejected = await this.move(tx, context, row, "rejected", reason, { rejection_reason: reason });
    await appendToOutbox(tx, [this.#event(context, "transfer.rejected", rejected)]);
    return { ok: false, reason: reason === "same-account" ? "account-not-found" : reason };
  }

  /**
   * Moves a locked transfer to its next state, appends the step to its history and publishes
   * `transfer.status_changed`, in the caller's transaction.
   */
  async move(
    tx: Tx,
    context: RequestContext,
    row: TransferRow,
    to: TransferStatus,
    reasonCode: string | null,
    changes: Partial<TransferRow> = {},
  ): Promise<TransferRow> {
    const now = this.#options.clock.now();
    const next: TransferRow = {
      ...row,
      ...changes,
      status: to,
      status_history: appendStep(row, to, reasonCode, now),
      updated_at: now,
    };
    await this.#options.repository.update(tx, next);
    await this.#publish(tx, context, next, row.status, to, reasonCode);
    return next;
  }

  /** `transfer.completed`: the payment settled; the fraud profile learns from it. */
  async publishCompleted(tx: Tx, context: RequestContext, row: TransferRow): Promise<void> {
    await appendToOutbox(tx, [this.#event(context, "transfer.completed", row)]);
  }

  async #publish(
    tx: Tx,
    context: RequestContext,
    row: TransferRow,
    from: TransferStatus | null,
    to: TransferStatus,
    reasonCode: string | null = null,
  ): Promise<void> {
    const event = this.#options.events.create(context, "transfer.status_changed", row.id, {
      transferId: row.id,
      customerId: row.customer_id,
      from,
      to,
      reasonCode,
      external: row.external,
      amount: toAmountDto(BigInt(row.amount_minor), row.currency),
    });
    await appendToOutbox(tx, [event]);
  }

  #event(context: RequestContext, type: string, row: TransferRow) {
    return this.#options.events.create(context, type, row.id, {
      transferId: row.id,
      fromAccountId: row.from_account_id,
      toAccountId: row.to_account_id,
      toIban: row.to_iban,
      customerId: row.customer_id,
      amount: toAmountDto(BigInt(row.amount_minor), row.currency),
      ...(row.rejection_reason ? { reason: row.rejection_reason } : {}),
    });
  }
}

function problem(
  statusCode: number,
  slug: ProblemSlug,
  transferId: string,
  extensions: Record<string, unknown> = {},
): StoredResponse {
  const detail =
    slug === "not-found"
      ? "No such account."
      : slug === "idempotency-key-reused"
        ? "This Idempotency-Key was already used with a different request."
        : (PROBLEM_DETAIL[slug] ?? slug);
  return {
    statusCode,
    body: { problem: { slug, detail, extensions: { transferId, ...extensions } } },
  };
}

import { actorId, type RequestContext } from "../../../platform/context.ts";
import { inTransaction, type Tx } from "../../../platform/db/database.ts";
import type { ServiceDependencies } from "../../../platform/dependencies.ts";
import { AppError, assertInvariant } from "../../../platform/errors.ts";
import { appendToOutbox } from "../../../platform/events/outbox.ts";
import type {
  FraudCaseOpener,
  HeldPaymentCase,
  HeldPaymentResolution,
  HeldPayments,
} from "../../../platform/fraud.ts";
import { riskQueuePage } from "../../../platform/risk-queue.ts";
import type { StepUpGate } from "../../../platform/step-up.ts";
import type { IdentityService } from "../../identity/index.ts";
import type { LedgerService } from "../../ledger/index.ts";
import { assembleCaseContext, type CaseContext, type CaseContextSources } from "./case-context.ts";
import { type CaseDto, type NoteDto, toCaseDto, toNoteDto } from "./fraud-case.dto.ts";
import type { CaseResolutionAction, FraudCaseMetrics } from "./fraud-case.metrics.ts";
import { FraudCaseRepository } from "./fraud-case.repository.ts";
import type { CaseRow, CaseStatus, NoteAuthorType, NoteRow } from "./fraud-case.tables.ts";

export interface FraudCaseServiceOptions
  extends ServiceDependencies,
    Omit<CaseContextSources, "db" | "repository" | "identity"> {
  /** Payments' side of a case: what releasing or rejecting does to the held payment. */
  heldPayments: HeldPayments;
  identity: CaseContextSources["identity"] &
    Pick<IdentityService, "revokeAllCustomerSessions" | "denyListSessions">;
  ledger: Pick<LedgerService, "freezeCustomerAccounts">;
  stepUp: StepUpGate;
  metrics: FraudCaseMetrics;
  /** A case scored at most this is released when the customer confirms the payment ("it was me"). */
  selfReleaseMaxScore: number;
}

/** The reasons an investigator may give the customer for rejecting a payment (the customer sees them). */
export const REJECTION_REASON_CODES = [
  "suspected_fraud",
  "suspected_scam",
  "payee_not_trusted",
  "customer_not_reachable",
  "unusual_activity",
] as const;
export type RejectionReasonCode = (typeof REJECTION_REASON_CODES)[number];

/** The reason a payment rejected on confirmed fraud carries. */
export const FRAUD_CONFIRMED_REASON = "fraud_confirmed";

export const QUEUE_PAGE_MAX = 200;
export const NOTE_LENGTH_MAX = 2_000;
/** A case takes at most this many notes: every list here is bounded. */
export const NOTES_PER_CASE_MAX = 200;

export interface CasePage {
  items: CaseDto[];
  nextCursor: string | null;
}

export interface CaseActionResult {
  case: CaseDto;
  /** The held payment's status after the action. */
  paymentStatus: string;
  sessionsRevoked: number;
  accountsFrozen: string[];
}

export type CustomerConfirmation =
  | { outcome: "released"; transferId: string; status: string }
  | { outcome: "under_review"; transferId: string; status: "pending_review" };

export interface FraudCaseOpenedEvent extends Record<string, unknown> {
  caseId: string;
  customerId: string;
  transferId: string;
  decisionId: string;
  riskScore: number;
  reasons: string[];
}

export interface FraudCaseDecidedEvent extends Record<string, unknown> {
  caseId: string;
  customerId: string;
  transferId: string;
  statusBefore: CaseStatus;
  statusAfter: CaseStatus;
  resolutionReason: string | null;
}

export interface NotificationRequestedEvent extends Record<string, unknown> {
  customerId: string;
  category: "security";
  template: string;
}

/** How one decision changes a case, and what else it does to the payment and the customer. */
interface Resolution {
  action: CaseResolutionAction;
  status: Exclude<CaseStatus, "open">;
  eventType: string;
  reason: string | null;
  note?: string | undefined;
  apply(tx: Tx, context: RequestContext, row: CaseRow): Promise<Omit<CaseActionResult, "case">>;
}

/**
 * Fraud investigations. A payment held by the decision engine opens a case in the payment's own
 * transaction; investigators work a queue ordered by risk, read the whole cross-channel context in
 * one call, and release, reject or confirm fraud, each in one transaction with the payment's
 * change, its audit record and its event. The customer may confirm a held payment with step-up.
 */
export class FraudCaseService implements FraudCaseOpener {
  readonly #options: FraudCaseServiceOptions;
  readonly #repository: FraudCaseRepository;
  readonly #sources: CaseContextSources;

  constructor(options: FraudCaseServiceOptions) {
    this.#options = options;
    this.#repository = new FraudCaseRepository({ db: options.db });
    this.#sources = { ...options, repository: this.#repository };
  }

  async openForHeldPayment(tx: Tx, held: HeldPaymentCase): Promise<{ caseId: string }> {
    const { ids, clock, events, audit, metrics } = this.#options;
    const { decision } = held;
    assertInvariant(decision.outcome === "hold", "a case is opened for a held payment only");
    const row: CaseRow = {
      id: ids.next("cas"),
      customer_id: held.customerId,
      transfer_id: held.transferId,
      decision_id: decision.id,
      risk_score: decision.score,
      reasons: JSON.stringify(decision.reasons),
      status: "open",
      opened_at: clock.now(),
      customer_confirmed_at: null,
      decided_at: null,
      decided_by: null,
      resolution_reason: null,
    };
    const { id, inserted } = await this.#repository.insertCase(tx, row);
    // The same payment held twice (a retried step) keeps its one case.
    if (!inserted) return { caseId: id };
    const data: FraudCaseOpenedEvent = {
      caseId: id,
      customerId: row.customer_id,
      transferId: row.transfer_id,
      decisionId: row.decision_id,
      riskScore: row.risk_score,
      reasons: decision.reasons,
    };
    await appendToOutbox(tx, [events.create(held.context, "fraud.case_opened", id, data)]);
    await audit.record(tx, held.context, {
      action: "fraud.case_opened",
      subjectId: id,
      details: { transferId: row.transfer_id, riskScore: row.risk_score, reasons: decision.reasons },
    });
    // Counted as the row is written: a payment transaction rolled back after this over-counts by one.
    metrics.caseOpened();
    return { caseId: id };
  }

  /** The investigators' queue: highest risk first, then the oldest. */
  async queue(status: CaseStatus, page: { limit: number; cursor?: string | undefined }): Promise<CasePage> {
    return riskQueuePage({
      page,
      limitMax: QUEUE_PAGE_MAX,
      idPrefix: "cas",
      load: (after, limit) => this.#repository.queuePage(status, after, limit),
      toDto: toCaseDto,
    });
  }

  /** The whole context of one case. Reading it is recorded: staff looked at a customer's data. */
  async context(context: RequestContext, caseId: string): Promise<CaseContext> {
    const row = await this.#existing(caseId);
    await inTransaction(this.#options.db, (tx) =>
      this.#options.audit.record(tx, actingFor(context, row.customer_id), {
        action: "staff.fraud_case_viewed",
        subjectId: row.customer_id,
        details: { caseId },
      }),
    );
    return assembleCaseContext(this.#sources, row);
  }

  /** The payment proceeds. */
  async release(context: RequestContext, caseId: string): Promise<CaseActionResult> {
    return this.#decide(context, caseId, {
      action: "release",
      status: "released",
      eventType: "fraud.case_released",
      reason: null,
      apply: async (tx, acting, row) => ({
        ...NO_SIDE_EFFECTS,
        paymentStatus: await this.#resolve(this.#options.heldPayments.release(tx, acting, row.transfer_id)),
      }),
    });
  }

  /** The hold is released and the payment rejected with a reason the customer sees. */
  async reject(
    context: RequestContext,
    caseId: string,
    input: { reasonCode: RejectionReasonCode; note?: string | undefined },
  ): Promise<CaseActionResult> {
    return this.#decide(context, caseId, {
      action: "reject",
      status: "rejected",
      eventType: "fraud.case_rejected",
      reason: input.reasonCode,
      note: input.note,
      apply: async (tx, acting, row) => ({
        ...NO_SIDE_EFFECTS,
        paymentStatus: await this.#resolve(
          this.#options.heldPayments.reject(tx, acting, row.transfer_id, input.reasonCode),
        ),
      }),
    });
  }

  /**
   * Confirmed fraud: the payment is rejected, every session of the customer ends and every account
   * is frozen, all in the case's transaction, and the customer is notified. The revoked sessions'
   * access tokens are deny-listed right after the commit.
   */
  async confirmFraud(
    context: RequestContext,
    caseId: string,
    input: { note?: string | undefined },
  ): Promise<CaseActionResult> {
    let revoked: string[] = [];
    const result = await this.#decide(context, caseId, {
      action: "confirm_fraud",
      status: "fraud_confirmed",
      eventType: "fraud.case_fraud_confirmed",
      reason: FRAUD_CONFIRMED_REASON,
      note: input.note,
      apply: async (tx, acting, row) => {
        const { heldPayments, identity, ledger, events } = this.#options;
        const paymentStatus = await this.#resolve(
          heldPayments.reject(tx, acting, row.transfer_id, FRAUD_CONFIRMED_REASON),
        );
        revoked = await identity.revokeAllCustomerSessions(tx, acting, row.customer_id, "fraud_confirmed");
        const accountsFrozen = await ledger.freezeCustomerAccounts(
          tx,
          acting,
          row.customer_id,
          "fraud_confirmed",
        );
        const notification: NotificationRequestedEvent = {
          customerId: row.customer_id,
          category: "security",
          template: "fraud_confirmed",
        };
        await appendToOutbox(tx, [
          events.create(acting, "notification.requested", row.customer_id, notification),
        ]);
        return { paymentStatus, sessionsRevoked: revoked.length, accountsFrozen };
      },
    });
    await this.#options.identity.denyListSessions(revoked);
    return result;
  }

  async addNote(context: RequestContext, caseId: string, text: string): Promise<NoteDto> {
    return inTransaction(this.#options.db, async (tx) => {
      const row = await this.#lockOpen(tx, caseId);
      const note = await this.#insertNote(tx, row, context, "staff", text);
      const acting = actingFor(context, row.customer_id);
      await appendToOutbox(tx, [
        this.#options.events.create(acting, "fraud.case_note_added", row.id, {
          caseId: row.id,
          customerId: row.customer_id,
          noteId: note.id,
        }),
      ]);
      await this.#options.audit.record(tx, acting, {
        action: "fraud.case_note_added",
        subjectId: row.id,
        details: { noteId: note.id },
      });
      return toNoteDto(note);
    });
  }

  /**
   * The customer's "it was me", approved with step-up bound to this payment. A case scored at most
   * the self-release limit is released; above it the confirmation is noted for the investigator.
   * Asking again after the answer changes nothing and answers the same.
   */
  async confirmByCustomer(
    context: RequestContext,
    customerId: string,
    transferId: string,
    stepUpProof: string | undefined,
  ): Promise<CustomerConfirmation> {
    const row = await this.#repository.caseOfTransfer(transferId, customerId);
    if (!row) throw new AppError("not-found", "No such held transfer.");
    const answered = await this.#answeredConfirmation(row);
    if (answered) return answered;
    if (row.status !== "open")
      throw new AppError("conflict", "This payment was already decided by the bank.");
    await this.#options.stepUp.require(context, { type: "release_held_transfer", transferId }, stepUpProof);
    if (row.risk_score <= this.#options.selfReleaseMaxScore) return this.#releaseByCustomer(context, row);
    return this.#noteCustomerConfirmation(context, row);
  }

  /** The answer a customer already got for this case, given again on a repeated confirmation. */
  async #answeredConfirmation(row: CaseRow): Promise<CustomerConfirmation | undefined> {
    if (row.status === "released_by_customer") {
      const payment = await this.#options.payments.transfer(row.transfer_id);
      return { outcome: "released", transferId: row.transfer_id, status: payment?.status ?? "accepted" };
    }
    if (row.status === "open" && row.customer_confirmed_at) {
      return { outcome: "under_review", transferId: row.transfer_id, status: "pending_review" };
    }
    return undefined;
  }

  async #releaseByCustomer(context: RequestContext, row: CaseRow): Promise<CustomerConfirmation> {
    const result = await this.#decide(context, row.id, {
      action: "customer_release",
      status: "released_by_customer",
      eventType: "fraud.case_released_by_customer",
      reason: "customer_confirmed",
      apply: async (tx, acting, locked) => {
        await this.#repository.markCustomerConfirmed(tx, locked.id, this.#options.clock.now());
        return {
          ...NO_SIDE_EFFECTS,
          paymentStatus: await this.#resolve(
            this.#options.heldPayments.release(tx, acting, locked.transfer_id),
          ),
        };
      },
    });
    return { outcome: "released", transferId: row.transfer_id, status: result.paymentStatus };
  }

  async #noteCustomerConfirmation(context: RequestContext, row: CaseRow): Promise<CustomerConfirmation> {
    const { db, clock, events, audit } = this.#options;
    await inTransaction(db, async (tx) => {
      const locked = await this.#lockOpen(tx, row.id);
      if (locked.customer_confirmed_at) return;
      await this.#repository.markCustomerConfirmed(tx, locked.id, clock.now());
      await this.#insertNote(
        tx,
        locked,
        context,
        "customer",
        "The customer confirmed this payment with strong authentication.",
      );
      const data = { caseId: locked.id, customerId: locked.customer_id, transferId: locked.transfer_id };
      await appendToOutbox(tx, [events.create(context, "fraud.case_customer_confirmed", locked.id, data)]);
      await audit.record(tx, context, {
        action: "fraud.case_customer_confirmed",
        subjectId: locked.id,
        details: { transferId: locked.transfer_id, riskScore: locked.risk_score },
      });
    });
    return { outcome: "under_review", transferId: row.transfer_id, status: "pending_review" };
  }

  /** Locks an open case, applies the resolution, records the decision, its audit entry and its event. */
  async #decide(context: RequestContext, caseId: string, resolution: Resolution): Promise<CaseActionResult> {
    const { db, clock, events, audit, metrics } = this.#options;
    const decided = await inTransaction(db, async (tx) => {
      const row = await this.#lockOpen(tx, caseId);
      const acting = actingFor(context, row.customer_id);
      const effects = await resolution.apply(tx, acting, row);
      const decision = {
        status: resolution.status,
        decided_at: clock.now(),
        decided_by: actorId(context.actor) ?? null,
        resolution_reason: resolution.reason,
      };
      await this.#repository.saveDecision(tx, row.id, decision);
      if (resolution.note) await this.#insertNote(tx, row, context, "staff", resolution.note);
      const data: FraudCaseDecidedEvent = {
        caseId: row.id,
        customerId: row.customer_id,
        transferId: row.transfer_id,
        statusBefore: row.status,
        statusAfter: decision.status,
        resolutionReason: decision.resolution_reason,
      };
      await appendToOutbox(tx, [events.create(acting, resolution.eventType, row.id, data)]);
      await audit.record(tx, acting, {
        action: resolution.eventType,
        subjectId: row.id,
        details: { ...data, paymentStatus: effects.paymentStatus, accountsFrozen: effects.accountsFrozen },
      });
      return { row: { ...row, ...decision }, effects };
    });
    metrics.caseResolved(resolution.action, decided.row.opened_at, decided.row.decided_at);
    return { case: toCaseDto(decided.row), ...decided.effects };
  }

  async #lockOpen(tx: Tx, caseId: string): Promise<CaseRow> {
    const row = await this.#repository.lockCase(tx, caseId);
    if (!row) throw new AppError("not-found", "No such case.");
    if (row.status !== "open") throw new AppError("conflict", `The case is already ${row.status}.`);
    return row;
  }

  async #existing(caseId: string): Promise<CaseRow> {
    const row = await this.#repository.caseById(caseId);
    if (!row) throw new AppError("not-found", "No such case.");
    return row;
  }

  async #insertNote(
    tx: Tx,
    row: CaseRow,
    context: RequestContext,
    authorType: NoteAuthorType,
    text: string,
  ): Promise<NoteRow> {
    if ((await this.#repository.countNotes(tx, row.id)) >= NOTES_PER_CASE_MAX) {
      throw new AppError("conflict", `A case takes at most ${NOTES_PER_CASE_MAX} notes.`);
    }
    const note: NoteRow = {
      id: this.#options.ids.next("fcn"),
      case_id: row.id,
      author_type: authorType,
      author_id: actorId(context.actor) ?? "unknown",
      text,
      created_at: this.#options.clock.now(),
    };
    await this.#repository.insertNote(tx, note);
    return note;
  }

  /** A payment that cannot be resolved aborts the action: the case stays open, nothing changed. */
  async #resolve(resolution: Promise<HeldPaymentResolution>): Promise<string> {
    const outcome = await resolution;
    if (outcome.ok) return outcome.status;
    if (outcome.reason === "not-held")
      throw new AppError("conflict", "The payment is no longer held for review.");
    throw new AppError(outcome.reason, "The held payment cannot be released as it stands.");
  }
}

const NO_SIDE_EFFECTS = { sessionsRevoked: 0, accountsFrozen: [] as string[] };

/** A staff member's context, marked as acting for the customer in every event and audit record. */
function actingFor(context: RequestContext, customerId: string): RequestContext {
  return context.actor.type === "staff" ? { ...context, onBehalfOf: customerId } : context;
}

import { actorId, type RequestContext } from "../../platform/context.ts";
import { inTransaction, type Tx } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { AppError } from "../../platform/errors.ts";
import { appendToOutbox } from "../../platform/events/outbox.ts";
import { riskQueuePage } from "../../platform/risk-queue.ts";
import type { LedgerService } from "../ledger/index.ts";
import type { AmlMetrics, CaseAction } from "./aml.metrics.ts";
import { AmlRepository } from "./aml.repository.ts";
import { ACTIVE_STATUSES, type CaseRow, type CaseStatus } from "./aml.tables.ts";
import {
  alertDtos,
  assembleComplianceContext,
  CONTEXT_LIMITS,
  type ComplianceCaseContext,
  type ComplianceContextSources,
} from "./case-context.ts";
import {
  type ComplianceCaseDto,
  type ComplianceNoteDto,
  type ReportDto,
  toCaseDto,
  toNoteDto,
  toReportDto,
} from "./compliance-case.dto.ts";
import { buildReport } from "./report.ts";

export interface ComplianceCaseServiceOptions
  extends ServiceDependencies,
    Omit<ComplianceContextSources, "db" | "repository" | "ledger"> {
  ledger: Pick<LedgerService, "listAccounts" | "freezeCustomerAccounts">;
  metrics: AmlMetrics;
}

export const QUEUE_PAGE_MAX = 200;
export const NOTE_LENGTH_MAX = 4_000;
export const NOTES_PER_CASE_MAX = 200;
/** The reason accounts frozen by a compliance case carry (in account.frozen and the audit trail). */
export const AML_FREEZE_REASON = "aml_investigation";

export interface ComplianceCasePage {
  items: ComplianceCaseDto[];
  nextCursor: string | null;
}

export interface ComplianceActionResult {
  case: ComplianceCaseDto;
  accountsFrozen: string[];
}

export interface ComplianceCaseChangedEvent extends Record<string, unknown> {
  caseId: string;
  customerId: string;
  statusBefore: CaseStatus;
  statusAfter: CaseStatus;
}

export interface ReportFiledEvent extends Record<string, unknown> {
  reportId: string;
  caseId: string;
  customerId: string;
  alertsCount: number;
  transactionsCount: number;
}

/** How one action changes a case, checked and applied under the case's row lock. */
interface Action {
  action: CaseAction;
  eventType: string;
  /** Statuses the action may start from. */
  from: readonly CaseStatus[];
  note?: string | undefined;
  apply(
    tx: Tx,
    acting: RequestContext,
    row: CaseRow,
  ): Promise<{ changes: Partial<CaseRow>; accountsFrozen: string[] }>;
}

/**
 * Compliance cases: the queue of AML alerts for `compliance_analyst` (separate from the fraud
 * investigators' queue), the one-call cross-channel context, and the analysts' actions — close as
 * a false positive, escalate, file a suspicious-activity report, freeze the customer's accounts,
 * notes. Each action commits with its audit record and its event in one transaction.
 */
export class ComplianceCaseService {
  readonly #options: ComplianceCaseServiceOptions;
  readonly #repository: AmlRepository;
  readonly #sources: ComplianceContextSources;

  constructor(options: ComplianceCaseServiceOptions) {
    this.#options = options;
    this.#repository = new AmlRepository({ db: options.db });
    this.#sources = { ...options, repository: this.#repository };
  }

  /** The analysts' queue: highest risk first, then the oldest. */
  async queue(
    status: CaseStatus,
    page: { limit: number; cursor?: string | undefined },
  ): Promise<ComplianceCasePage> {
    return riskQueuePage({
      page,
      limitMax: QUEUE_PAGE_MAX,
      idPrefix: "cmc",
      load: (after, limit) => this.#repository.queuePage(status, after, limit),
      toDto: toCaseDto,
    });
  }

  /** The whole context of one case. Reading it is recorded: staff looked at a customer's data. */
  async context(context: RequestContext, caseId: string): Promise<ComplianceCaseContext> {
    const row = await this.#existing(caseId);
    await inTransaction(this.#options.db, (tx) =>
      this.#options.audit.record(tx, actingFor(context, row.customer_id), {
        action: "staff.compliance_case_viewed",
        subjectId: row.customer_id,
        details: { caseId },
      }),
    );
    return assembleComplianceContext(this.#sources, row);
  }

  /** The alerts were not suspicious after all: the case closes, the analyst's reason is kept. */
  async closeAsFalsePositive(
    context: RequestContext,
    caseId: string,
    reason: string,
  ): Promise<ComplianceActionResult> {
    return this.#act(context, caseId, {
      action: "close_false_positive",
      eventType: "aml.case_closed",
      from: ACTIVE_STATUSES,
      note: reason,
      apply: async () => ({
        changes: this.#closing(context, "closed_false_positive", "false_positive"),
        accountsFrozen: [],
      }),
    });
  }

  /** Handed to the senior analyst (the MLRO): the case leaves the open queue for the escalated one. */
  async escalate(context: RequestContext, caseId: string, note?: string): Promise<ComplianceActionResult> {
    return this.#act(context, caseId, {
      action: "escalate",
      eventType: "aml.case_escalated",
      from: ["open"],
      note,
      apply: async () => ({
        changes: {
          status: "escalated",
          escalated_at: this.#options.clock.now(),
          escalated_by: actorId(context.actor) ?? null,
        },
        accountsFrozen: [],
      }),
    });
  }

  /** Every active account of the customer is frozen in the case's transaction; the case stays active. */
  async freeze(context: RequestContext, caseId: string, note?: string): Promise<ComplianceActionResult> {
    return this.#act(context, caseId, {
      action: "freeze",
      eventType: "aml.case_accounts_frozen",
      from: ACTIVE_STATUSES,
      note,
      apply: async (tx, acting, row) => {
        const accountsFrozen = await this.#options.ledger.freezeCustomerAccounts(
          tx,
          acting,
          row.customer_id,
          AML_FREEZE_REASON,
        );
        const now = this.#options.clock.now();
        return {
          changes: { accounts_frozen_at: now, accounts_frozen_by: actorId(context.actor) ?? null },
          accountsFrozen,
        };
      },
    });
  }

  /**
   * Files the suspicious-activity report: the JSON export is built from the case as it stands,
   * stored, and the case closes as reported. The customer and accounts are read first (they are
   * other modules' and the embedded database has one connection); the case is locked after.
   */
  async fileReport(context: RequestContext, caseId: string, narrative: string): Promise<ReportDto> {
    const before = await this.#existing(caseId);
    const [customer, accounts] = await Promise.all([
      this.#options.customers.get(before.customer_id),
      this.#options.ledger.listAccounts(before.customer_id),
    ]);
    const reportId = this.#options.ids.next("sar");
    let report: ReportDto | undefined;
    await this.#act(context, caseId, {
      action: "file_report",
      eventType: "aml.report_filed",
      from: ACTIVE_STATUSES,
      apply: async (tx, _acting, row) => {
        const [alerts, links, transactions] = await Promise.all([
          this.#repository.alertsOfCase(row.id, CONTEXT_LIMITS.alerts, tx),
          this.#repository.alertLinks(row.id, CONTEXT_LIMITS.links, tx),
          this.#repository.transactionsOfCase(row.id, CONTEXT_LIMITS.transactions, tx),
        ]);
        const filedAt = this.#options.clock.now();
        const filedBy = actorId(context.actor) ?? "unknown";
        const changes = { ...this.#closing(context, "reported", "reported"), report_id: reportId };
        const document = buildReport({
          reportId,
          filedAt,
          filedBy: { staffId: filedBy, role: context.actor.type === "staff" ? context.actor.role : null },
          case: toCaseDto({ ...row, ...changes }),
          customer,
          accounts,
          transactions,
          alerts: alertDtos(alerts, links),
          narrative,
        });
        const stored = {
          id: reportId,
          case_id: row.id,
          customer_id: row.customer_id,
          filed_by: filedBy,
          filed_at: filedAt,
        };
        await this.#repository.insertReport(tx, { ...stored, document: JSON.stringify(document) });
        report = toReportDto({ ...stored, document });
        return { changes, accountsFrozen: [] };
      },
    });
    return report!;
  }

  async report(context: RequestContext, reportId: string): Promise<ReportDto> {
    const row = await this.#repository.report(reportId);
    if (!row) throw new AppError("not-found", "No such report.");
    await inTransaction(this.#options.db, (tx) =>
      this.#options.audit.record(tx, actingFor(context, row.customer_id), {
        action: "staff.compliance_report_viewed",
        subjectId: row.id,
        details: { caseId: row.case_id },
      }),
    );
    return toReportDto(row);
  }

  async addNote(context: RequestContext, caseId: string, text: string): Promise<ComplianceNoteDto> {
    return inTransaction(this.#options.db, async (tx) => {
      const row = await this.#lockActive(tx, caseId, ACTIVE_STATUSES);
      const acting = actingFor(context, row.customer_id);
      const note = await this.#insertNote(tx, row, context, text);
      const data = { caseId: row.id, customerId: row.customer_id, noteId: note.id };
      await appendToOutbox(tx, [this.#options.events.create(acting, "aml.case_note_added", row.id, data)]);
      await this.#options.audit.record(tx, acting, {
        action: "aml.case_note_added",
        subjectId: row.id,
        details: { noteId: note.id },
      });
      return note;
    });
  }

  #closing(context: RequestContext, status: CaseStatus, resolution: CaseRow["resolution"]): Partial<CaseRow> {
    return {
      status,
      resolution,
      closed_at: this.#options.clock.now(),
      closed_by: actorId(context.actor) ?? null,
    };
  }

  /** Locks the case, applies the action, records its note, event and audit entry, all in one transaction. */
  async #act(context: RequestContext, caseId: string, action: Action): Promise<ComplianceActionResult> {
    const { db, clock, events, audit, metrics } = this.#options;
    const result = await inTransaction(db, async (tx) => {
      const row = await this.#lockActive(tx, caseId, action.from);
      const acting = actingFor(context, row.customer_id);
      const { changes, accountsFrozen } = await action.apply(tx, acting, row);
      const updated = await this.#repository.updateCase(tx, row.id, { ...changes, updated_at: clock.now() });
      if (action.note) await this.#insertNote(tx, row, context, action.note);
      const data: ComplianceCaseChangedEvent = {
        caseId: row.id,
        customerId: row.customer_id,
        statusBefore: row.status,
        statusAfter: updated.status,
        ...(action.action === "freeze" ? { accountsFrozen } : {}),
        ...(updated.report_id && action.action === "file_report" ? { reportId: updated.report_id } : {}),
        ...(updated.resolution ? { resolution: updated.resolution } : {}),
      };
      await appendToOutbox(tx, [events.create(acting, action.eventType, row.id, data)]);
      await audit.record(tx, acting, { action: action.eventType, subjectId: row.id, details: data });
      return { row: updated, accountsFrozen };
    });
    metrics.acted(action.action, result.row.opened_at, clock.now());
    return { case: toCaseDto(result.row), accountsFrozen: result.accountsFrozen };
  }

  async #lockActive(tx: Tx, caseId: string, from: readonly CaseStatus[]): Promise<CaseRow> {
    const row = await this.#repository.lockCase(tx, caseId);
    if (!row) throw new AppError("not-found", "No such compliance case.");
    if (!from.includes(row.status)) {
      throw new AppError(
        "compliance-case-closed",
        `The case is ${row.status}; this action needs it ${from.join(" or ")}.`,
      );
    }
    return row;
  }

  async #existing(caseId: string): Promise<CaseRow> {
    const row = await this.#repository.caseById(caseId);
    if (!row) throw new AppError("not-found", "No such compliance case.");
    return row;
  }

  async #insertNote(tx: Tx, row: CaseRow, context: RequestContext, text: string): Promise<ComplianceNoteDto> {
    if ((await this.#repository.countNotes(tx, row.id)) >= NOTES_PER_CASE_MAX) {
      throw new AppError("conflict", `A case takes at most ${NOTES_PER_CASE_MAX} notes.`);
    }
    const note = {
      id: this.#options.ids.next("cmn"),
      case_id: row.id,
      author_id: actorId(context.actor) ?? "unknown",
      text,
      created_at: this.#options.clock.now(),
    };
    await this.#repository.insertNote(tx, note);
    return toNoteDto(note);
  }
}

/** A staff member's context, marked as acting for the customer in every event and audit record. */
function actingFor(context: RequestContext, customerId: string): RequestContext {
  return context.actor.type === "staff" ? { ...context, onBehalfOf: customerId } : context;
}

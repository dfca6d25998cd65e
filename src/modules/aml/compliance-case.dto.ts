import { type AmountDto, toAmountDto } from "../../platform/money.ts";
import type { AlertRow, CaseRow, CaseStatus, MovementRow, NoteRow, ReportRow } from "./aml.tables.ts";

/** A compliance case as the back office sees it. */
export interface ComplianceCaseDto {
  id: string;
  customerId: string;
  status: CaseStatus;
  riskScore: number;
  alertsCount: number;
  openedAt: string;
  updatedAt: string;
  escalatedAt: string | null;
  escalatedBy: string | null;
  accountsFrozenAt: string | null;
  accountsFrozenBy: string | null;
  closedAt: string | null;
  closedBy: string | null;
  resolution: "false_positive" | "reported" | null;
  reportId: string | null;
}

export interface AlertDto {
  id: string;
  caseId: string;
  ruleCode: string;
  ruleKind: string;
  ruleSetVersion: number;
  riskScore: number;
  summary: string;
  details: Record<string, unknown>;
  triggersCount: number;
  raisedAt: string;
  lastTriggeredAt: string;
  transactionIds: string[];
}

/** One movement on one of the customer's accounts, as monitoring recorded it. */
export interface MonitoredTransactionDto {
  transactionId: string;
  accountId: string;
  kind: string;
  direction: "in" | "out";
  amount: AmountDto;
  counterpartyIban: string | null;
  counterpartyCountry: string | null;
  ownTransfer: boolean;
  occurredAt: string;
}

export interface ComplianceNoteDto {
  id: string;
  authorId: string;
  text: string;
  createdAt: string;
}

export interface ReportDto {
  id: string;
  caseId: string;
  customerId: string;
  filedBy: string;
  filedAt: string;
  document: Record<string, unknown>;
}

function iso(value: Date | null): string | null {
  return value ? value.toISOString() : null;
}

export function toCaseDto(row: CaseRow): ComplianceCaseDto {
  return {
    id: row.id,
    customerId: row.customer_id,
    status: row.status,
    riskScore: row.risk_score,
    alertsCount: row.alerts_count,
    openedAt: row.opened_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    escalatedAt: iso(row.escalated_at),
    escalatedBy: row.escalated_by,
    accountsFrozenAt: iso(row.accounts_frozen_at),
    accountsFrozenBy: row.accounts_frozen_by,
    closedAt: iso(row.closed_at),
    closedBy: row.closed_by,
    resolution: row.resolution,
    reportId: row.report_id,
  };
}

export function toAlertDto(row: AlertRow, transactionIds: string[]): AlertDto {
  return {
    id: row.id,
    caseId: row.case_id,
    ruleCode: row.rule_code,
    ruleKind: row.rule_kind,
    ruleSetVersion: row.rule_set_version,
    riskScore: row.risk_score,
    summary: row.summary,
    details: row.details,
    triggersCount: row.triggers_count,
    raisedAt: row.raised_at.toISOString(),
    lastTriggeredAt: row.last_triggered_at.toISOString(),
    transactionIds,
  };
}

export function toTransactionDto(row: MovementRow): MonitoredTransactionDto {
  return {
    transactionId: row.transaction_id,
    accountId: row.account_id,
    kind: row.kind,
    direction: row.direction,
    amount: toAmountDto(BigInt(row.amount_minor), row.currency),
    counterpartyIban: row.counterparty_iban,
    counterpartyCountry: row.counterparty_country,
    ownTransfer: row.own_transfer,
    occurredAt: row.occurred_at.toISOString(),
  };
}

export function toNoteDto(row: NoteRow): ComplianceNoteDto {
  return { id: row.id, authorId: row.author_id, text: row.text, createdAt: row.created_at.toISOString() };
}

export function toReportDto(row: ReportRow): ReportDto {
  return {
    id: row.id,
    caseId: row.case_id,
    customerId: row.customer_id,
    filedBy: row.filed_by,
    filedAt: row.filed_at.toISOString(),
    document: row.document,
  };
}

import type { CaseRow, CaseStatus, NoteAuthorType, NoteRow } from "./fraud-case.tables.ts";

/** A case as the back office sees it. */
export interface CaseDto {
  id: string;
  customerId: string;
  transferId: string;
  decisionId: string;
  riskScore: number;
  reasons: string[];
  status: CaseStatus;
  openedAt: string;
  customerConfirmedAt: string | null;
  decidedAt: string | null;
  decidedBy: string | null;
  resolutionReason: string | null;
}

export interface NoteDto {
  id: string;
  authorType: NoteAuthorType;
  authorId: string;
  text: string;
  createdAt: string;
}

export function toCaseDto(row: CaseRow): CaseDto {
  return {
    id: row.id,
    customerId: row.customer_id,
    transferId: row.transfer_id,
    decisionId: row.decision_id,
    riskScore: row.risk_score,
    reasons: JSON.parse(row.reasons) as string[],
    status: row.status,
    openedAt: row.opened_at.toISOString(),
    customerConfirmedAt: row.customer_confirmed_at?.toISOString() ?? null,
    decidedAt: row.decided_at?.toISOString() ?? null,
    decidedBy: row.decided_by,
    resolutionReason: row.resolution_reason,
  };
}

export function toNoteDto(row: NoteRow): NoteDto {
  return {
    id: row.id,
    authorType: row.author_type,
    authorId: row.author_id,
    text: row.text,
    createdAt: row.created_at.toISOString(),
  };
}

/** Values a JSON answer can carry: bigint amounts become decimal strings of minor units. */
export function jsonSafe(value: unknown): unknown {
  if (value === undefined) return null;
  return JSON.parse(
    JSON.stringify(value, (_key, item) => (typeof item === "bigint" ? item.toString() : item)),
  );
}

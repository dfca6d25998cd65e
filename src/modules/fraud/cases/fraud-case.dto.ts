import { AppError } from "../../../platform/errors.ts";
import type { QueueCursor } from "./fraud-case.repository.ts";
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

/** Opaque to clients: base64url of the last case's sort key. */
export function encodeQueueCursor(row: CaseRow): string {
  return Buffer.from(`v1:${row.risk_score}:${row.opened_at.getTime()}:${row.id}`).toString("base64url");
}

export function decodeQueueCursor(cursor: string): QueueCursor {
  const match = /^v1:(\d{1,3}):(\d{1,15}):(cas_[0-9a-f]{32})$/.exec(
    Buffer.from(cursor, "base64url").toString(),
  );
  if (!match) throw new AppError("validation", "cursor is not a cursor this API issued.");
  return { riskScore: Number(match[1]), openedAtMs: Number(match[2]), id: match[3]! };
}

/** Values a JSON answer can carry: bigint amounts become decimal strings of minor units. */
export function jsonSafe(value: unknown): unknown {
  if (value === undefined) return null;
  return JSON.parse(
    JSON.stringify(value, (_key, item) => (typeof item === "bigint" ? item.toString() : item)),
  );
}

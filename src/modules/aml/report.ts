import { customerDto } from "../../platform/customer-context.ts";
import { toAmountDto } from "../../platform/money.ts";
import type { CustomerProfile } from "../customers/index.ts";
import type { Account } from "../ledger/index.ts";
import type { MovementRow } from "./aml.tables.ts";
import { accountDto } from "./case-context.ts";
import type { AlertDto, ComplianceCaseDto } from "./compliance-case.dto.ts";
import { toTransactionDto } from "./compliance-case.dto.ts";

/** The export format's name and version: a receiver switches on it, so it changes only by addition. */
export const REPORT_FORMAT = "omnicore.suspicious-activity-report.v1";

export interface ReportInput {
  reportId: string;
  filedAt: Date;
  filedBy: { staffId: string; role: string | null };
  case: ComplianceCaseDto;
  customer: CustomerProfile | undefined;
  accounts: Account[];
  transactions: MovementRow[];
  alerts: AlertDto[];
  narrative: string;
}

/**
 * The suspicious-activity report as filed: who (the subject and their accounts), what (the
 * transactions and the alerts with their rule codes), why (the analyst's narrative), and who
 * filed it when. Pure, so the stored document is exactly what this function returns.
 */
export function buildReport(input: ReportInput) {
  const transactions = input.transactions.map(toTransactionDto);
  const times = input.transactions.map((row) => row.occurred_at.getTime());
  return {
    format: REPORT_FORMAT,
    reportId: input.reportId,
    caseId: input.case.id,
    filedAt: input.filedAt.toISOString(),
    filedBy: input.filedBy,
    riskScore: input.case.riskScore,
    subject: input.customer
      ? { customerId: input.customer.id, ...customerDto(input.customer) }
      : { customerId: input.case.customerId },
    accounts: input.accounts.map(accountDto),
    activity: {
      from: times.length > 0 ? new Date(Math.min(...times)).toISOString() : null,
      to: times.length > 0 ? new Date(Math.max(...times)).toISOString() : null,
      totals: totalsByCurrency(input.transactions),
    },
    transactions,
    alerts: input.alerts.map((alert) => ({
      alertId: alert.id,
      ruleCode: alert.ruleCode,
      ruleKind: alert.ruleKind,
      ruleSetVersion: alert.ruleSetVersion,
      riskScore: alert.riskScore,
      summary: alert.summary,
      details: alert.details,
      raisedAt: alert.raisedAt,
      transactionIds: alert.transactionIds,
    })),
    narrative: input.narrative,
  };
}

export type SuspiciousActivityReport = ReturnType<typeof buildReport>;

/** Money in and out per currency over the reported transactions, in exact decimal strings. */
function totalsByCurrency(rows: MovementRow[]) {
  const totals = new Map<string, { in: bigint; out: bigint }>();
  for (const row of rows) {
    const total = totals.get(row.currency) ?? { in: 0n, out: 0n };
    total[row.direction] += BigInt(row.amount_minor);
    totals.set(row.currency, total);
  }
  return [...totals.entries()].map(([currency, total]) => ({
    currency,
    in: toAmountDto(total.in, currency),
    out: toAmountDto(total.out, currency),
  }));
}

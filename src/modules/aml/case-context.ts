import {
  type CustomerContext,
  type CustomerContextSources,
  gatherCustomerContext,
} from "../../platform/customer-context.ts";
import { toAmountDto } from "../../platform/money.ts";
import type { Account, LedgerService } from "../ledger/index.ts";
import type { AmlRepository } from "./aml.repository.ts";
import type { AlertRow, CaseRow } from "./aml.tables.ts";
import {
  type AlertDto,
  type ComplianceCaseDto,
  type ComplianceNoteDto,
  type MonitoredTransactionDto,
  toAlertDto,
  toCaseDto,
  toNoteDto,
  toTransactionDto,
} from "./compliance-case.dto.ts";

/** Where each part of a case's context comes from: every other module through its public face. */
export interface ComplianceContextSources extends CustomerContextSources {
  repository: AmlRepository;
  ledger: Pick<LedgerService, "listAccounts">;
}

/** Bounds of each part: the context is one answer, and it must stay small enough to be one. */
export const CONTEXT_LIMITS = {
  alerts: 100,
  links: 2_000,
  transactions: 500,
  earlierCases: 20,
  notes: 200,
} as const;

export interface ComplianceCaseContext {
  case: ComplianceCaseDto;
  alerts: AlertDto[];
  transactions: MonitoredTransactionDto[];
  notes: ComplianceNoteDto[];
  customer: CustomerContext["customer"];
  accounts: Array<ReturnType<typeof accountDto>>;
  channels: CustomerContext["channels"];
  sessions: CustomerContext["sessions"];
  devices: CustomerContext["devices"];
  recentPayments: CustomerContext["recentPayments"];
  payees: CustomerContext["payees"];
  securityEvents: CustomerContext["securityEvents"];
  earlierCases: ComplianceCaseDto[];
}

/** Groups the alert links by alert: which transactions made each alert. */
export function transactionIdsByAlert(links: Array<{ alert_id: string; transaction_id: string }>) {
  const byAlert = new Map<string, string[]>();
  for (const link of links) {
    const ids = byAlert.get(link.alert_id) ?? [];
    if (!ids.includes(link.transaction_id)) ids.push(link.transaction_id);
    byAlert.set(link.alert_id, ids);
  }
  return byAlert;
}

export function alertDtos(alerts: AlertRow[], links: Array<{ alert_id: string; transaction_id: string }>) {
  const byAlert = transactionIdsByAlert(links);
  return alerts.map((alert) => toAlertDto(alert, byAlert.get(alert.id) ?? []));
}

/**
 * Everything an analyst needs to decide one case in one answer: the alerts and the transactions
 * that raised them, the customer and their accounts, how and where they sign in (by channel),
 * their recent payments and payees, the security events and their earlier compliance cases.
 * The parts are independent reads, so they run concurrently.
 */
export async function assembleComplianceContext(
  sources: ComplianceContextSources,
  row: CaseRow,
): Promise<ComplianceCaseContext> {
  const customerId = row.customer_id;
  const { repository } = sources;
  const [alerts, links, transactions, notes, shared, accounts, earlier] = await Promise.all([
    repository.alertsOfCase(row.id, CONTEXT_LIMITS.alerts),
    repository.alertLinks(row.id, CONTEXT_LIMITS.links),
    repository.transactionsOfCase(row.id, CONTEXT_LIMITS.transactions),
    repository.notes(row.id, CONTEXT_LIMITS.notes),
    gatherCustomerContext(sources, customerId),
    sources.ledger.listAccounts(customerId),
    repository.casesOfCustomer(customerId, row.id, CONTEXT_LIMITS.earlierCases),
  ]);
  return {
    case: toCaseDto(row),
    alerts: alertDtos(alerts, links),
    transactions: transactions.map(toTransactionDto),
    notes: notes.map(toNoteDto),
    customer: shared.customer,
    accounts: accounts.map(accountDto),
    channels: shared.channels,
    sessions: shared.sessions,
    devices: shared.devices,
    recentPayments: shared.recentPayments,
    payees: shared.payees,
    securityEvents: shared.securityEvents,
    earlierCases: earlier.map(toCaseDto),
  };
}

/** The ledger's account as the analysts (and the report) see it: amounts as decimal strings. */
export function accountDto(account: Account) {
  return {
    id: account.id,
    iban: account.iban,
    type: account.type,
    currency: account.currency,
    status: account.status,
    booked: toAmountDto(account.bookedMinor, account.currency),
    available: toAmountDto(account.availableMinor, account.currency),
    openedAt: account.createdAt.toISOString(),
  };
}

import { recentSecurityRecords, type SecurityRecord } from "../../platform/audit.ts";
import type { Db } from "../../platform/db/database.ts";
import { toAmountDto } from "../../platform/money.ts";
import type { CustomerProfile, CustomerService } from "../customers/index.ts";
import type { CustomerDeviceRecord, CustomerSessionRecord, IdentityService } from "../identity/index.ts";
import type { Account, LedgerService } from "../ledger/index.ts";
import type { PayeeDto, PayeeService, PaymentHistory, PaymentRecord } from "../payments/index.ts";
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
export interface ComplianceContextSources {
  db: Db;
  repository: AmlRepository;
  customers: Pick<CustomerService, "get">;
  identity: Pick<IdentityService, "recentSessionsOf" | "devicesOf">;
  payments: Pick<PaymentHistory, "recentTransfersOf">;
  payees: Pick<PayeeService, "list">;
  ledger: Pick<LedgerService, "listAccounts">;
}

/** Bounds of each part: the context is one answer, and it must stay small enough to be one. */
export const CONTEXT_LIMITS = {
  alerts: 100,
  links: 2_000,
  transactions: 500,
  sessions: 50,
  payments: 20,
  securityEvents: 50,
  earlierCases: 20,
  notes: 200,
} as const;

export interface ChannelSummary {
  channel: string;
  sessionCount: number;
  deviceIds: string[];
  countries: string[];
  lastSeenAt: string;
}

export interface ComplianceCaseContext {
  case: ComplianceCaseDto;
  alerts: AlertDto[];
  transactions: MonitoredTransactionDto[];
  notes: ComplianceNoteDto[];
  customer: ReturnType<typeof customerDto> | null;
  accounts: Array<ReturnType<typeof accountDto>>;
  channels: ChannelSummary[];
  sessions: Array<ReturnType<typeof sessionDto>>;
  devices: Array<ReturnType<typeof deviceDto>>;
  recentPayments: Array<ReturnType<typeof paymentDto>>;
  payees: PayeeDto[];
  securityEvents: Array<ReturnType<typeof securityEventDto>>;
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
  const [
    alerts,
    links,
    transactions,
    notes,
    customer,
    accounts,
    sessions,
    devices,
    payments,
    payees,
    security,
    earlier,
  ] = await Promise.all([
    repository.alertsOfCase(row.id, CONTEXT_LIMITS.alerts),
    repository.alertLinks(row.id, CONTEXT_LIMITS.links),
    repository.transactionsOfCase(row.id, CONTEXT_LIMITS.transactions),
    repository.notes(row.id, CONTEXT_LIMITS.notes),
    sources.customers.get(customerId),
    sources.ledger.listAccounts(customerId),
    sources.identity.recentSessionsOf(customerId, CONTEXT_LIMITS.sessions),
    sources.identity.devicesOf(customerId),
    sources.payments.recentTransfersOf(customerId, CONTEXT_LIMITS.payments),
    sources.payees.list(customerId),
    recentSecurityRecords(sources.db, customerId, CONTEXT_LIMITS.securityEvents),
    repository.casesOfCustomer(customerId, row.id, CONTEXT_LIMITS.earlierCases),
  ]);
  return {
    case: toCaseDto(row),
    alerts: alertDtos(alerts, links),
    transactions: transactions.map(toTransactionDto),
    notes: notes.map(toNoteDto),
    customer: customer ? customerDto(customer) : null,
    accounts: accounts.map(accountDto),
    channels: channelSummaries(sessions),
    sessions: sessions.map(sessionDto),
    devices: devices.map(deviceDto),
    recentPayments: payments.map(paymentDto),
    payees,
    securityEvents: security.map(securityEventDto),
    earlierCases: earlier.map(toCaseDto),
  };
}

/** Pure: groups sessions (newest first) by channel, keeping the first-seen order of values. */
export function channelSummaries(sessions: CustomerSessionRecord[]): ChannelSummary[] {
  const byChannel = new Map<string, ChannelSummary>();
  for (const session of sessions) {
    const lastSeenAt = session.lastSeenAt.toISOString();
    const summary = byChannel.get(session.channel) ?? {
      channel: session.channel,
      sessionCount: 0,
      deviceIds: [],
      countries: [],
      lastSeenAt,
    };
    summary.sessionCount += 1;
    if (session.deviceId && !summary.deviceIds.includes(session.deviceId))
      summary.deviceIds.push(session.deviceId);
    if (session.country && !summary.countries.includes(session.country))
      summary.countries.push(session.country);
    if (lastSeenAt > summary.lastSeenAt) summary.lastSeenAt = lastSeenAt;
    byChannel.set(session.channel, summary);
  }
  return [...byChannel.values()];
}

export function customerDto(customer: CustomerProfile) {
  const { createdAt, updatedAt: _updatedAt, ...rest } = customer;
  return { ...rest, createdAt: createdAt.toISOString() };
}

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

function paymentDto(payment: PaymentRecord) {
  return {
    ...payment,
    createdAt: payment.createdAt.toISOString(),
    updatedAt: payment.updatedAt?.toISOString() ?? null,
  };
}

function sessionDto(session: CustomerSessionRecord) {
  return {
    ...session,
    createdAt: session.createdAt.toISOString(),
    lastSeenAt: session.lastSeenAt.toISOString(),
    revokedAt: session.revokedAt?.toISOString() ?? null,
  };
}

function deviceDto(device: CustomerDeviceRecord) {
  return {
    ...device,
    firstSeenAt: device.firstSeenAt.toISOString(),
    lastSeenAt: device.lastSeenAt.toISOString(),
  };
}

function securityEventDto(record: SecurityRecord) {
  return { ...record, occurredAt: record.occurredAt.toISOString() };
}

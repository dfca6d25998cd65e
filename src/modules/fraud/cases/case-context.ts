import { recentSecurityRecords, type SecurityRecord } from "../../../platform/audit.ts";
import type { Db } from "../../../platform/db/database.ts";
import type { RiskDecision } from "../../../platform/fraud.ts";
import type { CustomerProfile, CustomerService } from "../../customers/index.ts";
import type { CustomerDeviceRecord, CustomerSessionRecord, IdentityService } from "../../identity/index.ts";
import type { PayeeDto, PayeeService, PaymentHistory, PaymentRecord } from "../../payments/index.ts";
import { type CaseDto, jsonSafe, type NoteDto, toCaseDto, toNoteDto } from "./fraud-case.dto.ts";
import type { FraudCaseRepository } from "./fraud-case.repository.ts";
import type { CaseRow } from "./fraud-case.tables.ts";

/** What the decision engine tells an investigator: the decision and the customer's usual behaviour. */
export interface FraudEngineReads {
  getDecision(decisionId: string): Promise<RiskDecision | undefined>;
  /** The engine's statistics of the customer (usual amounts, payees, devices, countries…). */
  profileSummary(customerId: string): Promise<unknown>;
}

/** Where each part of a case's context comes from: every module through its public face. */
export interface CaseContextSources {
  db: Db;
  repository: FraudCaseRepository;
  customers: Pick<CustomerService, "get">;
  identity: Pick<IdentityService, "recentSessionsOf" | "devicesOf">;
  payments: Pick<PaymentHistory, "transfer" | "recentTransfersOf">;
  payees: Pick<PayeeService, "list">;
  engine: FraudEngineReads;
}

/** Bounds of each part: the context is one answer, and it must stay small enough to be one. */
export const CONTEXT_LIMITS = {
  sessions: 50,
  payments: 20,
  securityEvents: 50,
  earlierCases: 20,
  notes: 200,
} as const;

/** Sessions of one channel, summed up: which devices and countries the customer used it from. */
export interface ChannelSummary {
  channel: string;
  sessionCount: number;
  deviceIds: string[];
  countries: string[];
  lastSeenAt: string;
}

export interface CaseContext {
  case: CaseDto;
  notes: NoteDto[];
  customer: (Omit<CustomerProfile, "createdAt" | "updatedAt"> & { createdAt: string }) | null;
  payment: ReturnType<typeof paymentDto> | null;
  decision: RiskDecision | null;
  channels: ChannelSummary[];
  sessions: Array<ReturnType<typeof sessionDto>>;
  devices: Array<ReturnType<typeof deviceDto>>;
  recentPayments: Array<ReturnType<typeof paymentDto>>;
  payees: PayeeDto[];
  profile: unknown;
  securityEvents: Array<ReturnType<typeof securityEventDto>>;
  earlierCases: CaseDto[];
}

/**
 * Assembles everything an investigator needs to decide one case in one answer: the customer, the
 * held payment and the decision with its reasons, how and where the customer signs in (by
 * channel), their recent payments and payees, the engine's profile, the security events and the
 * customer's earlier cases. The parts are independent reads, so they run concurrently.
 */
export async function assembleCaseContext(sources: CaseContextSources, row: CaseRow): Promise<CaseContext> {
  const customerId = row.customer_id;
  const [
    customer,
    payment,
    decision,
    sessions,
    devices,
    recentPayments,
    payees,
    profile,
    security,
    earlier,
    notes,
  ] = await Promise.all([
    sources.customers.get(customerId),
    sources.payments.transfer(row.transfer_id),
    sources.engine.getDecision(row.decision_id),
    sources.identity.recentSessionsOf(customerId, CONTEXT_LIMITS.sessions),
    sources.identity.devicesOf(customerId),
    sources.payments.recentTransfersOf(customerId, CONTEXT_LIMITS.payments),
    sources.payees.list(customerId),
    sources.engine.profileSummary(customerId),
    recentSecurityRecords(sources.db, customerId, CONTEXT_LIMITS.securityEvents),
    sources.repository.casesOfCustomer(customerId, row.id, CONTEXT_LIMITS.earlierCases),
    sources.repository.notes(row.id, CONTEXT_LIMITS.notes),
  ]);
  return {
    case: toCaseDto(row),
    notes: notes.map(toNoteDto),
    customer: customer ? customerDto(customer) : null,
    payment: payment ? paymentDto(payment) : null,
    decision: decision ? (jsonSafe(decision) as RiskDecision) : null,
    channels: channelSummaries(sessions),
    sessions: sessions.map(sessionDto),
    devices: devices.map(deviceDto),
    recentPayments: recentPayments.map(paymentDto),
    payees,
    profile: jsonSafe(profile),
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

function customerDto(customer: CustomerProfile) {
  const { createdAt, updatedAt: _updatedAt, ...rest } = customer;
  return { ...rest, createdAt: createdAt.toISOString() };
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

import type { CustomerProfile, CustomerService } from "../modules/customers/index.ts";
import type {
  CustomerDeviceRecord,
  CustomerSessionRecord,
  IdentityService,
} from "../modules/identity/index.ts";
import type { PayeeDto, PayeeService, PaymentHistory, PaymentRecord } from "../modules/payments/index.ts";
import { recentSecurityRecords, type SecurityRecord } from "./audit.ts";
import type { Db } from "./db/database.ts";

/**
 * The customer's cross-channel context that a reviewer of a case sees, whichever queue the case
 * is in (fraud investigators, compliance analysts): who the customer is, how and where they sign
 * in, their recent payments and payees, and the security events of the audit trail. It reads the
 * other modules through their public faces only, by type: the composition root passes the services
 * in, so nothing here holds a module at run time, and each case module adds its own parts.
 */

/** Where each part comes from: every module through its public face. */
export interface CustomerContextSources {
  db: Db;
  customers: Pick<CustomerService, "get">;
  identity: Pick<IdentityService, "recentSessionsOf" | "devicesOf">;
  payments: Pick<PaymentHistory, "recentTransfersOf">;
  payees: Pick<PayeeService, "list">;
}

/** Bounds of each part: the context is one answer, and it must stay small enough to be one. */
export const CUSTOMER_CONTEXT_LIMITS = {
  sessions: 50,
  payments: 20,
  securityEvents: 50,
} as const;

/** Sessions of one channel, summed up: which devices and countries the customer used it from. */
export interface ChannelSummary {
  channel: string;
  sessionCount: number;
  deviceIds: string[];
  countries: string[];
  lastSeenAt: string;
}

export interface CustomerContext {
  customer: ReturnType<typeof customerDto> | null;
  channels: ChannelSummary[];
  sessions: Array<ReturnType<typeof sessionDto>>;
  devices: Array<ReturnType<typeof deviceDto>>;
  recentPayments: Array<ReturnType<typeof paymentDto>>;
  payees: PayeeDto[];
  securityEvents: Array<ReturnType<typeof securityEventDto>>;
}

/** The parts are independent reads, so they run concurrently. */
export async function gatherCustomerContext(
  sources: CustomerContextSources,
  customerId: string,
): Promise<CustomerContext> {
  const [customer, sessions, devices, payments, payees, security] = await Promise.all([
    sources.customers.get(customerId),
    sources.identity.recentSessionsOf(customerId, CUSTOMER_CONTEXT_LIMITS.sessions),
    sources.identity.devicesOf(customerId),
    sources.payments.recentTransfersOf(customerId, CUSTOMER_CONTEXT_LIMITS.payments),
    sources.payees.list(customerId),
    recentSecurityRecords(sources.db, customerId, CUSTOMER_CONTEXT_LIMITS.securityEvents),
  ]);
  return {
    customer: customer ? customerDto(customer) : null,
    channels: channelSummaries(sessions),
    sessions: sessions.map(sessionDto),
    devices: devices.map(deviceDto),
    recentPayments: payments.map(paymentDto),
    payees,
    securityEvents: security.map(securityEventDto),
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

/** The profile as the wire carries it: times as ISO strings, without the last-update time. */
export function customerDto(customer: CustomerProfile) {
  const { createdAt, updatedAt: _updatedAt, ...rest } = customer;
  return { ...rest, createdAt: createdAt.toISOString() };
}

export function paymentDto(payment: PaymentRecord) {
  return {
    ...payment,
    createdAt: payment.createdAt.toISOString(),
    updatedAt: payment.updatedAt?.toISOString() ?? null,
  };
}

export function sessionDto(session: CustomerSessionRecord) {
  return {
    ...session,
    createdAt: session.createdAt.toISOString(),
    lastSeenAt: session.lastSeenAt.toISOString(),
    revokedAt: session.revokedAt?.toISOString() ?? null,
  };
}

export function deviceDto(device: CustomerDeviceRecord) {
  return {
    ...device,
    firstSeenAt: device.firstSeenAt.toISOString(),
    lastSeenAt: device.lastSeenAt.toISOString(),
  };
}

export function securityEventDto(record: SecurityRecord) {
  return { ...record, occurredAt: record.occurredAt.toISOString() };
}

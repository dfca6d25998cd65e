import type { DomainEvent } from "../../platform/events/event.ts";
import type { NewChange } from "./sync.repository.ts";
import type { SyncSources } from "./sync.sources.ts";

/** The consumer name keys the inbox: renaming it would apply every retained event again. */
export const CHANGE_LOG_CONSUMER = "sync.change_log";

/** Published (through the outbox) when entries were appended; every node's streams wake on it. */
export const SYNC_CHANGED_EVENT = "sync.changed";

/** Security events the customer is shown as alerts; routine ones (a normal sign-in) are not. */
const ALERT_KINDS = new Set([
  "login_failed",
  "login_denied",
  "new_device",
  "lockout_warning",
  "factor_locked",
  "factor_unlocked",
  "mfa_enrolled",
  "mfa_removed",
  "recovery_codes_generated",
  "recovery_code_used",
  "passkey_registered",
  "passkey_removed",
  "password_changed",
  "email_changed",
  "session_revoked",
  "refresh_token_reused",
  "anomaly_detected",
  "device_removed",
]);

export const CHANGE_LOG_EVENT_TYPES = [
  "account.opened",
  "account.frozen",
  "deposit.completed",
  "withdrawal.completed",
  "transfer.completed",
  "transfer.rejected",
  "transfer.status_changed",
  "inbound_credit.booked",
  "payee.created",
  "payee.deleted",
  "notification.created",
  "notification.read",
  "legacy_payment.status_changed",
  ...[...ALERT_KINDS].map((kind) => `security.${kind}`),
];

/** Transactions of one movement are found among this many newest postings of its account. */
const MOVEMENT_POSTINGS_SCAN = 20;

function text(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

/**
 * What an event changed for which customers, as snapshots read now through the public faces (so
 * a redelivered or late event still records the current state). Pure routing plus reads; the
 * handler appends the result in its transaction.
 */
export async function changesFor(event: DomainEvent, sources: SyncSources): Promise<NewChange[]> {
  const data = event.data;
  const type = event.type;
  if (type.startsWith("security.")) return securityAlert(event);
  if (type === "account.opened" || type === "account.frozen")
    return accountChanges(sources, text(data.accountId), undefined);
  if (type === "deposit.completed")
    return accountChanges(sources, text(data.toAccountId), text(data.depositId));
  if (type === "withdrawal.completed")
    return accountChanges(sources, text(data.fromAccountId), text(data.withdrawalId));
  if (type === "inbound_credit.booked")
    return accountChanges(sources, text(data.toAccountId), text(data.transferId));
  if (type === "transfer.completed") {
    const transferId = text(data.transferId);
    return [
      ...(await transferChange(sources, text(data.customerId), transferId)),
      ...(await accountChanges(sources, text(data.fromAccountId), transferId)),
      ...(await accountChanges(sources, text(data.toAccountId), transferId)),
    ];
  }
  if (type === "transfer.rejected" || type === "transfer.status_changed") {
    const changes = await transferChange(sources, text(data.customerId), text(data.transferId));
    // A hold placed or released changes the available balance of the paying account.
    const fromAccountId = text(changes[0]?.data.fromAccountId) ?? text(data.fromAccountId);
    return [...changes, ...(await accountChanges(sources, fromAccountId, undefined))];
  }
  if (type === "payee.created" || type === "payee.deleted") return payeeChanges(event, sources);
  if (type === "notification.created")
    return notificationChanges(sources, data.customerId, [data.notificationId]);
  if (type === "notification.read")
    return notificationChanges(sources, data.customerId, data.notificationIds);
  if (type === "legacy_payment.status_changed") {
    const customerId = text(data.customerId);
    const paymentId = text(data.paymentId);
    if (!customerId || !paymentId) return [];
    const payment = await sources.legacyPayment(customerId, paymentId);
    return payment
      ? [{ customerId, kind: "legacy_payment", op: "upsert", entityId: paymentId, data: payment }]
      : [];
  }
  return [];
}

async function accountChanges(
  sources: SyncSources,
  accountId: string | undefined,
  movementId: string | undefined,
): Promise<NewChange[]> {
  if (!accountId) return [];
  const owned = await sources.accountWithOwner(accountId);
  if (!owned) return [];
  const { customerId } = owned;
  const changes: NewChange[] = [
    { customerId, kind: "account", op: "upsert", entityId: accountId, data: owned.account },
  ];
  if (!movementId) return changes;
  const postings = await sources.transactions(customerId, accountId, MOVEMENT_POSTINGS_SCAN);
  for (const posting of postings.filter((item) => item.transferId === movementId).reverse()) {
    changes.push({
      customerId,
      kind: "transaction",
      op: "upsert",
      entityId: String(posting.id),
      data: posting,
    });
  }
  return changes;
}

async function transferChange(
  sources: SyncSources,
  customerId: string | undefined,
  transferId: string | undefined,
): Promise<NewChange[]> {
  if (!customerId || !transferId) return [];
  const transfer = await sources.transfer(customerId, transferId);
  return transfer
    ? [{ customerId, kind: "transfer", op: "upsert", entityId: transferId, data: transfer }]
    : [];
}

async function payeeChanges(event: DomainEvent, sources: SyncSources): Promise<NewChange[]> {
  const customerId = text(event.data.customerId);
  const payeeId = text(event.data.payeeId);
  if (!customerId || !payeeId) return [];
  if (event.type === "payee.deleted")
    return [{ customerId, kind: "payee", op: "remove", entityId: payeeId, data: { id: payeeId } }];
  const payee = (await sources.payees(customerId)).find((candidate) => candidate.id === payeeId);
  return payee ? [{ customerId, kind: "payee", op: "upsert", entityId: payeeId, data: payee }] : [];
}

/** The notification as the centre shows it now (rendered, with its read state). */
async function notificationChanges(
  sources: SyncSources,
  customerIdValue: unknown,
  idsValue: unknown,
): Promise<NewChange[]> {
  const customerId = text(customerIdValue);
  if (!customerId || !Array.isArray(idsValue)) return [];
  const changes: NewChange[] = [];
  for (const id of idsValue.map(text)) {
    const found = id ? await sources.notification(customerId, id) : undefined;
    if (id && found)
      changes.push({ customerId, kind: "notification", op: "upsert", entityId: id, data: found });
  }
  return changes;
}

/** The customer's own security events; the IP address stays with the fraud team and the audit trail. */
function securityAlert(event: DomainEvent): NewChange[] {
  const data = event.data;
  const customerId = text(data.subjectId);
  const kind = text(data.kind) ?? event.type.slice("security.".length);
  if (data.subjectType !== "customer" || !customerId || !ALERT_KINDS.has(kind)) return [];
  return [
    {
      customerId,
      kind: "security_alert",
      op: "upsert",
      entityId: event.id,
      data: {
        id: event.id,
        kind,
        occurredAt: event.occurredAt,
        channel: event.channel,
        deviceId: event.deviceId,
        country: data.country ?? null,
        location: data.location ?? null,
      },
    },
  ];
}

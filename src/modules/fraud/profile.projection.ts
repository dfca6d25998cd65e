import type { Clock } from "../../platform/clock.ts";
import type { Tx } from "../../platform/db/database.ts";
import type { DomainEvent } from "../../platform/events/event.ts";
import { parseAmount } from "../../platform/money.ts";
import type { FraudRepository } from "./fraud.repository.ts";
import type { StoredRiskInput } from "./fraud.tables.ts";
import { applyObservation, type ProfileObservation } from "./profile.ts";

/** The consumer name keys the inbox: renaming it would apply every retained event again. */
export const PROFILE_CONSUMER = "fraud.profile";

const CREDENTIAL_EVENTS = new Set([
  "security.password_changed",
  "security.mfa_enrolled",
  "security.mfa_removed",
  "security.passkey_registered",
  "security.passkey_removed",
]);
/** customer.updated fields that change how the bank reaches the customer (and resets factors). */
const CONTACT_FIELDS = new Set(["email", "phone", "address"]);

export const PROFILE_EVENT_TYPES = [
  "transfer.completed",
  "payee.created",
  "customer.updated",
  "security.login_succeeded",
  "security.new_device",
  "security.email_changed",
  ...CREDENTIAL_EVENTS,
];

export interface ProfileUpdate {
  customerId: string;
  observation: ProfileObservation;
}

/**
 * What an event teaches about whom, or undefined when it is about nobody we profile (a staff
 * login, a cash deposit). `decision` is this module's own decision about the transfer, when there
 * is one: completed-transfer events carry no payee IBAN and no country, the decision's input does.
 */
export function profileUpdateFor(event: DomainEvent, decision?: StoredRiskInput): ProfileUpdate | undefined {
  const atMs = Date.parse(event.occurredAt);
  if (!Number.isFinite(atMs)) return undefined;
  const data = event.data;
  if (event.type === "transfer.completed") return paymentUpdate(event, atMs, decision);
  if (event.type === "payee.created") {
    const customerId = text(data.customerId);
    return customerId
      ? { customerId, observation: { kind: "payee_added", atMs, iban: text(data.iban) } }
      : undefined;
  }
  if (event.type === "customer.updated") {
    const customerId = text(data.customerId);
    const fields = Array.isArray(data.fields) ? data.fields : [];
    if (!customerId || !fields.some((field) => CONTACT_FIELDS.has(String(field)))) return undefined;
    return { customerId, observation: { kind: "contact_changed", atMs } };
  }
  return securityUpdate(event, atMs);
}

function paymentUpdate(
  event: DomainEvent,
  atMs: number,
  decision?: StoredRiskInput,
): ProfileUpdate | undefined {
  const data = event.data;
  const customerId = text(data.customerId);
  const amount = data.amount as { amount?: unknown; currency?: unknown } | undefined;
  if (!customerId || typeof amount?.amount !== "string" || typeof amount.currency !== "string")
    return undefined;
  const parsed = parseAmount(amount.amount, amount.currency);
  if (!parsed.ok) return undefined;
  return {
    customerId,
    observation: {
      kind: "payment",
      atMs,
      channel: event.channel,
      currency: parsed.money.currency,
      amountMinor: Number(parsed.money.amountMinor),
      toIban: text(data.toIban) ?? decision?.toIban,
      deviceId: event.deviceId ?? undefined,
      country: decision?.country ?? undefined,
    },
  };
}

function securityUpdate(event: DomainEvent, atMs: number): ProfileUpdate | undefined {
  const data = event.data;
  if (data.subjectType !== "customer") return undefined;
  const customerId = text(data.subjectId);
  if (!customerId) return undefined;
  const country = text(data.country);
  const deviceId = event.deviceId ?? undefined;
  const details = (data.details ?? {}) as Record<string, unknown>;
  if (event.type === "security.login_succeeded") {
    const strong = details.strength !== undefined && details.strength !== "password";
    return {
      customerId,
      observation: { kind: "login", atMs, sessionId: text(data.sessionId), deviceId, country, strong },
    };
  }
  if (event.type === "security.new_device") {
    if (!deviceId) return undefined;
    return {
      customerId,
      observation: { kind: "device_seen", atMs, deviceId, trusted: details.trusted === true, country },
    };
  }
  if (event.type === "security.email_changed")
    return { customerId, observation: { kind: "contact_changed", atMs } };
  if (CREDENTIAL_EVENTS.has(event.type))
    return { customerId, observation: { kind: "credential_changed", atMs } };
  return undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** The inbox-backed handler: one event, one locked read-modify-write of one profile. */
export function profileHandler(options: { repository: FraudRepository; clock: Clock }) {
  return async (tx: Tx, event: DomainEvent): Promise<void> => {
    const transferId = event.type === "transfer.completed" ? text(event.data.transferId) : undefined;
    const decision = transferId ? await options.repository.decisionForTransfer(tx, transferId) : undefined;
    const update = profileUpdateFor(event, decision?.input);
    if (!update) return;
    const now = options.clock.now();
    const profile = await options.repository.lockProfile(tx, update.customerId, now);
    await options.repository.saveProfile(
      tx,
      update.customerId,
      applyObservation(profile, update.observation),
      now,
    );
  };
}

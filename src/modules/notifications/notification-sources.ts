import type { DomainEvent } from "../../platform/events/event.ts";
import { isTemplateCode, TEMPLATES, type TemplateCode, templateParams } from "./templates.ts";

/**
 * Which events become notifications, for whom and with which template. Pure, except that a
 * payment received needs the payee, which only the ledger knows (passed in as `payeeOf`).
 */

export const SECURITY_ALERT_KINDS = [
  "new_device",
  "password_changed",
  "email_changed",
  "factor_locked",
] as const;

export const SOURCE_EVENT_TYPES = [
  "notification.requested",
  ...SECURITY_ALERT_KINDS.map((kind) => `security.${kind}`),
  "transfer.completed",
  "inbound_credit.booked",
];

export interface NotificationIntent {
  customerId: string;
  template: TemplateCode;
  params: Record<string, string>;
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

function amountParams(data: Record<string, unknown>): Record<string, string> {
  const amount = data.amount as { amount?: unknown; currency?: unknown } | undefined;
  return templateParams("payment_received", { amount: amount?.amount, currency: amount?.currency });
}

export async function intentOf(
  event: DomainEvent,
  payeeOf: (iban: string) => Promise<string | undefined>,
): Promise<NotificationIntent | undefined> {
  const { data } = event;
  if (event.type === "notification.requested") {
    const customerId = text(data.customerId) ?? event.aggregateId;
    if (!isTemplateCode(data.template) || !customerId.startsWith("cus_")) return undefined;
    return { customerId, template: data.template, params: templateParams(data.template, data) };
  }
  if (event.type.startsWith("security.")) {
    const kind = event.type.slice("security.".length);
    const customerId = text(data.subjectId);
    if (data.subjectType !== "customer" || !customerId || !isTemplateCode(kind)) return undefined;
    if (TEMPLATES[kind].category !== "security") return undefined;
    return { customerId, template: kind, params: templateParams(kind, data) };
  }
  if (event.type === "inbound_credit.booked") {
    const customerId = text(data.customerId);
    return customerId ? { customerId, template: "payment_received", params: amountParams(data) } : undefined;
  }
  if (event.type === "transfer.completed") {
    const iban = text(data.toIban);
    const payee = iban ? await payeeOf(iban) : undefined;
    // Between one's own accounts there is nothing to tell.
    if (!payee || payee === data.customerId) return undefined;
    return { customerId: payee, template: "payment_received", params: amountParams(data) };
  }
  return undefined;
}

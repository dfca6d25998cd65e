import { randomBytes } from "node:crypto";
import type { App } from "../../src/app.ts";
import type { ProfileSummary } from "../../src/modules/fraud/index.ts";
import type { Channel, RequestContext } from "../../src/platform/context.ts";
import type { DomainEvent } from "../../src/platform/events/event.ts";
import { appendToOutbox } from "../../src/platform/events/outbox.ts";
import type { PaymentRiskInput } from "../../src/platform/fraud.ts";
import { toAmountDto } from "../../src/platform/money.ts";
import { waitFor } from "../platform/wait.ts";

/**
 * Shared steps of the fraud engine tests: contexts and payment inputs as the payment service
 * builds them, and completed-transfer events as it publishes them (through the outbox and the
 * relay, so the profile learns from them exactly as in production).
 */

export function hex(bytes = 16): string {
  return randomBytes(bytes).toString("hex");
}

export function fakeId(prefix: string): string {
  return `${prefix}_${hex()}`;
}

export interface Where {
  channel?: Channel;
  deviceId?: string | undefined;
  country?: string | undefined;
  sessionId?: string;
}

export function customerContext(customerId: string, where: Where = {}): RequestContext {
  return {
    requestId: `req-${hex(4)}`,
    channel: where.channel ?? "mobile",
    deviceId: where.deviceId,
    actor: { type: "customer", id: customerId, sessionId: where.sessionId ?? fakeId("ses") },
    origin: { ip: "192.0.2.10", country: where.country },
  };
}

export function riskInput(
  customerId: string,
  payment: { toIban: string; amountMinor: bigint; currency?: string; external?: boolean },
  where: Where = {},
): PaymentRiskInput {
  return {
    context: customerContext(customerId, where),
    customerId,
    transferId: fakeId("trf"),
    fromAccountId: fakeId("acc"),
    toIban: payment.toIban,
    amountMinor: payment.amountMinor,
    currency: payment.currency ?? "EUR",
    external: payment.external ?? false,
  };
}

/** The `transfer.completed` event the payment service publishes for a booked transfer. */
export function completedEvent(app: App, input: PaymentRiskInput): DomainEvent {
  const { context } = input;
  return {
    id: fakeId("evt"),
    type: "transfer.completed",
    occurredAt: app.clock.now().toISOString(),
    aggregateId: input.transferId,
    channel: context.channel,
    deviceId: context.deviceId ?? null,
    actorType: context.actor.type,
    actorId: input.customerId,
    onBehalfOf: null,
    requestId: context.requestId,
    data: {
      transferId: input.transferId,
      fromAccountId: input.fromAccountId,
      toAccountId: null,
      customerId: input.customerId,
      amount: toAmountDto(input.amountMinor, input.currency),
    },
  };
}

export async function publish(app: App, events: DomainEvent[]): Promise<void> {
  await app.database.db.transaction().execute((tx) => appendToOutbox(tx, events));
}

export async function profileOf(app: App, customerId: string): Promise<ProfileSummary> {
  return app.services.fraud.profileSummary(customerId);
}

export async function waitForProfile(
  app: App,
  customerId: string,
  holds: (profile: ProfileSummary) => boolean,
  what = "profile",
): Promise<ProfileSummary> {
  let last: ProfileSummary | undefined;
  await waitFor(
    async () => {
      last = await profileOf(app, customerId);
      return holds(last);
    },
    400,
    25,
    what,
  );
  return last!;
}

/**
 * A payment that happened: decided by the engine (as the payment service asks before booking),
 * then completed; resolves once the profile has learned it.
 */
export async function pastPayment(app: App, input: PaymentRiskInput): Promise<void> {
  const before = (await profileOf(app, input.customerId)).paymentsCount;
  await app.services.fraud.assessPayment(input);
  await publish(app, [completedEvent(app, input)]);
  await waitForProfile(app, input.customerId, (profile) => profile.paymentsCount > before, "payment learned");
}

/** A security event as identity publishes it (`security.<kind>`), for a customer. */
export function securityEvent(
  app: App,
  customerId: string,
  kind: string,
  where: Where & { details?: Record<string, unknown> } = {},
): DomainEvent {
  return {
    id: fakeId("evt"),
    type: `security.${kind}`,
    occurredAt: app.clock.now().toISOString(),
    aggregateId: customerId,
    channel: where.channel ?? "mobile",
    deviceId: where.deviceId ?? null,
    actorType: "customer",
    actorId: customerId,
    onBehalfOf: null,
    requestId: `req-${hex(4)}`,
    data: {
      kind,
      subjectType: "customer",
      subjectId: customerId,
      sessionId: where.sessionId ?? null,
      ip: "192.0.2.10",
      country: where.country ?? null,
      location: null,
      details: where.details ?? {},
    },
  };
}

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

import { randomBytes } from "node:crypto";
import { expect } from "vitest";
import type { App } from "../../src/app.ts";
import type { AlertDto, ComplianceCaseContext, ComplianceCaseDto } from "../../src/modules/aml/index.ts";
import { MONITORING_CONSUMER, MONITORING_EVENT_TYPES } from "../../src/modules/aml/monitoring.projection.ts";
import type { Clock } from "../../src/platform/clock.ts";
import type { DomainEvent } from "../../src/platform/events/event.ts";
import { appendToOutbox, outboxLag } from "../../src/platform/events/outbox.ts";
import { toAmountDto } from "../../src/platform/money.ts";
import { staffRequest } from "../helpers/staff-request.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";
import { adminTokens, createStaff, PASSWORD, staffLogin, type Tokens } from "../identity.helpers.ts";
import {
  type AccountDto,
  type Amount,
  deposit,
  eur,
  newCustomer,
  openAccount,
  transfer,
} from "../payments/payments.helpers.ts";
import { waitFor } from "../platform/wait.ts";

/**
 * Shared steps of the AML suites. Money moves through the HTTP API (teller deposits, customer
 * transfers) and reaches the monitoring as in production: the outbox, the relay, the in-process
 * bus and the dispatcher's inbox. Events no HTTP route can make here (a payment to another bank
 * without a rail) are written to the outbox exactly as the payments module writes them.
 */

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

export function createAmlApp(clock?: Clock): Promise<TestApp> {
  return createTestApp({
    ...(clock ? { clock } : {}),
    env: {
      OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "100000",
      OMNICORE_RATE_LIMIT_AUTH_PER_ACCOUNT_PER_MINUTE: "100000",
    },
  });
}

export interface SignedInStaff {
  email: string;
  token: string;
}

const admins = new WeakMap<App, Tokens>();

/** A staff user of `role` signed in on branch; `signInAgain` after the clock moved past the token. */
export async function staff(app: App, role: string): Promise<SignedInStaff> {
  let admin = admins.get(app);
  if (!admin) {
    admin = await adminTokens(app);
    admins.set(app, admin);
  }
  const user = await createStaff(app, admin, role);
  return { email: user.email, token: (await staffLogin(app, user.email, PASSWORD, BRANCH)).accessToken };
}

const BRANCH = { "x-channel": "branch" };

export async function signInAgain(app: App, user: SignedInStaff): Promise<void> {
  user.token = (await staffLogin(app, user.email, PASSWORD, BRANCH)).accessToken;
}

export interface Holder {
  customerId: string;
  token: string;
  account: AccountDto;
}

export async function holder(app: App): Promise<Holder> {
  const customer = await newCustomer(app);
  const account = await openAccount(app, customer.token);
  return { customerId: customer.customerId, token: customer.token, account };
}

/**
 * Waits until every committed money event was handled by the monitoring: published (the outbox
 * drained) is not enough on NATS, where delivery to the consumer is asynchronous.
 */
export async function settle(app: App): Promise<void> {
  const db = app.database.db;
  await waitFor(
    async () => (await outboxLag(db, app.clock.now())).pending === 0,
    800,
    25,
    "the outbox drained",
  );
  await waitFor(
    async () => {
      const rows = await db.selectFrom("platform_outbox").select("events").execute();
      const wanted = rows
        .flatMap(
          (row) => (typeof row.events === "string" ? JSON.parse(row.events) : row.events) as DomainEvent[],
        )
        .filter((event) => MONITORING_EVENT_TYPES.includes(event.type))
        .map((event) => event.id);
      if (wanted.length === 0) return true;
      const handled = await db
        .selectFrom("platform_inbox")
        .select("event_id")
        .where("consumer", "=", MONITORING_CONSUMER)
        .where("event_id", "in", wanted)
        .execute();
      return handled.length === new Set(wanted).size;
    },
    800,
    25,
    "the monitoring handled every money event",
  );
}

export async function depositAll(app: App, tellerToken: string, accountId: string, amounts: string[]) {
  for (const amount of amounts) await deposit(app, tellerToken, accountId, eur(amount));
  await settle(app);
}

export async function pay(app: App, from: Holder, toIban: string, amount: string) {
  const made = await transfer(app, from.token, {
    fromAccountId: from.account.id,
    toIban,
    amount: eur(amount),
  });
  await settle(app);
  return made;
}

export { staffRequest };

export async function queue(
  app: App,
  token: string,
  query = "?limit=200",
): Promise<{ items: ComplianceCaseDto[]; nextCursor: string | null }> {
  const response = await staffRequest(app, token, "GET", `/v1/staff/compliance/cases${query}`);
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
}

/** The customer's active case from the queue (open or escalated), or undefined. */
export async function caseOf(
  app: App,
  token: string,
  customerId: string,
): Promise<ComplianceCaseDto | undefined> {
  for (const status of ["open", "escalated"]) {
    const { items } = await queue(app, token, `?status=${status}&limit=200`);
    const found = items.find((item) => item.customerId === customerId);
    if (found) return found;
  }
  return undefined;
}

export async function contextOf(app: App, token: string, caseId: string): Promise<ComplianceCaseContext> {
  const response = await staffRequest(app, token, "GET", `/v1/staff/compliance/cases/${caseId}`);
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
}

/** The rule codes of the customer's active case, in the order they were raised (empty without one). */
export async function alertCodes(app: App, token: string, customerId: string): Promise<string[]> {
  const found = await caseOf(app, token, customerId);
  if (!found) return [];
  return (await contextOf(app, token, found.id)).alerts.map((alert: AlertDto) => alert.ruleCode);
}

export function fakeId(prefix: string): string {
  return `${prefix}_${randomBytes(16).toString("hex")}`;
}

/** A payment to another bank as payments publishes it when it settles (`transfer.completed`). */
export function externalTransferEvent(
  app: App,
  from: Holder,
  payment: { toIban: string; amount: Amount },
): DomainEvent {
  const transferId = fakeId("trf");
  const [whole, fraction = ""] = payment.amount.amount.split(".");
  const amountMinor = BigInt(`${whole}${fraction.padEnd(2, "0")}`);
  return {
    id: fakeId("evt"),
    type: "transfer.completed",
    occurredAt: app.clock.now().toISOString(),
    aggregateId: transferId,
    channel: "mobile",
    deviceId: null,
    actorType: "customer",
    actorId: from.customerId,
    onBehalfOf: null,
    requestId: `req-${randomBytes(4).toString("hex")}`,
    data: {
      transferId,
      fromAccountId: from.account.id,
      toAccountId: null,
      toIban: payment.toIban,
      customerId: from.customerId,
      amount: toAmountDto(amountMinor, payment.amount.currency),
    },
  };
}

export async function publish(app: App, events: DomainEvent[]): Promise<void> {
  await app.database.db.transaction().execute((tx) => appendToOutbox(tx, events));
  await settle(app);
}

/** An IBAN of Iran (on the default high-risk list) and one of Germany (not on it). */
export const IRANIAN_IBAN = "IR062960000000100324200001";
export const GERMAN_IBAN = "DE89370400440532013000";

/** Opens a compliance case for a fresh customer with one alert of the high-risk jurisdiction rule. */
export async function caseWithAlert(
  app: App,
  analystToken: string,
): Promise<{ holder: Holder; caseId: string }> {
  const subject = await holder(app);
  await publish(app, [externalTransferEvent(app, subject, { toIban: IRANIAN_IBAN, amount: eur("250.00") })]);
  const found = await caseOf(app, analystToken, subject.customerId);
  if (!found) throw new Error(`no compliance case for ${subject.customerId}`);
  return { holder: subject, caseId: found.id };
}

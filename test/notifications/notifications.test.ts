import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type MessagingProviderSimulator,
  startMessagingProviderSimulator,
} from "../../simulators/messaging-provider/server.ts";
import {
  type PushProviderSimulator,
  startPushProviderSimulator,
} from "../../simulators/push-provider/server.ts";
import { render } from "../../src/modules/notifications/index.ts";
import { systemContext } from "../../src/platform/context.ts";
import { inTransaction } from "../../src/platform/db/database.ts";
import { type DomainEvent, eventFactory } from "../../src/platform/events/event.ts";
import { appendToOutbox } from "../../src/platform/events/outbox.ts";
import { uuidV7Ids } from "../../src/platform/ids.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";
import { bearer, expectProblem } from "../identity.helpers.ts";
import {
  type Customer,
  deposit,
  eur,
  newCustomer,
  newStaff,
  openAccount,
  transferRequest,
} from "../payments/payments.helpers.ts";
import { waitFor } from "../platform/wait.ts";
import { syncPage, waitForEntry } from "../sync/sync.helpers.ts";

/**
 * Notifications end to end: events become notifications in the centre, deliveries go to the push
 * and messaging simulators per preferences, with retries, give-up, token deactivation and BOLA.
 */

const ATTEMPTS_MAX = 4;
let app: TestApp;
let push: PushProviderSimulator;
let messaging: MessagingProviderSimulator;

interface NotificationDto {
  id: string;
  category: string;
  template: string;
  title: string;
  body: string;
  read: boolean;
}
interface DeliveryRow {
  id: string;
  channel: string;
  status: string;
  reason: string | null;
  attempts: number;
  push_token_id: string | null;
}

beforeAll(async () => {
  push = await startPushProviderSimulator({ latencyScale: 0, onError: () => undefined });
  messaging = await startMessagingProviderSimulator({ latencyScale: 0, onError: () => undefined });
  app = await createTestApp({
    env: {
      OMNICORE_PUSH_URL: push.url,
      OMNICORE_EMAIL_URL: messaging.url,
      OMNICORE_SMS_URL: messaging.url,
      OMNICORE_NOTIFICATIONS_SENDER_INTERVAL_MS: "20",
      OMNICORE_NOTIFICATIONS_RETRY_BACKOFF_MAX_MS: "40",
      OMNICORE_NOTIFICATIONS_ATTEMPTS_MAX: String(ATTEMPTS_MAX),
      OMNICORE_CONNECTOR_BREAKER_FAILURES_MAX: "100",
      OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "10000",
      OMNICORE_RATE_LIMIT_AUTH_PER_ACCOUNT_PER_MINUTE: "10000",
    },
  });
});

afterAll(async () => {
  await app?.destroy();
  await push?.close();
  await messaging?.close();
});

const events = () => eventFactory({ ids: uuidV7Ids, clock: app.clock });

async function publish(event: DomainEvent): Promise<void> {
  await inTransaction(app.database.db, (tx) => appendToOutbox(tx, [event]));
}

function requested(customerId: string, template: string, extra: Record<string, unknown> = {}): DomainEvent {
  return events().create(systemContext("test"), "notification.requested", customerId, {
    customerId,
    category: "payments",
    template,
    ...extra,
  });
}

async function registerToken(customer: Customer, token: string): Promise<string> {
  const response = await app.http.inject({
    method: "POST",
    url: "/v1/notifications/push-tokens",
    headers: bearer(customer.token),
    payload: { token, platform: "ios" },
  });
  expect(response.statusCode, response.body).toBe(201);
  const body = response.json<{ id: string; tokenHint: string }>();
  expect(response.body).not.toContain(token);
  expect(body.tokenHint).toBe(`…${token.slice(-4)}`);
  return body.id;
}

async function centre(customer: Customer) {
  const response = await app.http.inject({
    method: "GET",
    url: "/v1/notifications",
    headers: bearer(customer.token),
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<{ items: NotificationDto[]; unreadCount: number; nextCursor: string | null }>();
}

async function deliveries(customerId: string): Promise<DeliveryRow[]> {
  return app.database.db
    .selectFrom("notifications_deliveries")
    .selectAll()
    .where("customer_id", "=", customerId)
    .orderBy("channel")
    .execute() as Promise<DeliveryRow[]>;
}

async function attempts(deliveryId: string) {
  return app.database.db
    .selectFrom("notifications_delivery_attempts")
    .selectAll()
    .where("delivery_id", "=", deliveryId)
    .orderBy("attempt")
    .execute() as Promise<Array<{ attempt: number; outcome: string; failure_code: string | null }>>;
}

async function settled(customerId: string, count: number): Promise<DeliveryRow[]> {
  let rows: DeliveryRow[] = [];
  await waitFor(
    async () => {
      rows = await deliveries(customerId);
      return rows.length >= count && rows.every((row) => row.status !== "pending");
    },
    400,
    25,
    "deliveries settled",
  );
  return rows;
}

async function setPreferences(customer: Customer, preferences: object[]) {
  return app.http.inject({
    method: "PUT",
    url: "/v1/notifications/preferences",
    headers: bearer(customer.token),
    payload: { preferences },
  });
}

function pushesTo(token: string) {
  return push.deliveries().filter((delivery) => delivery.token === token);
}

describe("delivery of a notification.requested event", () => {
  it("creates one notification for an event delivered twice, sent by push and e-mail once each, and escapes", async () => {
    const customer = await newCustomer(app);
    const token = `tok-once-${customer.customerId}`;
    await registerToken(customer, token);
    const event = requested(customer.customerId, "legacy_payment_rejected", {
      paymentId: "lpm_1",
      reasonCode: "<b>AC04</b>",
    });
    await publish(event);
    await publish(event);
    const rows = await settled(customer.customerId, 3);
    expect(rows.map((row) => [row.channel, row.status, row.reason])).toEqual([
      ["email", "delivered", null],
      ["push", "delivered", null],
      ["sms", "skipped", "opted_out"],
    ]);
    const { items, unreadCount } = await centre(customer);
    expect(items).toHaveLength(1);
    expect(unreadCount).toBe(1);
    expect(items[0]!.body).toContain("&lt;b&gt;AC04&lt;/b&gt;");
    expect(items[0]!.body).not.toContain("<b>");
    const pushes = pushesTo(token);
    expect(pushes).toHaveLength(1);
    expect(pushes[0]!.title).toBe("Payment rejected");
    expect(messaging.messages().filter((message) => message.to === customer.email)).toHaveLength(1);
  });

  it("sends security alerts by SMS too, in the customer's language", async () => {
    const customer = await newCustomer(app);
    const patched = await app.http.inject({
      method: "PATCH",
      url: "/v1/customers/me",
      headers: bearer(customer.token),
      payload: { phone: "+4915112345678", preferredLanguage: "de-DE" },
    });
    expect(patched.statusCode, patched.body).toBe(200);
    await publish(
      events().create(systemContext("test"), "security.password_changed", customer.customerId, {
        kind: "password_changed",
        subjectType: "customer",
        subjectId: customer.customerId,
        sessionId: null,
        ip: null,
        country: null,
        location: null,
        details: {},
      }),
    );
    const rows = await settled(customer.customerId, 3);
    expect(rows.map((row) => [row.channel, row.status, row.reason])).toEqual([
      ["email", "delivered", null],
      ["push", "skipped", "no_push_token"],
      ["sms", "delivered", null],
    ]);
    const sms = messaging.messages().filter((message) => message.to === "+4915112345678");
    expect(sms).toHaveLength(1);
    expect(sms[0]!.text).toContain("Passwort geändert");
    expect((await centre(customer)).items[0]!.title).toBe("Passwort geändert");
  });

  it("tells the payee of a transfer that money arrived", async () => {
    const payer = await newCustomer(app);
    const payee = await newCustomer(app);
    const teller = await newStaff(app, "teller");
    const from = await openAccount(app, payer.token);
    const to = await openAccount(app, payee.token);
    await deposit(app, teller.token, from.id, eur("50.00"));
    const response = await transferRequest(app, payer.token, {
      fromAccountId: from.id,
      toIban: to.iban,
      amount: eur("12.50"),
    });
    expect(response.statusCode, response.body).toBe(201);
    await waitFor(async () => (await centre(payee)).items.length === 1, 400, 25, "payment_received");
    const [item] = (await centre(payee)).items;
    expect(item!.template).toBe("payment_received");
    expect(item!.body).toBe("You received 12.50 EUR.");
    expect((await centre(payer)).items).toHaveLength(0);
  });
});

describe("preferences", () => {
  it("does not deliver a switched-off category but still lists it in the centre", async () => {
    const customer = await newCustomer(app);
    const token = `tok-off-${customer.customerId}`;
    await registerToken(customer, token);
    const response = await setPreferences(customer, [
      { category: "payments", channel: "push", enabled: false },
      { category: "payments", channel: "email", enabled: false },
    ]);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json<{ preferences: { payments: object } }>().preferences.payments).toEqual({
      push: false,
      email: false,
      sms: false,
    });
    await publish(requested(customer.customerId, "payment_received", { amount: "1.00", currency: "EUR" }));
    const rows = await settled(customer.customerId, 3);
    expect(rows.every((row) => row.status === "skipped" && row.reason === "opted_out")).toBe(true);
    expect((await centre(customer)).items).toHaveLength(1);
    expect(pushesTo(token)).toHaveLength(0);
  });

  it("refuses to switch security alerts off on every channel, and keeps one channel on", async () => {
    const customer = await newCustomer(app);
    const off = (channel: string) => ({ category: "security", channel, enabled: false });
    expectProblem(
      await setPreferences(customer, [off("push"), off("email"), off("sms")]),
      422,
      "security-alerts-required",
    );
    expect((await setPreferences(customer, [off("email"), off("sms")])).statusCode).toBe(200);
    expectProblem(await setPreferences(customer, [off("push")]), 422, "security-alerts-required");
    const read = await app.http.inject({
      method: "GET",
      url: "/v1/notifications/preferences",
      headers: bearer(customer.token),
    });
    expect(read.json<{ preferences: { security: object } }>().preferences.security).toEqual({
      push: true,
      email: false,
      sms: false,
    });
  });
});

describe("retries, give-up and unregistered tokens", () => {
  it("retries through an outage of the push provider and delivers once", async () => {
    const customer = await newCustomer(app);
    const token = `tok-outage-${customer.customerId}`;
    await registerToken(customer, token);
    await setPreferences(customer, [{ category: "payments", channel: "email", enabled: false }]);
    push.controls({ failNextRequests: 2 });
    await publish(requested(customer.customerId, "welcome"));
    const rows = await settled(customer.customerId, 3);
    const pushed = rows.find((row) => row.channel === "push")!;
    expect(pushed.status).toBe("delivered");
    expect((await attempts(pushed.id)).map((attempt) => attempt.outcome)).toEqual([
      "retry",
      "retry",
      "delivered",
    ]);
    expect(pushesTo(token)).toHaveLength(1);
  });

  it("gives up after the maximum number of attempts and records each one", async () => {
    const customer = await newCustomer(app);
    await registerToken(customer, `tok-down-${customer.customerId}`);
    push.controls({ down: true });
    try {
      await publish(requested(customer.customerId, "welcome"));
      const rows = await settled(customer.customerId, 3);
      const pushed = rows.find((row) => row.channel === "push")!;
      expect([pushed.status, pushed.reason, pushed.attempts]).toEqual([
        "failed",
        "attempts_exhausted",
        ATTEMPTS_MAX,
      ]);
      const log = await attempts(pushed.id);
      expect(log.map((attempt) => attempt.outcome)).toEqual([
        ...Array(ATTEMPTS_MAX - 1).fill("retry"),
        "failed",
      ]);
      expect(log.every((attempt) => attempt.failure_code === "unavailable")).toBe(true);
    } finally {
      push.controls({ down: false });
    }
  });

  it("deactivates a token the provider reports as unregistered", async () => {
    const customer = await newCustomer(app);
    const token = `tok-gone-${customer.customerId}`;
    const tokenId = await registerToken(customer, token);
    push.unregister(token);
    await publish(requested(customer.customerId, "welcome"));
    const rows = await settled(customer.customerId, 3);
    expect(rows.find((row) => row.channel === "push")!.reason).toBe("token_unregistered");
    const stored = await app.database.db
      .selectFrom("notifications_push_tokens")
      .select(["active", "deactivated_reason"])
      .where("id", "=", tokenId)
      .executeTakeFirstOrThrow();
    expect(stored).toEqual({ active: false, deactivated_reason: "unregistered" });
    // The next notification finds no active token.
    await publish(requested(customer.customerId, "welcome"));
    await waitFor(async () =>
      (await deliveries(customer.customerId)).some((row) => row.reason === "no_push_token"),
    );
  });
});

describe("the notification centre", () => {
  it("marks one and then all notifications read, and answers 404 for another customer's", async () => {
    const alice = await newCustomer(app);
    const bob = await newCustomer(app);
    for (const template of ["welcome", "password_changed", "welcome"]) {
      await publish(requested(alice.customerId, template));
    }
    await waitFor(async () => (await centre(alice)).items.length === 3, 400, 25, "three notifications");
    const { items } = await centre(alice);
    expect(items[0]!.id > items[2]!.id).toBe(true);
    const theirs = await app.http.inject({
      method: "POST",
      url: `/v1/notifications/${items[0]!.id}/read`,
      headers: bearer(bob.token),
    });
    expectProblem(theirs, 404, "not-found");
    expect((await centre(alice)).unreadCount).toBe(3);
    const own = await app.http.inject({
      method: "POST",
      url: `/v1/notifications/${items[0]!.id}/read`,
      headers: bearer(alice.token),
    });
    expect(own.statusCode, own.body).toBe(200);
    expect(own.json<NotificationDto>().read).toBe(true);
    expect((await centre(alice)).unreadCount).toBe(2);
    const all = await app.http.inject({
      method: "POST",
      url: "/v1/notifications/read-all",
      headers: bearer(alice.token),
    });
    expect(all.json()).toEqual({ markedCount: 2 });
    expect((await centre(alice)).unreadCount).toBe(0);
    const paged = await app.http.inject({
      method: "GET",
      url: "/v1/notifications?limit=2",
      headers: bearer(alice.token),
    });
    expect(paged.json<{ items: unknown[]; nextCursor: string }>().nextCursor).toBe(items[1]!.id);
  });

  it("lets only the owner remove a push token", async () => {
    const alice = await newCustomer(app);
    const bob = await newCustomer(app);
    const tokenId = await registerToken(alice, `tok-bola-${alice.customerId}`);
    const url = `/v1/notifications/push-tokens/${tokenId}`;
    expectProblem(
      await app.http.inject({ method: "DELETE", url, headers: bearer(bob.token) }),
      404,
      "not-found",
    );
    expect((await app.http.inject({ method: "DELETE", url, headers: bearer(alice.token) })).statusCode).toBe(
      204,
    );
  });
});

describe("offers and the sync log", () => {
  it("lets an agent send a catalogue offer to the centre and the sync log, with no delivery while marketing is off", async () => {
    const alice = await newCustomer(app);
    const agent = await newStaff(app, "agent", "contact_centre");
    const teller = await newStaff(app, "teller");
    const url = `/v1/staff/customers/${alice.customerId}/offers`;
    const offer = (token: string, body: Record<string, unknown>, to = url) =>
      app.http.inject({ method: "POST", url: to, headers: bearer(token), payload: body });
    expectProblem(await offer(teller.token, { offerCode: "savings_boost" }), 403, "forbidden");
    expectProblem(await offer(alice.token, { offerCode: "savings_boost" }), 401, "unauthorized");
    expectProblem(await offer(agent.token, { offerCode: "free text <b>" }), 400, "validation");
    const nobody = `/v1/staff/customers/cus_${"0f".repeat(16)}/offers`;
    expectProblem(await offer(agent.token, { offerCode: "savings_boost" }, nobody), 404, "not-found");
    const sent = await offer(agent.token, { offerCode: "savings_boost" });
    expect(sent.statusCode, sent.body).toBe(202);

    await waitFor(async () => (await centre(alice)).items.length === 1, 400, 25, "the offer in the centre");
    const [item] = (await centre(alice)).items;
    expect(item).toMatchObject({ category: "marketing", template: "offer_savings_boost", read: false });
    const snapshot = await syncPage(app, alice.token);
    const start = snapshot.nextCursor;
    expect(
      snapshot.items.filter((entry) => entry.kind === "notification").map((entry) => entry.data.id),
    ).toEqual([item!.id]);
    // Marketing is off by default on every channel: the centre has it, no provider is called.
    const rows = await deliveries(alice.customerId);
    expect(rows.map((row) => [row.channel, row.status, row.reason])).toEqual(
      expect.arrayContaining([
        ["push", "skipped", "opted_out"],
        ["email", "skipped", "opted_out"],
        ["sms", "skipped", "opted_out"],
      ]),
    );

    // Reading it on one device reaches the others through the log.
    await app.http.inject({
      method: "POST",
      url: `/v1/notifications/${item!.id}/read`,
      headers: bearer(alice.token),
    });
    const log = await waitForEntry(
      app,
      alice.token,
      start,
      (entry) => entry.kind === "notification" && entry.data.id === item!.id && entry.data.read === true,
      "the read state in the log",
    );
    expect(log.filter((entry) => entry.kind === "notification")).toHaveLength(1);
  });
});

describe("templates", () => {
  it("render in the language asked for and escape every parameter", () => {
    expect(render("payment_received", "de", { amount: "1.00", currency: "EUR" }).body).toBe(
      "Sie haben 1.00 EUR erhalten.",
    );
    expect(
      render("legacy_payment_rejected", "en", { paymentId: `"><script>x</script>`, reasonCode: "a&b" }).body,
    ).toBe("Your payment &quot;&gt;&lt;script&gt;x&lt;/script&gt; was rejected (a&amp;b).");
  });
});

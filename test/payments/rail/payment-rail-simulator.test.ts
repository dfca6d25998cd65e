import { afterEach, describe, expect, it } from "vitest";
import {
  type PaymentRailSimulator,
  type PaymentRailSimulatorOptions,
  paymentRailOptionsFromEnv,
  startPaymentRailSimulator,
} from "../../../simulators/payment-rail/server.ts";
import {
  buildPacs008,
  type Pacs008Input,
  parsePacs002,
  parsePacs004,
  parsePacs008,
  toIsoId,
} from "../../../src/modules/payments/rail/iso20022.ts";
import { RailClient } from "../../../src/modules/payments/rail/rail.client.ts";
import { verifyWebhook } from "../../../src/platform/webhook-signature.ts";
import { type Callback, startCallbackReceiver } from "../../helpers/callback-receiver.ts";
import { waitFor } from "../../platform/wait.ts";
import { xsdErrors } from "./xsd.ts";

const SECRET = "rail-simulator-test-secret";

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The bank's webhook endpoint: records every callback and answers `statuses` in turn, then 200. */
async function startReceiver(statuses: number[] = []) {
  const { close, ...receiver } = await startCallbackReceiver("/v1/rail/callbacks", statuses);
  cleanups.push(close);
  return receiver;
}

async function startRail(
  callbackUrl: string,
  options: Partial<PaymentRailSimulatorOptions> = {},
): Promise<PaymentRailSimulator> {
  const rail = await startPaymentRailSimulator({
    callbackUrl,
    webhookSecret: SECRET,
    latencyMs: 1,
    callbackBackoffMs: 1,
    onError: (error) => {
      throw error;
    },
    ...options,
  });
  cleanups.push(() => rail.close());
  return rail;
}

let sequence = 0;

function creditTransfer(overrides: Partial<Pacs008Input> = {}): Pacs008Input {
  sequence++;
  const id = toIsoId(`trf_${sequence.toString(16).padStart(32, "0")}`);
  return {
    messageId: id,
    endToEndId: id,
    transactionId: id,
    createdAt: new Date("2026-03-04T10:11:12.000Z"),
    settlementDate: "2026-03-04",
    amountMinor: 4_200n,
    currency: "EUR",
    debtorName: "Ada Lovelace",
    debtorIban: "DE89370400440532013000",
    debtorAgentBic: "OMNIDEFFXXX",
    creditorName: "Charles Babbage",
    creditorIban: "FR1420041010050500013M02606",
    remittance: "Invoice 7",
    ...overrides,
  };
}

function expectSigned(callback: Callback | undefined, messageType: string): string {
  expect(callback).toBeDefined();
  expect(callback?.headers["content-type"]).toBe("application/xml");
  expect(callback?.headers["x-rail-message-type"]).toBe(messageType);
  const verification = verifyWebhook({
    secret: SECRET,
    header: callback?.headers["x-rail-signature"],
    rawBody: callback?.body ?? "",
    nowS: Math.floor(Date.now() / 1000),
    toleranceS: 300,
  });
  expect(verification.ok).toBe(true);
  return callback?.body ?? "";
}

async function submit(rail: PaymentRailSimulator, xml: string, key: string) {
  return new RailClient({ baseUrl: rail.url, timeoutMs: 5_000 }).submitCreditTransfer(xml, key);
}

describe("payment rail simulator: credit transfers", () => {
  it("accepts a pacs.008 and calls back a signed, valid pacs.002 ACSC at rejectionRate 0", async () => {
    const receiver = await startReceiver();
    const rail = await startRail(receiver.url, { rejectionRate: 0 });
    const input = creditTransfer();
    expect(await submit(rail, buildPacs008(input), "key-1")).toEqual({ accepted: true, status: 202 });
    await waitFor(() => receiver.received.length === 1, 400, 25, "the pacs.002 callback");
    const xml = expectSigned(receiver.received[0], "pacs.002.001.11");
    expect(xsdErrors(xml, "pacs.002.001.11")).toEqual([]);
    expect(parsePacs002(xml)).toMatchObject({
      originalMessageId: input.messageId,
      statuses: [
        { originalEndToEndId: input.endToEndId, originalTransactionId: input.transactionId, status: "ACSC" },
      ],
    });
    expect(rail.sent().map((message) => message.idempotencyKey)).toEqual(["key-1"]);
    expect(rail.sent()[0]?.message.transactions[0]?.amountMinor).toBe(4_200n);
  });

  it("rejects with a reason code at rejectionRate 1", async () => {
    const receiver = await startReceiver();
    // 0.99 picks the second of the two default reasons, so the outcome is fixed.
    const rail = await startRail(receiver.url, { rejectionRate: 1, random: () => 0.99 });
    const input = creditTransfer();
    await submit(rail, buildPacs008(input), "key-rjct");
    await waitFor(() => receiver.received.length === 1, 400, 25, "the pacs.002 callback");
    const xml = expectSigned(receiver.received[0], "pacs.002.001.11");
    expect(xsdErrors(xml, "pacs.002.001.11")).toEqual([]);
    expect(parsePacs002(xml).statuses).toEqual([
      {
        originalEndToEndId: input.endToEndId,
        originalTransactionId: input.transactionId,
        status: "RJCT",
        reasonCode: "AM04",
      },
    ]);
  });

  it("answers a repeated Idempotency-Key again without a second callback", async () => {
    const receiver = await startReceiver();
    const rail = await startRail(receiver.url);
    const xml = buildPacs008(creditTransfer());
    expect((await submit(rail, xml, "same-key")).accepted).toBe(true);
    expect((await submit(rail, xml, "same-key")).accepted).toBe(true);
    await rail.idle();
    expect(receiver.received).toHaveLength(1);
    expect(rail.sent()).toHaveLength(1);
    const other = await submit(rail, buildPacs008(creditTransfer()), "same-key");
    expect(other).toEqual({ accepted: false, retryable: false, reason: "rejected", status: 422 });
  });

  it("retries a failed callback with the same message until it is taken", async () => {
    const receiver = await startReceiver([500, 503]);
    const rail = await startRail(receiver.url);
    await submit(rail, buildPacs008(creditTransfer()), "key-retry");
    await waitFor(() => receiver.received.length === 3, 400, 25, "three delivery attempts");
    await rail.idle();
    const bodies = new Set(receiver.received.map((callback) => callback.body));
    expect(bodies.size).toBe(1);
    for (const callback of receiver.received) expectSigned(callback, "pacs.002.001.11");
    expect(rail.deliveries()).toMatchObject([{ kind: "pacs.002", attempts: 3, delivered: true }]);
  });

  it("gives up after callbackAttemptsMax", async () => {
    const receiver = await startReceiver([500, 500, 500, 500, 500]);
    const rail = await startRail(receiver.url, { callbackAttemptsMax: 3 });
    await submit(rail, buildPacs008(creditTransfer()), "key-give-up");
    await waitFor(() => rail.deliveries().length === 1, 400, 25, "the delivery record");
    expect(receiver.received).toHaveLength(3);
    expect(rail.deliveries()).toMatchObject([{ attempts: 3, delivered: false }]);
  });

  it("retries when the receiver cannot be reached", async () => {
    const receiver = await startReceiver();
    const rail = await startRail("http://127.0.0.1:1/unreachable", { callbackAttemptsMax: 2 });
    await submit(rail, buildPacs008(creditTransfer()), "key-unreachable");
    await waitFor(() => rail.deliveries().length === 1, 400, 25, "the delivery record");
    expect(rail.deliveries()).toMatchObject([{ attempts: 2, delivered: false }]);
    expect(receiver.received).toHaveLength(0);
  });

  it("delivers every callback twice with duplicateCallbacks", async () => {
    const receiver = await startReceiver();
    const rail = await startRail(receiver.url, { duplicateCallbacks: true });
    await submit(rail, buildPacs008(creditTransfer()), "key-twice");
    await waitFor(() => receiver.received.length === 2, 400, 25, "two copies");
    expect(receiver.received[0]?.body).toBe(receiver.received[1]?.body);
    expect(rail.deliveries().map((delivery) => delivery.copy)).toEqual([1, 2]);
  });

  it("returns a settled transfer later with a signed, valid pacs.004 at returnRate 1", async () => {
    const receiver = await startReceiver();
    const rail = await startRail(receiver.url, {
      returnRate: 1,
      returnDelayMs: 5,
      latencyMs: { minMs: 1, maxMs: 3 },
    });
    const input = creditTransfer({ amountMinor: 1_234_567n, currency: "BHD" });
    await submit(rail, buildPacs008(input), "key-return");
    await waitFor(() => receiver.received.length === 2, 400, 25, "the status and the return");
    expect(parsePacs002(receiver.received[0]?.body ?? "").statuses[0]?.status).toBe("ACSC");
    const xml = expectSigned(receiver.received[1], "pacs.004.001.10");
    expect(xsdErrors(xml, "pacs.004.001.10")).toEqual([]);
    expect(parsePacs004(xml).returns).toMatchObject([
      {
        originalMessageId: input.messageId,
        originalEndToEndId: input.endToEndId,
        originalTransactionId: input.transactionId,
        returnedAmountMinor: 1_234_567n,
        currency: "BHD",
        reasonCode: "AC04",
      },
    ]);
  });

  it("never returns a rejected transfer", async () => {
    const receiver = await startReceiver();
    const rail = await startRail(receiver.url, { rejectionRate: 1, returnRate: 1, returnDelayMs: 1 });
    await submit(rail, buildPacs008(creditTransfer()), "key-no-return");
    await waitFor(() => receiver.received.length === 1, 400, 25, "the rejection");
    await rail.idle();
    expect(receiver.received).toHaveLength(1);
  });
});

describe("payment rail simulator: refusals and health", () => {
  async function post(rail: PaymentRailSimulator, body: string, headers: Record<string, string>) {
    const response = await fetch(`${rail.url}/v1/pacs008`, { method: "POST", body, headers });
    return {
      status: response.status,
      type: response.headers.get("content-type"),
      body: await response.text(),
    };
  }

  const xmlHeaders = { "content-type": "application/xml", "idempotency-key": "k" };

  it("answers garbage with a 400 problem and calls nobody back", async () => {
    const receiver = await startReceiver();
    const rail = await startRail(receiver.url);
    const answer = await post(rail, "<not-a-payment/>", xmlHeaders);
    expect(answer.status).toBe(400);
    expect(answer.type).toBe("application/problem+json");
    expect(JSON.parse(answer.body)).toMatchObject({ status: 400 });
    await rail.idle();
    expect(receiver.received).toHaveLength(0);
    expect(rail.sent()).toHaveLength(0);
  });

  it("requires an Idempotency-Key and XML", async () => {
    const rail = await startRail("http://127.0.0.1:1/");
    const xml = buildPacs008(creditTransfer());
    expect((await post(rail, xml, { "content-type": "application/xml" })).status).toBe(400);
    expect((await post(rail, xml, { ...xmlHeaders, "content-type": "application/json" })).status).toBe(415);
  });

  it("refuses a body over bodyMaxBytes", async () => {
    const rail = await startRail("http://127.0.0.1:1/", { bodyMaxBytes: 1_000 });
    const answer = await post(rail, `<Document>${"x".repeat(5_000)}</Document>`, xmlHeaders);
    expect(answer.status).toBe(413);
  });

  it("serves /health, 404 and 405", async () => {
    const rail = await startRail("http://127.0.0.1:1/");
    expect((await fetch(`${rail.url}/health`)).status).toBe(200);
    expect((await fetch(`${rail.url}/nowhere`)).status).toBe(404);
    expect((await fetch(`${rail.url}/v1/pacs008`)).status).toBe(405);
  });
});

describe("payment rail simulator: inbound credits", () => {
  const inbound = {
    creditorIban: "DE89370400440532013000",
    creditorName: "Ada Lovelace",
    debtorIban: "FR1420041010050500013M02606",
    debtorName: "Charles Babbage",
    amountMinor: 99_950n,
    currency: "EUR",
    remittance: "Thanks for the engine notes",
  };

  it("injectInboundCredit delivers a signed, valid pacs.008", async () => {
    const receiver = await startReceiver();
    const rail = await startRail(receiver.url);
    const credit = await rail.injectInboundCredit(inbound);
    expect(credit.delivered).toBe(true);
    expect(receiver.received).toHaveLength(1);
    const xml = expectSigned(receiver.received[0], "pacs.008.001.09");
    expect(xml).toBe(credit.xml);
    expect(xsdErrors(xml, "pacs.008.001.09")).toEqual([]);
    const message = parsePacs008(xml);
    expect(message.messageId).toBe(credit.messageId);
    expect(message.transactions).toMatchObject([
      { ...inbound, endToEndId: credit.endToEndId, transactionId: credit.transactionId },
    ]);
  });

  it("takes inbound credit orders over HTTP for manual testing", async () => {
    const receiver = await startReceiver();
    const rail = await startRail(receiver.url);
    const { amountMinor: _amountMinor, ...rest } = inbound;
    const response = await fetch(`${rail.url}/v1/inbound-credits`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...rest, amount: "999.50" }),
    });
    expect(response.status).toBe(202);
    const { messageId } = (await response.json()) as { messageId: string };
    await waitFor(() => receiver.received.length === 1, 400, 25, "the inbound credit");
    const message = parsePacs008(expectSigned(receiver.received[0], "pacs.008.001.09"));
    expect(message.messageId).toBe(messageId);
    expect(message.transactions[0]?.amountMinor).toBe(99_950n);
  });
});

describe("paymentRailOptionsFromEnv", () => {
  it("has development defaults", () => {
    expect(paymentRailOptionsFromEnv({})).toMatchObject({
      port: 4100,
      callbackUrl: "http://127.0.0.1:3000/v1/rail/callbacks",
      rejectionRate: 0,
      returnRate: 0,
      duplicateCallbacks: false,
    });
  });

  it("reads every variable", () => {
    const options = paymentRailOptionsFromEnv({
      RAIL_PORT: "4200",
      RAIL_CALLBACK_URL: "http://bank.test/hooks",
      RAIL_WEBHOOK_SECRET: "s3cret",
      RAIL_LATENCY_MS: "10-20",
      RAIL_REJECTION_RATE: "0.25",
      RAIL_RETURN_RATE: "0.1",
    });
    expect(options).toMatchObject({
      port: 4200,
      callbackUrl: "http://bank.test/hooks",
      webhookSecret: "s3cret",
      latencyMs: { minMs: 10, maxMs: 20 },
      rejectionRate: 0.25,
      returnRate: 0.1,
    });
    expect(paymentRailOptionsFromEnv({ RAIL_LATENCY_MS: "75" }).latencyMs).toBe(75);
  });

  it("refuses nonsense", async () => {
    expect(() => paymentRailOptionsFromEnv({ RAIL_PORT: "many" })).toThrow(/RAIL_PORT/);
    await expect(
      startPaymentRailSimulator({ ...paymentRailOptionsFromEnv({}), port: 0, rejectionRate: 2 }),
    ).rejects.toThrow(/rejectionRate/);
  });
});

import { composeIBAN } from "ibantools";
import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import {
  type PaymentRailSimulator,
  type PaymentRailSimulatorOptions,
  startPaymentRailSimulator,
} from "../../simulators/payment-rail/server.ts";
import { buildPacs002, toIsoId } from "../../src/modules/payments/rail/iso20022.ts";
import { signWebhook } from "../../src/platform/webhook-signature.ts";
import { freePort } from "../helpers/ports.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";
import { bearer, expectProblem } from "../identity.helpers.ts";
import { waitFor } from "../platform/wait.ts";
import {
  type AccountDto,
  type Customer,
  deposit,
  eur,
  getAccount,
  newCustomer,
  newStaff,
  openAccount,
  transferRequest,
} from "./payments.helpers.ts";
import { xsdErrors } from "./rail/xsd.ts";

/**
 * Payments to and from other banks, end to end: the app listens on a real port, the payment-rail
 * simulator receives our pacs.008 over HTTP and calls back with signed pacs.002 / pacs.004 /
 * pacs.008 messages, exactly as a rail would.
 */

const SECRET = "test-rail-secret-0123456789";
/** An IBAN at another German bank (bank code 37040044; ours is 10010010). */
const OTHER_BANK_IBAN = composeIBAN({ countryCode: "DE", bban: "370400440532013000" })!;

interface TransferBody {
  id: string;
  status: string;
  statusReason: string | null;
  statusHistory: Array<{ status: string; reasonCode: string | null }>;
  external: boolean;
}

interface Setup {
  app: TestApp;
  rail: PaymentRailSimulator;
  payer: Customer;
  account: AccountDto;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(rail: Partial<PaymentRailSimulatorOptions> = {}, railPort?: number): Promise<Setup> {
  const appPort = await freePort();
  const simulator = await startPaymentRailSimulator({
    callbackUrl: `http://127.0.0.1:${appPort}/v1/rail/callbacks`,
    webhookSecret: SECRET,
    latencyMs: 5,
    callbackBackoffMs: 20,
    ...(railPort ? { port: railPort } : {}),
    ...rail,
  });
  cleanups.push(() => simulator.close());
  const app = await createTestApp({
    env: {
      PORT: String(appPort),
      HOST: "127.0.0.1",
      OMNICORE_RAIL_URL: simulator.url,
      OMNICORE_RAIL_WEBHOOK_SECRET: SECRET,
      OMNICORE_RAIL_SENDER_INTERVAL_MS: "20",
      OMNICORE_RAIL_RETRY_BACKOFF_MAX_MS: "200",
      OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "10000",
    },
  });
  cleanups.push(() => app.destroy());
  await app.listen();
  const teller = await newStaff(app, "teller");
  const payer = await newCustomer(app);
  const account = await openAccount(app, payer.token);
  await deposit(app, teller.token, account.id, eur("100.00"));
  return { app, rail: simulator, payer, account };
}

async function payOut(s: Setup, amount = "40.00") {
  const response = await transferRequest(s.app, s.payer.token, {
    fromAccountId: s.account.id,
    toIban: OTHER_BANK_IBAN,
    amount: eur(amount),
    reference: "Rent December",
  });
  expect(response.statusCode, response.body).toBe(202);
  return response.json<TransferBody>();
}

async function readTransfer(s: Setup, id: string): Promise<TransferBody> {
  const response = await s.app.http.inject({
    method: "GET",
    url: `/v1/transfers/${id}`,
    headers: bearer(s.payer.token),
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<TransferBody>();
}

async function untilStatus(s: Setup, id: string, status: string): Promise<TransferBody> {
  let last: TransferBody | undefined;
  await waitFor(
    async () => {
      last = await readTransfer(s, id);
      return last.status === status;
    },
    400,
    25,
    `transfer ${id} ${status}`,
  );
  return last!;
}

async function balances(s: Setup) {
  return (await getAccount(s.app, s.payer.token, s.account.id)).balances;
}

async function clearingTotal(s: Setup): Promise<string> {
  const result = await sql<{ total: string | null }>`
    select coalesce(sum(booked_minor), 0)::text as total from ledger_accounts where system_code = 'clearing'`.execute(
    s.app.database.db,
  );
  return result.rows[0]?.total ?? "0";
}

function callback(s: Setup, xml: string, options: { secret?: string; nowS?: number } = {}) {
  const nowS = options.nowS ?? Math.floor(Date.now() / 1000);
  return s.app.http.inject({
    method: "POST",
    url: "/v1/rail/callbacks",
    headers: {
      "content-type": "application/xml",
      "x-rail-signature": signWebhook(options.secret ?? SECRET, xml, nowS),
    },
    payload: xml,
  });
}

describe("payments to other banks through the payment rail", () => {
  it("holds the amount, sends a schema-valid pacs.008, and settles on the rail's ACSC", async () => {
    const s = await setup({ rejectionRate: 0 });
    const created = await payOut(s);
    expect(created).toMatchObject({ status: "received", external: true });
    // The amount is reserved at once: available drops, booked waits for the rail.
    expect(await balances(s)).toEqual({ booked: eur("100.00"), available: eur("60.00") });

    const settled = await untilStatus(s, created.id, "settled");
    expect(settled.statusHistory.map((step) => step.status)).toEqual(["received", "settled"]);
    expect(await balances(s)).toEqual({ booked: eur("60.00"), available: eur("60.00") });
    expect(await clearingTotal(s)).toBe("4000");

    const [sent] = s.rail.sent();
    expect(sent?.idempotencyKey).toBe(created.id);
    expect(xsdErrors(sent!.xml, "pacs.008.001.09")).toEqual([]);
    expect(sent!.xml).toContain(`<EndToEndId>${toIsoId(created.id)}</EndToEndId>`);
    expect(sent!.xml).toContain(`<IBAN>${OTHER_BANK_IBAN}</IBAN>`);
    expect(sent!.xml).toContain(`<IBAN>${s.account.iban}</IBAN>`);
    expect(sent!.xml).toContain('<IntrBkSttlmAmt Ccy="EUR">40.00</IntrBkSttlmAmt>');
  });

  it("releases the hold and shows the rail's reason code when the rail rejects", async () => {
    const s = await setup({ rejectionRate: 1, rejectionReasonCodes: ["AC04"] });
    const created = await payOut(s);
    const rejected = await untilStatus(s, created.id, "rejected");
    expect(rejected.statusReason).toBe("AC04");
    expect(await balances(s)).toEqual({ booked: eur("100.00"), available: eur("100.00") });
  });

  it("credits the money back when a settled payment is returned (pacs.004)", async () => {
    const s = await setup({
      rejectionRate: 0,
      returnRate: 1,
      returnDelayMs: 10,
      returnReasonCodes: ["MD06"],
    });
    const created = await payOut(s);
    const returned = await untilStatus(s, created.id, "returned");
    expect(returned.statusReason).toBe("MD06");
    expect(returned.statusHistory.map((step) => step.status)).toEqual(["received", "settled", "returned"]);
    expect(await balances(s)).toEqual({ booked: eur("100.00"), available: eur("100.00") });
    expect(await clearingTotal(s)).toBe("0");
  });

  it("applies every callback once when the rail delivers each of them twice", async () => {
    const s = await setup({ rejectionRate: 0, returnRate: 1, returnDelayMs: 10, duplicateCallbacks: true });
    const created = await payOut(s);
    await untilStatus(s, created.id, "returned");
    await s.rail.idle();
    expect(await balances(s)).toEqual({ booked: eur("100.00"), available: eur("100.00") });
    const duplicates = s.rail.deliveries().filter((delivery) => delivery.kind !== "pacs.008");
    expect(duplicates.length).toBeGreaterThanOrEqual(4);
  });

  it("keeps a payment queued while the rail is down and sends it exactly once when it is back", async () => {
    const railPort = await freePort();
    const s = await setup({ rejectionRate: 0 }, railPort);
    await s.rail.close();
    const created = await payOut(s, "25.00");
    const attempted = async () => {
      const rows = await sql<{ attempts: number }>`
        select attempts from payments_rail_outbound where transfer_id = ${created.id}`.execute(
        s.app.database.db,
      );
      return Number(rows.rows[0]?.attempts ?? 0) >= 2;
    };
    await waitFor(attempted, 400, 25, "two failed sends");
    expect((await readTransfer(s, created.id)).status).toBe("received");

    const back = await startPaymentRailSimulator({
      callbackUrl: `http://127.0.0.1:${s.app.config.http.port}/v1/rail/callbacks`,
      webhookSecret: SECRET,
      latencyMs: 5,
      port: railPort,
      rejectionRate: 0,
    });
    cleanups.push(() => back.close());
    await untilStatus(s, created.id, "settled");
    expect(back.sent().filter((message) => message.idempotencyKey === created.id)).toHaveLength(1);
    expect(await balances(s)).toEqual({ booked: eur("75.00"), available: eur("75.00") });
  });

  it("books an inbound credit from another bank exactly once, even when delivered twice", async () => {
    const s = await setup({ duplicateCallbacks: true });
    const credit = await s.rail.injectInboundCredit({
      creditorIban: s.account.iban,
      creditorName: "Ada Lovelace",
      debtorIban: OTHER_BANK_IBAN,
      debtorName: "Charles Babbage",
      amountMinor: 1234n,
      currency: "EUR",
      remittance: "Salary",
    });
    expect(credit.delivered).toBe(true);
    await s.rail.idle();
    expect(await balances(s)).toEqual({ booked: eur("112.34"), available: eur("112.34") });
  });

  it("refuses bad, foreign-keyed and stale signatures, and acknowledges a replay without applying it", async () => {
    const s = await setup({ rejectionRate: 0, latencyMs: 60_000 });
    const created = await payOut(s);
    await waitFor(() => s.rail.sent().length === 1, 400, 25, "the pacs.008 sent");
    const report = buildPacs002({
      messageId: "RAILREPORT0001",
      createdAt: new Date(),
      originalMessageId: toIsoId(created.id),
      statuses: [{ originalEndToEndId: toIsoId(created.id), status: "RJCT", reasonCode: "AM04" }],
    });
    expectProblem(await callback(s, report, { secret: "not-the-secret" }), 401, "webhook-signature-invalid");
    const stale = await callback(s, report, { nowS: Math.floor(Date.now() / 1000) - 3_600 });
    expectProblem(stale, 401, "webhook-signature-invalid");
    expect(stale.json<{ reason: string }>().reason).toBe("stale");
    const unsigned = await s.app.http.inject({
      method: "POST",
      url: "/v1/rail/callbacks",
      headers: { "content-type": "application/xml" },
      payload: report,
    });
    expectProblem(unsigned, 401, "webhook-signature-invalid");
    const tampered = await s.app.http.inject({
      method: "POST",
      url: "/v1/rail/callbacks",
      headers: {
        "content-type": "application/xml",
        "x-rail-signature": signWebhook(SECRET, report, Math.floor(Date.now() / 1000)),
      },
      payload: report.replace("AM04", "AC04"),
    });
    expectProblem(tampered, 401, "webhook-signature-invalid");
    expect((await readTransfer(s, created.id)).status).toBe("received");

    const first = await callback(s, report);
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toEqual({ messageId: "RAILREPORT0001", duplicate: false });
    expect((await readTransfer(s, created.id)).statusReason).toBe("AM04");
    const replay = await callback(s, report);
    expect(replay.json()).toEqual({ messageId: "RAILREPORT0001", duplicate: true });
    expect(await balances(s)).toEqual({ booked: eur("100.00"), available: eur("100.00") });
  });

  it("refuses garbage on the webhook with 400, even when correctly signed", async () => {
    const s = await setup();
    const response = await callback(s, "<not-iso/>");
    expectProblem(response, 400, "validation");
  });
});

describe("payments to other banks without a rail", () => {
  it("answers 422 external-transfers-unavailable and books nothing", async () => {
    const app = await createTestApp({ env: { OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "10000" } });
    cleanups.push(() => app.destroy());
    const teller = await newStaff(app, "teller");
    const payer = await newCustomer(app);
    const account = await openAccount(app, payer.token);
    await deposit(app, teller.token, account.id, eur("10.00"));
    const response = await transferRequest(app, payer.token, {
      fromAccountId: account.id,
      toIban: OTHER_BANK_IBAN,
      amount: eur("1.00"),
    });
    expectProblem(response, 422, "external-transfers-unavailable");
    expect((await getAccount(app, payer.token, account.id)).balances.available).toEqual(eur("10.00"));
  });
});

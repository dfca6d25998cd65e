import { expect } from "vitest";
import type { App } from "../../src/app.ts";
import type { CaseDto } from "../../src/modules/fraud/cases/index.ts";
import type { Clock } from "../../src/platform/clock.ts";
import { systemContext } from "../../src/platform/context.ts";
import { inTransaction } from "../../src/platform/db/database.ts";
import { staffRequest } from "../helpers/staff-request.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";
import { bearer } from "../identity.helpers.ts";
import {
  deposit,
  eur,
  getAccount,
  newCustomer,
  openAccount,
  type TransferDto,
  transferRequest,
} from "../payments/payments.helpers.ts";

/**
 * Shared steps of the fraud case suites. A case is opened as payments open it (the opener called
 * inside a transaction), so the investigators' side can be tested on its own; the suites that need
 * a payment really held go through the transfer API.
 */

/** The edge the tests' requests come through, so that its country header is believed. */
export const EDGE_PEER = "10.0.0.1";

export function createCasesApp(
  options: { clock?: Clock; env?: Record<string, string> } = {},
): Promise<TestApp> {
  return createTestApp({
    ...(options.clock ? { clock: options.clock } : {}),
    env: {
      OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "100000",
      OMNICORE_RATE_LIMIT_AUTH_PER_ACCOUNT_PER_MINUTE: "100000",
      OMNICORE_TRUSTED_PROXIES: EDGE_PEER,
      ...options.env,
    },
  });
}

let decisionCounter = 0;

/** A decision id that looks like the engine's (fdc_…), unique per call. */
export function decisionId(): string {
  decisionCounter += 1;
  return `fdc_${decisionCounter.toString(16).padStart(32, "0")}`;
}

let transferCounter = 0;

/** A transfer id that was never issued, for cases that need no payment behind them. */
export function unknownTransferId(): string {
  transferCounter += 1;
  return `trf_${(0xf0000000 + transferCounter).toString(16).padStart(32, "0")}`;
}

/** Opens a case exactly as payments does when a payment is held: inside a transaction. */
export async function openCase(
  app: App,
  input: { customerId: string; transferId?: string; score: number; reasons?: string[] },
): Promise<string> {
  const { caseId } = await inTransaction(app.database.db, (tx) =>
    app.services.fraudCases.openForHeldPayment(tx, {
      context: systemContext("test-payments"),
      customerId: input.customerId,
      transferId: input.transferId ?? unknownTransferId(),
      decision: {
        id: decisionId(),
        outcome: "hold",
        score: input.score,
        reasons: input.reasons ?? ["new_device"],
        ruleSetVersion: 1,
      },
    }),
  );
  expect(caseId).toMatch(/^cas_[0-9a-f]{32}$/);
  return caseId;
}

export { staffRequest };

export async function queue(
  app: App,
  token: string,
  query = "",
): Promise<{ items: CaseDto[]; nextCursor: string | null }> {
  const response = await staffRequest(app, token, "GET", `/v1/staff/cases${query}`);
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
}

/**
 * Makes the engine hold every first payment to a payee, with `score` as its risk score: one rule
 * on the `new_payee` feature, and a hold threshold at or below it. Returns the rule set version.
 */
export async function holdNewPayees(app: App, score: number): Promise<number> {
  const threshold = Math.min(score, 90);
  const ruleSet = await app.services.fraud.createRuleSet(systemContext("test-rules"), {
    rules: [{ code: "new_payee", feature: "new_payee", operator: "is_true", weight: score }],
    thresholds: { challenge: threshold, hold: threshold, block: 100 },
    activate: true,
  });
  return ruleSet.version;
}

export interface HeldPayment {
  payer: { customerId: string; email: string; token: string; accountId: string };
  payee: { token: string; accountId: string; iban: string };
  transferId: string;
  caseId: string;
}

/** A customer with 100.00 who pays 25.00 to a new payee; the engine holds it and a case opens. */
export async function heldPayment(
  app: App,
  tellerToken: string,
  investigatorToken: string,
): Promise<HeldPayment> {
  const payer = await newCustomer(app);
  const payerAccount = await openAccount(app, payer.token);
  await deposit(app, tellerToken, payerAccount.id, eur("100.00"));
  const payee = await newCustomer(app);
  const payeeAccount = await openAccount(app, payee.token);
  const response = await transferRequest(app, payer.token, {
    fromAccountId: payerAccount.id,
    toIban: payeeAccount.iban,
    amount: eur("25.00"),
  });
  expect(response.statusCode, response.body).toBe(202);
  const held = response.json<TransferDto>();
  expect(held.status).toBe("pending_review");
  const { items } = await queue(app, investigatorToken, "?limit=200");
  const opened = items.find((item) => item.transferId === held.id);
  if (!opened) throw new Error(`no open case for the held payment ${held.id}`);
  return {
    payer: { ...payer, accountId: payerAccount.id },
    payee: { token: payee.token, accountId: payeeAccount.id, iban: payeeAccount.iban },
    transferId: held.id,
    caseId: opened.id,
  };
}

export async function balancesOf(app: App, token: string, accountId: string) {
  const account = await getAccount(app, token, accountId);
  return { booked: account.balances.booked.amount, available: account.balances.available.amount };
}

export async function transferOf(app: App, token: string, transferId: string) {
  const response = await app.http.inject({
    method: "GET",
    url: `/v1/transfers/${transferId}`,
    headers: bearer(token),
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<{ id: string; status: string; statusReason: string | null }>();
}

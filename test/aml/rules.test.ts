import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/platform/clock.ts";
import type { TestApp } from "../helpers/test-app.ts";
import { eur, openAccount } from "../payments/payments.helpers.ts";
import {
  alertCodes,
  caseOf,
  contextOf,
  createAmlApp,
  DAY_MS,
  depositAll,
  externalTransferEvent,
  GERMAN_IBAN,
  holder,
  IRANIAN_IBAN,
  pay,
  publish,
  type SignedInStaff,
  signInAgain,
  staff,
} from "./aml.helpers.ts";

/**
 * Each rule of the default rule set (v1) fires on its pattern, as the money moves, and stays
 * quiet on ordinary behaviour. Deposits and transfers go through the HTTP API.
 */

const clock = new ManualClock(new Date("2031-03-03T09:00:00Z"));
let app: TestApp;
let teller: SignedInStaff;
let analyst: SignedInStaff;

beforeAll(async () => {
  app = await createAmlApp(clock);
  teller = await staff(app, "teller");
  analyst = await staff(app, "compliance_analyst");
});

afterAll(async () => {
  await app?.destroy();
});

/** Moves the clock on and signs the staff in again: their tokens live ten minutes. */
async function later(ms: number): Promise<void> {
  clock.advance(ms);
  await signInAgain(app, teller);
  await signInAgain(app, analyst);
}

describe("structuring", () => {
  it("fires on the third cash deposit just under the €10,000 threshold within a week", async () => {
    const subject = await holder(app);
    await depositAll(app, teller.token, subject.account.id, ["9500.00", "9800.00"]);
    expect(await alertCodes(app, analyst.token, subject.customerId)).toEqual([]);
    await depositAll(app, teller.token, subject.account.id, ["9999.99"]);
    const found = await caseOf(app, analyst.token, subject.customerId);
    const context = await contextOf(app, analyst.token, found!.id);
    expect(context.alerts.map((alert) => alert.ruleCode)).toEqual(["structuring"]);
    expect(context.alerts[0]!.transactionIds).toHaveLength(3);
    expect(context.transactions.map((movement) => movement.amount)).toEqual([
      eur("9500.00"),
      eur("9800.00"),
      eur("9999.99"),
    ]);
  });

  it("stays quiet on deposits at or above the threshold, and below the band", async () => {
    const subject = await holder(app);
    await depositAll(app, teller.token, subject.account.id, ["10000.01", "12345.67", "8999.99", "9500.00"]);
    expect(await alertCodes(app, analyst.token, subject.customerId)).toEqual([]);
  });
});

describe("rapid movement", () => {
  it("fires when most of the money received leaves again within 48 hours", async () => {
    const subject = await holder(app);
    const payee = await holder(app);
    await depositAll(app, teller.token, subject.account.id, ["6000.00"]);
    await pay(app, subject, payee.account.iban, "5500.00");
    expect(await alertCodes(app, analyst.token, subject.customerId)).toEqual(["rapid_movement"]);
    expect(await alertCodes(app, analyst.token, payee.customerId)).toEqual([]);
  });

  it("stays quiet on an ordinary payment, and on moving money between one's own accounts", async () => {
    const subject = await holder(app);
    const payee = await holder(app);
    const savings = await openAccount(app, subject.token, "savings");
    await depositAll(app, teller.token, subject.account.id, ["6000.00"]);
    await pay(app, subject, payee.account.iban, "1000.00");
    await pay(app, subject, savings.iban, "4900.00");
    expect(await alertCodes(app, analyst.token, subject.customerId)).toEqual([]);
  });
});

describe("high-risk jurisdictions", () => {
  it("fires on a payment to a counterparty whose IBAN is of a listed country", async () => {
    const subject = await holder(app);
    await publish(app, [
      externalTransferEvent(app, subject, { toIban: IRANIAN_IBAN, amount: eur("120.00") }),
    ]);
    const found = await caseOf(app, analyst.token, subject.customerId);
    const context = await contextOf(app, analyst.token, found!.id);
    expect(context.alerts.map((alert) => alert.ruleCode)).toEqual(["high_risk_jurisdiction"]);
    expect(context.alerts[0]!.details).toMatchObject({ country: "IR", direction: "out" });
    expect(context.transactions[0]).toMatchObject({
      counterpartyCountry: "IR",
      counterpartyIban: IRANIAN_IBAN,
    });
  });

  it("stays quiet on payments to other countries", async () => {
    const subject = await holder(app);
    await publish(app, [externalTransferEvent(app, subject, { toIban: GERMAN_IBAN, amount: eur("120.00") })]);
    expect(await alertCodes(app, analyst.token, subject.customerId)).toEqual([]);
  });
});

describe("round amounts in series", () => {
  it("fires on the third round amount of at least €1,000 within a week", async () => {
    const subject = await holder(app);
    await depositAll(app, teller.token, subject.account.id, ["2000.00", "3000.00"]);
    expect(await alertCodes(app, analyst.token, subject.customerId)).toEqual([]);
    await depositAll(app, teller.token, subject.account.id, ["1000.00"]);
    expect(await alertCodes(app, analyst.token, subject.customerId)).toEqual(["round_amounts"]);
  });

  it("stays quiet on amounts that are not round, or too small to matter", async () => {
    const subject = await holder(app);
    await depositAll(app, teller.token, subject.account.id, [
      "2013.57",
      "3000.10",
      "100.00",
      "500.00",
      "900.00",
    ]);
    expect(await alertCodes(app, analyst.token, subject.customerId)).toEqual([]);
  });
});

describe("rules that need history (the clock moves)", () => {
  it("volume far above the customer's profile fires; the same amount without history, or a usual amount, does not", async () => {
    const usual = await holder(app);
    const spiking = await holder(app);
    const newcomer = await holder(app);
    await depositAll(app, teller.token, usual.account.id, ["150.00"]);
    await depositAll(app, teller.token, spiking.account.id, ["150.00"]);
    await later(31 * DAY_MS);
    await depositAll(app, teller.token, usual.account.id, ["180.00"]);
    await depositAll(app, teller.token, spiking.account.id, ["6200.00"]);
    await depositAll(app, teller.token, newcomer.account.id, ["6200.00"]);
    expect(await alertCodes(app, analyst.token, spiking.customerId)).toEqual(["volume_spike"]);
    expect(await alertCodes(app, analyst.token, usual.customerId)).toEqual([]);
    expect(await alertCodes(app, analyst.token, newcomer.customerId)).toEqual([]);
  });

  it("a dormant account suddenly active fires; an account in regular use does not", async () => {
    const dormant = await holder(app);
    const regular = await holder(app);
    await depositAll(app, teller.token, dormant.account.id, ["50.00"]);
    await depositAll(app, teller.token, regular.account.id, ["50.00"]);
    for (let month = 0; month < 7; month++) {
      await later(30 * DAY_MS);
      await depositAll(app, teller.token, regular.account.id, ["40.00"]);
    }
    await depositAll(app, teller.token, dormant.account.id, ["1500.00"]);
    await depositAll(app, teller.token, regular.account.id, ["1500.00"]);
    const found = await caseOf(app, analyst.token, dormant.customerId);
    const context = await contextOf(app, analyst.token, found!.id);
    expect(context.alerts.map((alert) => alert.ruleCode)).toEqual(["dormant_reactivated"]);
    expect(context.alerts[0]!.details).toMatchObject({ idleDays: 210, dormantDays: 180 });
    expect(await alertCodes(app, analyst.token, regular.customerId)).toEqual([]);
  });
});

import { afterEach, describe, expect, it } from "vitest";
import { startComplianceWarehouseSimulator } from "../../simulators/compliance-warehouse/server.ts";
import { startLendingPlatformSimulator } from "../../simulators/lending-platform/server.ts";
import { ManualClock } from "../../src/platform/clock.ts";
import { call, seededRandom, timed } from "./simulator-kit.ts";

const running: Array<{ close(): Promise<void> }> = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((simulator) => simulator.close()));
});

async function track<T extends { close(): Promise<void> }>(simulator: Promise<T>): Promise<T> {
  const started = await simulator;
  running.push(started);
  return started;
}

const COUNTERPARTY = "DE89370400440532013000";

describe("lending platform", () => {
  it("approves a funds check within the credit line and declines beyond it", async () => {
    const lending = await track(
      startLendingPlatformSimulator({
        latencyScale: 0.001,
        creditLines: [{ accountRef: "acc-1", currency: "EUR", availableCreditMinor: "50000" }],
      }),
    );
    const check = (amountMinor: string, accountRef = "acc-1", currency = "EUR") =>
      call(`${lending.url}/funds-checks`, "POST", { accountRef, amountMinor, currency });
    expect((await check("50000")).body).toMatchObject({ approved: true, availableCreditMinor: "50000" });
    expect((await check("50001")).body).toMatchObject({ approved: false, availableCreditMinor: "50000" });
    expect((await check("50000", "acc-1", "USD")).body).toMatchObject({ approved: false });
    // An account without its own line has the default credit.
    expect((await check("1000000", "acc-2")).body).toMatchObject({
      approved: true,
      availableCreditMinor: "1000000",
    });
    await call(`${lending.url}/admin/credit-lines/acc-2`, "PUT", {
      currency: "EUR",
      availableCreditMinor: "0",
    });
    expect((await check("1", "acc-2")).body).toMatchObject({ approved: false });
    await call(`${lending.url}/admin/controls`, "PATCH", { declineNextChecks: 1 });
    expect((await check("1")).body).toMatchObject({ approved: false });
    expect((await check("1")).body).toMatchObject({ approved: true });
    expect(lending.checks()).toHaveLength(7);
    expect(
      (await call(`${lending.url}/funds-checks`, "POST", { accountRef: "acc-1", amountMinor: 5 })).status,
    ).toBe(400);
  });

  it("takes its latency (the brief's 8 s, scaled), longer than a faster platform", async () => {
    const slow = await track(startLendingPlatformSimulator({ latencyScale: 0.01 }));
    const fast = await track(startLendingPlatformSimulator({ latencyScale: 0 }));
    const body = { accountRef: "acc-1", amountMinor: "100", currency: "EUR" };
    expect(slow.controls().latency).toEqual({ kind: "fixed", ms: 8_000 });
    const slowCall = await timed(() => call(`${slow.url}/funds-checks`, "POST", body));
    const fastCall = await timed(() => call(`${fast.url}/funds-checks`, "POST", body));
    expect(slowCall.result.status).toBe(200);
    expect(slowCall.elapsedMs).toBeGreaterThan(fastCall.elapsedMs);
    expect(slowCall.elapsedMs).toBeLessThan(1_000);
  });

  it("answers 500 at about its error rate over many calls", async () => {
    const lending = await track(
      startLendingPlatformSimulator({ latencyScale: 0, errorRate: 0.25, random: seededRandom(11) }),
    );
    const calls = 400;
    let errors = 0;
    for (let index = 0; index < calls; index++) {
      const answer = await call(`${lending.url}/funds-checks`, "POST", {
        accountRef: "acc-1",
        amountMinor: "100",
        currency: "EUR",
      });
      if (answer.status === 500) errors++;
      else expect(answer.status).toBe(200);
    }
    // Binomial: standard deviation sqrt(400 × 0.25 × 0.75) ≈ 8.7; five of them either way.
    expect(Math.abs(errors - calls * 0.25)).toBeLessThan(44);
    expect(lending.checks()).toHaveLength(calls - errors);
  });
});

describe("compliance warehouse", () => {
  it("clears an ordinary payment and not a blocked counterparty or an amount above the threshold", async () => {
    const warehouse = await track(
      startComplianceWarehouseSimulator({
        latencyScale: 0.001,
        blockedIbans: ["GB29 NWBK 6016 1331 9268 19"],
        reviewAboveMinor: "1000000",
      }),
    );
    const screen = (paymentRef: string, amountMinor: string, counterpartyIban = COUNTERPARTY) =>
      call(`${warehouse.url}/screenings`, "POST", {
        paymentRef,
        amountMinor,
        currency: "EUR",
        counterpartyIban,
      });
    expect((await screen("pay-1", "1000000")).body).toMatchObject({ cleared: true, reasons: [] });
    expect((await screen("pay-2", "1000001")).body).toMatchObject({
      cleared: false,
      reasons: ["amount_above_review_threshold"],
    });
    expect((await screen("pay-3", "100", "GB29NWBK60161331926819")).body).toMatchObject({
      cleared: false,
      reasons: ["counterparty_blocked"],
    });
    await call(`${warehouse.url}/admin/controls`, "PATCH", { holdNextScreenings: 1 });
    expect((await screen("pay-4", "100")).body).toMatchObject({
      cleared: false,
      reasons: ["held_by_control"],
    });
    // A payment is screened once: the same request answers the first result, another body 409.
    const again = await screen("pay-4", "100");
    expect(again.body).toMatchObject({ cleared: false, reasons: ["held_by_control"] });
    expect((await screen("pay-4", "101")).status).toBe(409);
    expect(warehouse.screenings()).toHaveLength(4);
  });

  it("takes its latency (the brief's 12 s, scaled)", async () => {
    const warehouse = await track(startComplianceWarehouseSimulator({ latencyScale: 0.005 }));
    expect(warehouse.controls().latency).toEqual({ kind: "fixed", ms: 12_000 });
    const screened = await timed(() =>
      call(`${warehouse.url}/screenings`, "POST", {
        paymentRef: "pay-1",
        amountMinor: "100",
        currency: "EUR",
        counterpartyIban: COUNTERPARTY,
      }),
    );
    expect(screened.result.status).toBe(200);
    expect(screened.elapsedMs).toBeLessThan(1_000);
  });

  it("refuses during an outage window and recovers after it", async () => {
    const clock = new ManualClock();
    const warehouse = await track(
      startComplianceWarehouseSimulator({ latencyScale: 0, clock, outageWindows: [[10_000, 20_000]] }),
    );
    const screen = (paymentRef: string) =>
      call(`${warehouse.url}/screenings`, "POST", {
        paymentRef,
        amountMinor: "100",
        currency: "EUR",
        counterpartyIban: COUNTERPARTY,
      });
    expect((await screen("pay-1")).status).toBe(200);
    clock.advance(10_000);
    const refused = await screen("pay-2");
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("20");
    expect(refused.headers.get("content-type")).toContain("application/problem+json");
    clock.advance(20_000);
    expect((await screen("pay-2")).status).toBe(200);
    expect(warehouse.screenings().map((screening) => screening.paymentRef)).toEqual(["pay-1", "pay-2"]);
  });
});

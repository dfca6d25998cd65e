import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError } from "../../src/platform/errors.ts";
import { customerContext, tellerContext } from "../helpers/contexts.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";

describe("holds", () => {
  let app: TestApp;
  let payer: { id: string };
  let payee: { id: string };

  beforeAll(async () => {
    app = await createTestApp();
    payer = await app.services.ledger.openAccount(customerContext("cus_payer"), "cus_payer", {
      type: "current",
      currency: "EUR",
    });
    payee = await app.services.ledger.openAccount(customerContext("cus_payee"), "cus_payee", {
      type: "current",
      currency: "EUR",
    });
    await app.services.payments.depositCash(
      tellerContext(),
      payer.id,
      { amount: { amount: "100.00", currency: "EUR" } },
      "hold-dep-1",
    );
  });
  afterAll(async () => {
    await app.destroy();
  });

  const balances = async (id: string, owner: string) => {
    const account = await app.services.ledger.getAccount(owner, id);
    return { booked: account.bookedMinor, available: account.availableMinor };
  };

  it("reduces the available balance without booking, and refuses a hold beyond it", async () => {
    const { ledger } = app.services;
    const placed = await app.database.db
      .transaction()
      .execute((tx) => ledger.placeHold(tx, { accountId: payer.id, amountMinor: 6_000n, currency: "EUR" }));
    expect(placed.ok).toBe(true);
    expect(await balances(payer.id, "cus_payer")).toEqual({ booked: 10_000n, available: 4_000n });
    const tooMuch = await app.database.db
      .transaction()
      .execute((tx) => ledger.placeHold(tx, { accountId: payer.id, amountMinor: 4_001n, currency: "EUR" }));
    expect(tooMuch).toEqual({ ok: false, reason: "insufficient-funds" });
    // A transfer cannot spend held money either.
    const payeeAccount = await ledger.getAccount("cus_payee", payee.id);
    await expect(
      app.services.payments.transfer(
        customerContext("cus_payer"),
        "cus_payer",
        { fromAccountId: payer.id, toIban: payeeAccount.iban, amount: { amount: "40.01", currency: "EUR" } },
        "hold-trf-1",
      ),
    ).rejects.toMatchObject({ slug: "insufficient-funds" });
    if (!placed.ok) throw new Error("unreachable");

    const captured = await app.database.db
      .transaction()
      .execute((tx) =>
        ledger.captureHold(tx, { holdId: placed.holdId, creditAccountId: payee.id, reference: "capture" }),
      );
    expect(captured.ok).toBe(true);
    expect(await balances(payer.id, "cus_payer")).toEqual({ booked: 4_000n, available: 4_000n });
    expect(await balances(payee.id, "cus_payee")).toEqual({ booked: 6_000n, available: 6_000n });

    // A captured hold cannot be captured or released again.
    await expect(
      app.database.db.transaction().execute((tx) => ledger.releaseHold(tx, placed.holdId)),
    ).rejects.toBeInstanceOf(AppError);
  });

  it("gives the funds back on release", async () => {
    const { ledger } = app.services;
    const placed = await app.database.db
      .transaction()
      .execute((tx) => ledger.placeHold(tx, { accountId: payer.id, amountMinor: 1_500n, currency: "EUR" }));
    if (!placed.ok) throw new Error(`hold refused: ${placed.reason}`);
    expect((await balances(payer.id, "cus_payer")).available).toBe(2_500n);
    await app.database.db.transaction().execute((tx) => ledger.releaseHold(tx, placed.holdId));
    expect(await balances(payer.id, "cus_payer")).toEqual({ booked: 4_000n, available: 4_000n });
    const report = await ledger.consistencyReport();
    expect(report.accountsOutOfBalance).toEqual([]);
  });

  it("refuses a hold in another currency", async () => {
    const result = await app.database.db
      .transaction()
      .execute((tx) =>
        app.services.ledger.placeHold(tx, { accountId: payer.id, amountMinor: 1n, currency: "USD" }),
      );
    expect(result).toEqual({ ok: false, reason: "currency-mismatch" });
  });
});

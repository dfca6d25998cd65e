import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LegacyCoreSimulator } from "../../simulators/legacy-core/server.ts";
import { findOutboxEvents } from "../../src/platform/events/outbox.ts";
import type { TestApp } from "../helpers/test-app.ts";
import { bearer, expectProblem } from "../identity.helpers.ts";
import { getAccount, idempotencyKey } from "../payments/payments.helpers.ts";
import { waitFor } from "../platform/wait.ts";
import {
  destination,
  legacyAccount,
  legacyApp,
  legacyCustomer,
  pay,
  payRequest,
  startCore,
  waitForStatus,
} from "./legacy.helpers.ts";

let core: LegacyCoreSimulator;
let app: TestApp;

beforeAll(async () => {
  core = await startCore();
  app = await legacyApp(core, {
    OMNICORE_LEGACY_EXPOSURE_MAX_MINOR: "5000",
    OMNICORE_LEGACY_STALE_AFTER_S: "60",
  });
});

afterAll(async () => {
  await app?.destroy();
  await core?.close();
});

describe("payments from a legacy-mastered account", () => {
  it("answers 202 at once, posts to the core once and credits the Omnicore destination once", async () => {
    const payer = await legacyCustomer(app, core, "100000");
    const payee = await destination(app);
    const key = idempotencyKey("legacy");
    const body = { toIban: payee.iban, amount: { amount: "25.00", currency: "EUR" }, reference: "rent" };
    const first = await payRequest(app, payer.token, payer.account.id, body, key);
    expect(first.statusCode, first.body).toBe(202);
    const payment = first.json<{ id: string; status: string }>();
    expect(payment.status).toBe("accepted");
    // The hold is in the available balance at once; the mirror's booked balance moves with the echo.
    expect((await legacyAccount(app, payer.token, payer.account.id)).balances.available.amount).toBe(
      "975.00",
    );
    const replay = await payRequest(app, payer.token, payer.account.id, body, key);
    expect(replay.json<{ id: string }>().id).toBe(payment.id);
    const other = await payRequest(app, payer.token, payer.account.id, { ...body, reference: "other" }, key);
    expectProblem(other, 422, "idempotency-key-reused");
    await waitForStatus(app, payer.token, payment.id, "posted");
    await waitFor(async () => {
      const account = await legacyAccount(app, payer.token, payer.account.id);
      return account.balances.booked.amount === "975.00";
    });
    const mirrored = await legacyAccount(app, payer.token, payer.account.id);
    expect(mirrored.balances.available.amount).toBe("975.00");
    expect(core.postings().filter((posting) => posting.postingId === payment.id)).toHaveLength(1);
    expect((await getAccount(app, payee.customer.token, payee.accountId)).balances.booked.amount).toBe(
      "25.00",
    );
    const transactions = await app.http.inject({
      method: "GET",
      url: `/v1/legacy-accounts/${payer.account.id}/transactions`,
      headers: bearer(payer.token),
    });
    const items = transactions.json<{ items: Array<{ id: string; paymentId: string | null }> }>().items;
    expect(items.filter((item) => item.id === payment.id)).toHaveLength(1);
  });

  it("refuses more than the mirror's available balance less the holds", async () => {
    const payer = await legacyCustomer(app, core, "1000");
    const payee = await destination(app);
    await pay(app, payer.token, payer.account.id, payee.iban, "8.00");
    const refused = await payRequest(app, payer.token, payer.account.id, {
      toIban: payee.iban,
      amount: { amount: "5.00", currency: "EUR" },
    });
    expectProblem(refused, 422, "insufficient-funds");
  });

  it("retries the posting through an outage and lands it exactly once", async () => {
    const payer = await legacyCustomer(app, core, "100000");
    const payee = await destination(app);
    core.controls({ down: true });
    let payment: { id: string };
    try {
      payment = await pay(app, payer.token, payer.account.id, payee.iban, "10.00");
      await waitFor(async () => {
        const row = await app.database.db
          .selectFrom("legacy_posting_outbox")
          .select("attempts")
          .where("payment_id", "=", payment.id)
          .executeTakeFirstOrThrow();
        return Number(row.attempts) >= 2;
      });
    } finally {
      core.controls({ down: false });
    }
    await waitForStatus(app, payer.token, payment.id, "posted");
    // Lost answers: the core books the same posting id once even if the sender asks again.
    await waitFor(
      async () =>
        (await legacyAccount(app, payer.token, payer.account.id)).balances.booked.amount === "990.00",
    );
    expect(core.postings().filter((posting) => posting.postingId === payment.id)).toHaveLength(1);
    expect((await getAccount(app, payee.customer.token, payee.accountId)).balances.booked.amount).toBe(
      "10.00",
    );
  });

  it("reverses a payment the core rejects and tells the customer", async () => {
    const payer = await legacyCustomer(app, core, "100000");
    const payee = await destination(app);
    core.controls({ rejectNextPostings: 1, rejectionReason: "account_closed" });
    const payment = await pay(app, payer.token, payer.account.id, payee.iban, "40.00");
    const rejected = await waitForStatus(app, payer.token, payment.id, "rejected");
    expect(rejected.statusReason).toBe("account_closed");
    const account = await legacyAccount(app, payer.token, payer.account.id);
    expect(account.balances.available.amount).toBe("1000.00");
    expect((await getAccount(app, payee.customer.token, payee.accountId)).balances.booked.amount).toBe(
      "0.00",
    );
    const told = await findOutboxEvents(app.database.db, {
      type: "notification.requested",
      aggregateId: payer.customerId,
    });
    expect(told.map((stored) => stored.event.data.template)).toContain("legacy_payment_rejected");
    const statuses = await findOutboxEvents(app.database.db, {
      type: "legacy_payment.status_changed",
      aggregateId: payment.id,
    });
    expect(statuses.map((stored) => stored.event.data.to)).toEqual(["accepted", "rejected"]);
  });

  it("refuses IBANs of other banks for now", async () => {
    const payer = await legacyCustomer(app, core, "100000");
    const refused = await payRequest(app, payer.token, payer.account.id, {
      toIban: "DE89370400440532013000",
      amount: { amount: "1.00", currency: "EUR" },
    });
    expectProblem(refused, 422, "account-not-found");
  });

  it("answers another customer's legacy account as one that does not exist (BOLA)", async () => {
    const alice = await legacyCustomer(app, core, "100000");
    const bob = await legacyCustomer(app, core, "100000");
    const payee = await destination(app);
    for (const url of [
      `/v1/legacy-accounts/${alice.account.id}`,
      `/v1/legacy-accounts/${alice.account.id}/transactions`,
    ]) {
      const response = await app.http.inject({ method: "GET", url, headers: bearer(bob.token) });
      expectProblem(response, 404, "not-found");
    }
    const stolen = await payRequest(app, bob.token, alice.account.id, {
      toIban: payee.iban,
      amount: { amount: "1.00", currency: "EUR" },
    });
    expectProblem(stolen, 404, "not-found");
    const alicePayment = await pay(app, alice.token, alice.account.id, payee.iban, "1.00");
    const peek = await app.http.inject({
      method: "GET",
      url: `/v1/legacy-payments/${alicePayment.id}`,
      headers: bearer(bob.token),
    });
    expectProblem(peek, 404, "not-found");
    const list = await app.http.inject({
      method: "GET",
      url: "/v1/legacy-accounts",
      headers: bearer(bob.token),
    });
    expect(list.json<{ items: Array<{ id: string }> }>().items.map((item) => item.id)).toEqual([
      bob.account.id,
    ]);
  });
});

describe("degraded mode", () => {
  it("shows the stale mirror, pays within the exposure limit, refuses beyond it, and posts everything on recovery", async () => {
    const payer = await legacyCustomer(app, core, "100000");
    const payee = await destination(app);
    core.controls({ down: true });
    let accepted: { id: string; degraded: boolean };
    try {
      await waitFor(
        async () => (await legacyAccount(app, payer.token, payer.account.id)).stale,
        400,
        25,
        "stale",
      );
      const account = await legacyAccount(app, payer.token, payer.account.id);
      expect(account.balances.booked.amount).toBe("1000.00");
      expect(account.asOf).toBe(payer.account.asOf);
      accepted = await pay(app, payer.token, payer.account.id, payee.iban, "30.00");
      expect(accepted.degraded).toBe(true);
      const beyond = await payRequest(app, payer.token, payer.account.id, {
        toIban: payee.iban,
        amount: { amount: "30.00", currency: "EUR" },
      });
      expectProblem(beyond, 503, "legacy-exposure-exceeded");
    } finally {
      core.controls({ down: false });
    }
    await waitForStatus(app, payer.token, accepted.id, "posted");
    await waitFor(
      async () => !(await legacyAccount(app, payer.token, payer.account.id)).stale,
      400,
      25,
      "fresh",
    );
    await waitFor(
      async () =>
        (await legacyAccount(app, payer.token, payer.account.id)).balances.booked.amount === "970.00",
    );
    expect(core.postings().filter((posting) => posting.postingId === accepted.id)).toHaveLength(1);
    expect((await getAccount(app, payee.customer.token, payee.accountId)).balances.booked.amount).toBe(
      "30.00",
    );
    // Back to normal: the exposure limit no longer applies.
    const after = await pay(app, payer.token, payer.account.id, payee.iban, "60.00");
    expect(after.degraded).toBe(false);
  });
});

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allTransactions } from "../../test/payments/payments.helpers.ts";
import { type CommandOutcome, OmnicoreClient } from "../src/index.ts";
import { FileSecureStore, FileStorage } from "../src/node/index.ts";
import { instantScheduler, type RealBank, startRealBank } from "./support/real-app.ts";

/** The outbox against the real payments module: queued offline, kept across a restart, delivered once. */

let bank: RealBank;
let directory: string;
beforeAll(async () => {
  bank = await startRealBank();
  directory = await mkdtemp(join(tmpdir(), "omnicore-sdk-outbox-"));
});
afterAll(async () => {
  await bank.app.destroy();
  await rm(directory, { recursive: true, force: true });
});

const offlineFetch: typeof fetch = async () => {
  throw new TypeError("fetch failed: network is unreachable");
};

async function openClient(online: boolean) {
  const client = await OmnicoreClient.create({
    baseUrl: bank.url,
    storage: new FileStorage(directory),
    secureStore: new FileSecureStore(directory),
    scheduler: instantScheduler,
    retry: { attemptsMax: 2 },
    fetch: online ? (input, init) => fetch(input, init) : offlineFetch,
  });
  const outcomes: CommandOutcome[] = [];
  client.events.on("command-outcome", (outcome) => outcomes.push(outcome));
  return { client, outcomes };
}

describe("outbox", () => {
  it("queues payments offline, keeps them across a restart, and delivers each exactly once", async () => {
    const first = await openClient(true);
    await first.client.login(bank.payer.email, bank.payer.password);
    await first.client.refreshAccounts();

    // The app restarts offline: balances come from the file store, payments go to the queue.
    const offline = await openClient(false);
    expect(offline.client.state.list<{ id: string }>("account").map((account) => account.id)).toEqual([
      bank.payer.account.id,
    ]);
    const queued = [];
    for (const amount of ["10.00", "20.00", "999999.00"]) {
      queued.push(
        await offline.client.transfer({
          fromAccountId: bank.payer.account.id,
          toIban: bank.payee.account.iban,
          amount: { amount, currency: "EUR" },
          reference: `offline ${amount}`,
        }),
      );
    }
    expect(await offline.client.flush()).toMatchObject({ delivered: 0, remaining: 3, interrupted: true });
    expect(offline.outcomes).toEqual([]);

    // Restart again, now online: the queue is read from disk and replayed in order.
    const online = await openClient(true);
    expect((await online.client.outbox.list()).map((command) => command.idempotencyKey)).toEqual(
      queued.map((command) => command.idempotencyKey),
    );
    expect(await online.client.flush()).toMatchObject({ delivered: 3, remaining: 0, interrupted: false });
    expect(online.outcomes.map((outcome) => outcome.kind)).toEqual(["accepted", "accepted", "rejected"]);
    const rejected = online.outcomes[2]!;
    expect(rejected.kind === "rejected" && rejected.reason).toBe("limit-exceeded");

    // A second flush (or a second device restart) sends nothing again.
    expect(await online.client.flush()).toMatchObject({ delivered: 0, remaining: 0 });
    const credits = (await allTransactions(bank.app, bank.payee.token, bank.payee.account.id)).filter(
      (transaction) => transaction.reference?.startsWith("offline"),
    );
    expect(credits.map((credit) => credit.amount.amount).sort()).toEqual(["10.00", "20.00"]);
  });
});

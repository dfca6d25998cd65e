import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type RealBank, startRealBank } from "../../sdk/test/support/real-app.ts";
import { allTransactions, eur, transferRequest } from "../../test/payments/payments.helpers.ts";
import { runCli } from "./main.ts";

let bank: RealBank;
let data: string;
beforeAll(async () => {
  bank = await startRealBank();
  data = await mkdtemp(join(tmpdir(), "omnicore-cli-"));
});
afterAll(async () => {
  await bank.app.destroy();
  await rm(data, { recursive: true, force: true });
});

async function cli(...args: string[]): Promise<string[]> {
  const lines: string[] = [];
  await runCli(["--server", bank.url, "--data", data, ...args], { print: (line) => lines.push(line) });
  return lines;
}

it("shows balances offline, queues a payment offline and delivers it once back online", async () => {
  expect(await cli("login", bank.payer.email, bank.payer.password)).toEqual(["signed in"]);
  expect((await cli("sync")).join("\n")).toMatch(/^synced/);
  expect(await cli("--offline", "balances")).toEqual([`${bank.payer.account.id}  1000.00 EUR`]);
  const queued = await cli(
    "--offline",
    "pay",
    bank.payer.account.id,
    bank.payee.account.iban,
    "12.50",
    "cli",
  );
  expect(queued[1]).toBe("offline: 1 payment(s) stay queued; run flush when online");
  expect((await cli("--offline", "outbox")).length).toBe(1);
  const delivered = await cli("flush");
  expect(delivered.at(-1)).toBe("1 payment(s) delivered, 0 waiting");
  expect(await cli("flush")).toEqual(["0 payment(s) delivered, 0 waiting"]);
  const credits = (await allTransactions(bank.app, bank.payee.token, bank.payee.account.id)).filter(
    (transaction) => transaction.reference === "cli",
  );
  expect(credits.map((credit) => credit.amount.amount)).toEqual(["12.50"]);
});

it("watches the event stream: a payment made elsewhere shows up live", async () => {
  const lines: string[] = [];
  let paid: Promise<string> | undefined;
  await runCli(["--server", bank.url, "--data", data, "watch", "1"], {
    print: (line) => {
      lines.push(line);
      if (line === "following the event stream" && !paid) {
        // The payer's other session pays while the CLI watches; the stream's first entry is that payment's.
        paid = transferRequest(bank.app, bank.payer.token, {
          fromAccountId: bank.payer.account.id,
          toIban: bank.payee.account.iban,
          amount: eur("0.99"),
        }).then((response) => response.json<{ id: string }>().id);
      }
    },
  });
  const changes = lines.filter((line) => line.startsWith("change "));
  expect(changes).toHaveLength(1);
  // The first entry after the sync: one of the payer's (the new payment, its account or a posting).
  const paidId = await paid;
  expect(paidId).toMatch(/^trf_/);
  const [, , kind, op, id] = changes[0]!.split(" ");
  expect(op).toBe("upsert");
  if (kind === "transfer") expect(id).toBe(paidId);
  else if (kind === "account") expect(id).toBe(bank.payer.account.id);
  else expect(kind).toBe("transaction");
});

import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type App, buildApp } from "../../src/app.ts";
import { AppError } from "../../src/platform/errors.ts";
import { customerContext, tellerContext } from "../helpers/contexts.ts";
import { createTestApp, type TestApp, usingPostgres } from "../helpers/test-app.ts";

/**
 * Concurrency: many transfers at once, both directions between the same pairs, on two nodes that
 * share one PostgreSQL database (each with its own connection pool), and the same Idempotency-Key
 * sent concurrently to both nodes. On PGlite the same test runs against the single embedded node.
 */
const ACCOUNTS = 12;
const TRANSFERS = 600;
const DUPLICATED_KEYS = 20;
const COPIES_PER_KEY = 4;
const OPENING_MINOR = 100_000n;

describe("concurrent transfers", () => {
  let nodeA: TestApp;
  let nodeB: App;
  const accounts: Array<{ id: string; iban: string; owner: string }> = [];

  beforeAll(async () => {
    nodeA = await createTestApp();
    nodeB = usingPostgres ? await buildApp({ config: nodeA.config }) : nodeA;
    for (let index = 0; index < ACCOUNTS; index++) {
      const owner = `cus_conc${index}`;
      const account = await nodeA.services.ledger.openAccount(customerContext(owner), owner, {
        type: "current",
        currency: "EUR",
      });
      await nodeA.services.payments.depositCash(
        tellerContext(),
        account.id,
        { amount: { amount: "1000.00", currency: "EUR" } },
        `conc-open-${index}`,
      );
      accounts.push({ id: account.id, iban: account.iban, owner });
    }
  });

  afterAll(async () => {
    if (nodeB !== nodeA) await nodeB.close();
    await nodeA.destroy();
  });

  function send(node: App, from: number, to: number, cents: number, key: string) {
    const source = accounts[from]!;
    const amount = { amount: (cents / 100).toFixed(2), currency: "EUR" };
    return node.services.payments
      .transfer(
        customerContext(source.owner),
        source.owner,
        { fromAccountId: source.id, toIban: accounts[to]!.iban, amount },
        key,
      )
      .then(
        (transfer) => ({ ok: true as const, id: transfer.id, key }),
        (error: unknown) => {
          if (error instanceof AppError) return { ok: false as const, slug: error.slug, key };
          throw error;
        },
      );
  }

  it("conserves money, never goes negative, never deadlocks a client and executes each key once", async () => {
    const requests: Array<
      Promise<{ ok: true; id: string; key: string } | { ok: false; slug: string; key: string }>
    > = [];
    for (let index = 0; index < TRANSFERS; index++) {
      const from = index % ACCOUNTS;
      // Alternate directions between the same pairs so opposite lock orders are attempted.
      const to = index % 2 === 0 ? (from + 1) % ACCOUNTS : (from + ACCOUNTS - 1) % ACCOUNTS;
      const node = index % 2 === 0 ? nodeA : nodeB;
      requests.push(send(node, from, to, 1 + ((index * 7919) % 5_000), `conc-trf-${index}`));
    }
    for (let key = 0; key < DUPLICATED_KEYS; key++) {
      for (let copy = 0; copy < COPIES_PER_KEY; copy++) {
        requests.push(
          send(copy % 2 === 0 ? nodeA : nodeB, key % ACCOUNTS, (key + 3) % ACCOUNTS, 100, `conc-dup-${key}`),
        );
      }
    }
    const results = await Promise.all(requests);

    const unexpected = results.filter(
      (r) => !r.ok && !["insufficient-funds", "idempotency-key-in-flight"].includes(r.slug),
    );
    expect(unexpected).toEqual([]);
    expect(results.filter((r) => r.ok).length).toBeGreaterThan(TRANSFERS / 2);

    for (let key = 0; key < DUPLICATED_KEYS; key++) {
      const ids = new Set(
        results.filter((r) => r.ok && r.key === `conc-dup-${key}`).map((r) => (r.ok ? r.id : "")),
      );
      expect(ids.size).toBe(1);
    }
    const db = nodeA.database.db;
    const duplicates = await sql<{ transfer_id: string }>`
      select transfer_id from ledger_journal_entries group by transfer_id having count(*) > 1`.execute(db);
    expect(duplicates.rows).toEqual([]);

    let total = 0n;
    for (const account of accounts) {
      const row = await nodeA.services.ledger.getAccount(account.owner, account.id);
      expect(row.bookedMinor).toBeGreaterThanOrEqual(0n);
      total += row.bookedMinor;
    }
    expect(total).toBe(OPENING_MINOR * BigInt(ACCOUNTS));
    const report = await nodeA.services.ledger.consistencyReport();
    expect(report.accountsOutOfBalance).toEqual([]);
    for (const { total: sum } of report.perCurrency) expect(BigInt(sum)).toBe(0n);
  });
});

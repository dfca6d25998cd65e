import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { type App, buildApp } from "../src/app.ts";
import { AppError } from "../src/platform/errors.ts";
import { customerContext, tellerContext } from "./helpers/contexts.ts";
import { createTestDatabase, testConfig, usingPostgres } from "./helpers/test-app.ts";

/**
 * Crash, restart and dependency-failure paths: nothing lost, nothing booked twice. The database
 * survives across app instances (a PGlite data directory on disk, or one PostgreSQL database).
 */

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Environment for apps that share one durable database; removed after the test. */
async function durableEnv(): Promise<Record<string, string>> {
  if (usingPostgres) {
    const database = await createTestDatabase();
    cleanups.push(database.drop);
    return { DATABASE_URL: database.url, DATABASE_POOL_SIZE: "5" };
  }
  const dir = mkdtempSync(join(tmpdir(), "omnicore-resilience-"));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  return { OMNICORE_DATA_DIR: dir };
}

async function open(env: Record<string, string>): Promise<App> {
  const app = await buildApp({ config: testConfig(env) });
  await app.start();
  return app;
}

async function fundedPair(app: App) {
  const payer = await app.services.ledger.openAccount(customerContext("cus_payer"), "cus_payer", {
    type: "current",
    currency: "EUR",
  });
  const payee = await app.services.ledger.openAccount(customerContext("cus_payee"), "cus_payee", {
    type: "current",
    currency: "EUR",
  });
  await app.services.payments.depositCash(
    tellerContext(),
    payer.id,
    { amount: { amount: "100.00", currency: "EUR" } },
    "fund-0001",
  );
  return { payer, payee };
}

function pay(
  app: App,
  from: { id: string },
  toIban: string,
  amount: string,
  key: string,
  reference?: string,
) {
  return app.services.payments.transfer(
    customerContext("cus_payer"),
    "cus_payer",
    {
      fromAccountId: from.id,
      toIban,
      amount: { amount, currency: "EUR" },
      ...(reference ? { reference } : {}),
    },
    key,
  );
}

describe("restart", () => {
  it("replays a transfer whose response was lost, after a restart, without booking it twice", async () => {
    const env = await durableEnv();
    const first = await open(env);
    const { payer, payee } = await fundedPair(first);
    const original = await pay(first, payer, payee.iban, "40.00", "lost-response-1");
    await first.close();

    const second = await open(env);
    cleanups.push(() => second.close());
    const retried = await pay(second, payer, payee.iban, "40.00", "lost-response-1");
    expect(retried).toEqual(original);
    expect((await second.services.ledger.getAccount("cus_payer", payer.id)).bookedMinor).toBe(6_000n);
    expect((await second.services.ledger.getAccount("cus_payee", payee.id)).bookedMinor).toBe(4_000n);
    const report = await second.services.ledger.consistencyReport();
    expect(report.accountsOutOfBalance).toEqual([]);
  });

  it("drains queued transfers and flushes the outbox on graceful shutdown", async () => {
    const env = await durableEnv();
    const first = await open(env);
    const { payer, payee } = await fundedPair(first);
    const inFlight = Array.from({ length: 20 }, (_, index) =>
      pay(first, payer, payee.iban, "1.00", `drain-${index}00`),
    );
    const closing = first.close();
    const results = await Promise.all(inFlight);
    await closing;
    expect(new Set(results.map((result) => result.id)).size).toBe(20);

    const second = await buildApp({ config: testConfig(env) });
    cleanups.push(() => second.close());
    const pending = await second.database.db
      .selectFrom("platform_outbox")
      .select("seq")
      .where("published_at", "is", null)
      .execute();
    expect(pending).toEqual([]);
    expect((await second.services.ledger.getAccount("cus_payee", payee.id)).bookedMinor).toBe(2_000n);
  });
});

describe("a failure in the middle of a batch", () => {
  it("books nothing for the failing transfer, the others once, and a retry executes it once", async () => {
    const env = await durableEnv();
    const app = await open(env);
    cleanups.push(() => app.close());
    const { payer, payee } = await fundedPair(app);
    // An injected fault: the database refuses to record one particular transfer.
    await sql`create function test_fault() returns trigger language plpgsql as $$
      begin
        if new.reference = 'explode' then raise exception 'injected fault'; end if;
        return new;
      end $$`.execute(app.database.db);
    await sql`create trigger test_fault before insert on payments_transfers
      for each row execute function test_fault()`.execute(app.database.db);

    const attempts = await Promise.allSettled([
      pay(app, payer, payee.iban, "10.00", "fault-good-1"),
      pay(app, payer, payee.iban, "7.00", "fault-poisoned", "explode"),
      pay(app, payer, payee.iban, "10.00", "fault-good-2"),
    ]);
    expect(attempts.map((attempt) => attempt.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    const failure = (attempts[1] as PromiseRejectedResult).reason;
    expect(failure).not.toBeInstanceOf(AppError);
    expect((await app.services.ledger.getAccount("cus_payer", payer.id)).bookedMinor).toBe(8_000n);

    await sql`drop trigger test_fault on payments_transfers`.execute(app.database.db);
    const retried = await pay(app, payer, payee.iban, "7.00", "fault-poisoned", "explode");
    const again = await pay(app, payer, payee.iban, "7.00", "fault-poisoned", "explode");
    expect(again).toEqual(retried);
    expect((await app.services.ledger.getAccount("cus_payer", payer.id)).bookedMinor).toBe(7_300n);
    expect((await app.services.ledger.getAccount("cus_payee", payee.id)).bookedMinor).toBe(2_700n);
    const report = await app.services.ledger.consistencyReport();
    expect(report.accountsOutOfBalance).toEqual([]);
    for (const { total } of report.perCurrency) expect(BigInt(total)).toBe(0n);
  });
});

describe("a Redis outage", () => {
  it("fails closed with 503 service-unavailable, never 500 and never an unchecked token", async () => {
    // Nothing listens on port 1: every cache command fails after ioredis' retries.
    const app = await buildApp({
      config: testConfig({ REDIS_URL: "redis://127.0.0.1:1", OMNICORE_CACHE_PREFIX: "outage:" }),
    });
    cleanups.push(() => app.close());
    const login = await app.http.inject({
      method: "POST",
      url: "/v1/auth/login",
      payload: { email: "someone@example.com", password: "glacier umbrella quietly orbits 7" },
    });
    expect(login.statusCode, login.body).toBe(503);
    expect(login.json<{ type: string }>().type).toBe("https://omnicore.dev/problems/service-unavailable");
    // A valid access token cannot be checked against revocation: refused (503), not let through.
    const origin = {
      requestId: "t",
      channel: "mobile" as const,
      deviceId: undefined,
      actor: { type: "anonymous" as const },
    };
    const credentials = { email: "ada.outage@example.com", password: "glacier umbrella quietly orbits 7" };
    await app.services.identity.registerCustomer(origin, {
      ...credentials,
      givenName: "Ada",
      familyName: "Byron",
    });
    const tokens = await app.services.identity.login(origin, credentials);
    const me = await app.http.inject({
      method: "GET",
      url: "/v1/customers/me",
      headers: { authorization: `Bearer ${tokens.accessToken}` },
    });
    expect(me.statusCode, me.body).toBe(503);
  });
});

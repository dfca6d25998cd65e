import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import { buildApp } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import type { EntryRequest } from "../src/modules/ledger/index.ts";
import type { RequestContext } from "../src/platform/context.ts";
import { inTransaction } from "../src/platform/db/database.ts";
import { uuidV7Ids } from "../src/platform/ids.ts";
import {
  benchDatabase,
  peakRssMb,
  percentile,
  postgresReachable,
  staffLoginOverHttp,
  startServer,
  table,
} from "./support.ts";

/**
 * `npm run bench -- ledger`: transfers per second and latency of POST /v1/transfers over HTTP at 64
 * connections, transfers per second of the posting path without HTTP, and the server's peak RSS,
 * on PGlite and on PostgreSQL (durable commits: synchronous_commit and fsync as the server has them).
 */
const HTTP_CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const HTTP_DURATION_S = Number(process.env.BENCH_DURATION_S ?? 15);
const HTTP_CUSTOMERS = 64;
const POSTING_ACCOUNTS = 2_000;
const POSTING_TRANSFERS = Number(process.env.BENCH_POSTING_TRANSFERS ?? 60_000);
const POSTING_BATCH = 250;
const SERVICE_TRANSFERS = Number(process.env.BENCH_SERVICE_TRANSFERS ?? 20_000);
const ADMIN = { email: "bench-admin@omnicore.local", password: "bench-admin-password-2026" };
const PASSWORD = "bench-customer-password-2026";

export interface Backend {
  name: "pglite" | "postgres";
  env: Record<string, string>;
  cleanup: () => Promise<void>;
}

export async function backends(): Promise<Backend[]> {
  const dir = mkdtempSync(join(tmpdir(), "omnicore-bench-"));
  const list: Backend[] = [
    {
      name: "pglite",
      env: { OMNICORE_DATA_DIR: dir },
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    },
  ];
  if (await postgresReachable()) {
    list.push({ name: "postgres", env: {}, cleanup: async () => undefined });
  } else {
    process.stdout.write("PostgreSQL not reachable: PostgreSQL figures skipped\n");
  }
  const only = process.env.BENCH_BACKENDS?.split(",");
  return only ? list.filter((backend) => only.includes(backend.name)) : list;
}

/** Each phase gets a fresh database (PostgreSQL) or data directory (PGlite). */
async function freshEnv(
  backend: Backend,
): Promise<{ env: Record<string, string>; drop: () => Promise<void> }> {
  if (backend.name === "postgres") {
    const database = await benchDatabase();
    return { env: { DATABASE_URL: database.url, DATABASE_POOL_SIZE: "20" }, drop: database.drop };
  }
  const dir = mkdtempSync(join(tmpdir(), "omnicore-bench-"));
  return { env: { OMNICORE_DATA_DIR: dir }, drop: async () => rmSync(dir, { recursive: true, force: true }) };
}

const teller: RequestContext = {
  requestId: "bench",
  channel: "branch",
  deviceId: undefined,
  actor: { type: "staff", id: "stf_bench", role: "teller", sessionId: "bench" },
};

function customerContext(id: string): RequestContext {
  return {
    requestId: "bench",
    channel: "mobile",
    deviceId: undefined,
    actor: { type: "customer", id, sessionId: "b" },
  };
}

async function inProcessFigures(backend: Backend) {
  const { env, drop } = await freshEnv(backend);
  const app = await buildApp({
    config: loadConfig({ LOG_LEVEL: "silent", OMNICORE_STEP_UP: "off", ...env }),
  });
  try {
    const accounts = await openFundedAccounts(app, POSTING_ACCOUNTS);
    const posting = await postingPath(app, accounts);
    const service = await servicePath(app, accounts);
    return { posting, service };
  } finally {
    await app.close();
    await drop();
  }
}

type BenchApp = Awaited<ReturnType<typeof buildApp>>;

async function openFundedAccounts(app: BenchApp, count: number) {
  const accounts: Array<{ id: string; iban: string; owner: string }> = [];
  for (let start = 0; start < count; start += 100) {
    const chunk = await Promise.all(
      Array.from({ length: Math.min(100, count - start) }, async (_, offset) => {
        const owner = `cus_bench${start + offset}`;
        const ctx = customerContext(owner);
        const account = await app.services.ledger.openAccount(ctx, owner, {
          type: "current",
          currency: "EUR",
        });
        await app.services.payments.depositCash(
          teller,
          account.id,
          { amount: { amount: "1000000.00", currency: "EUR" } },
          `bench-open-${start + offset}`,
        );
        return { id: account.id, iban: account.iban, owner };
      }),
    );
    accounts.push(...chunk);
  }
  return accounts;
}

/** The ledger's posting path: journal entries booked in batches, no HTTP, no idempotency. */
async function postingPath(app: BenchApp, accounts: Array<{ id: string }>) {
  const workers = app.database.kind === "postgres" ? 4 : 1;
  const perWorker = Math.floor(POSTING_TRANSFERS / workers);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      // Each worker moves money among its own customers, as different customers' payments do.
      const mine = accounts.filter((_, index) => index % workers === worker);
      for (let done = 0; done < perWorker; done += POSTING_BATCH) {
        const entries: EntryRequest[] = Array.from({ length: POSTING_BATCH }, () => {
          const from = mine[Math.floor(Math.random() * mine.length)]!;
          let to = mine[Math.floor(Math.random() * mine.length)]!;
          if (to === from) to = mine[(mine.indexOf(from) + 1) % mine.length]!;
          return {
            entryId: uuidV7Ids.next("jrn"),
            kind: "transfer",
            transferId: null,
            reference: null,
            currency: "EUR",
            legs: [
              { accountId: from.id, amountMinor: -1n },
              { accountId: to.id, amountMinor: 1n },
            ],
          };
        });
        await inTransaction(app.database.db, (tx) => app.services.ledger.postEntries(tx, entries));
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { transfersPerS: Math.round((perWorker * workers) / seconds), workers };
}

/** The whole transfer command without HTTP: validation, idempotency, batching, ledger, outbox. */
async function servicePath(app: BenchApp, accounts: Array<{ id: string; iban: string; owner: string }>) {
  const inFlightMax = 256;
  let next = 0;
  const latenciesMs: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlightMax }, async () => {
      while (next < SERVICE_TRANSFERS) {
        const index = next++;
        const from = accounts[index % accounts.length]!;
        const to = accounts[(index * 7 + 1) % accounts.length]!;
        const t0 = performance.now();
        await app.services.payments.transfer(
          customerContext(from.owner),
          from.owner,
          { fromAccountId: from.id, toIban: to.iban, amount: { amount: "0.01", currency: "EUR" } },
          `bench-svc-${index}`,
        );
        latenciesMs.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latenciesMs.sort((a, b) => a - b);
  return {
    transfersPerS: Math.round(SERVICE_TRANSFERS / seconds),
    p50Ms: percentile(latenciesMs, 50),
    p99Ms: percentile(latenciesMs, 99),
  };
}

async function post(base: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(base + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.status === 204 ? undefined : ((await response.json()) as Record<string, unknown>);
}

function startLedgerServer(env: Record<string, string>) {
  // BENCH_SERVER_NODE_FLAGS replaces the V8 flags of `npm start`, which are the default.
  const nodeFlags = process.env.BENCH_SERVER_NODE_FLAGS?.split(" ").filter(Boolean);
  return startServer(
    {
      ...env,
      OMNICORE_ADMIN_EMAIL: ADMIN.email,
      OMNICORE_ADMIN_PASSWORD: ADMIN.password,
      OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "100000",
      OMNICORE_RATE_LIMIT_AUTH_PER_ACCOUNT_PER_MINUTE: "100000",
      // The booking path is measured: every payee here would otherwise need a step-up first.
      OMNICORE_STEP_UP: "off",
    },
    nodeFlags,
  );
}

async function seedOverHttp(base: string) {
  const adminToken = await staffLoginOverHttp(base, ADMIN);
  const tellerLogin = { email: "bench-teller@omnicore.local", password: ADMIN.password };
  await post(
    base,
    "/v1/staff/users",
    { ...tellerLogin, role: "teller" },
    { authorization: `Bearer ${adminToken}` },
  );
  const tellerToken = await staffLoginOverHttp(base, tellerLogin);
  const customers: Array<{ token: string; accountId: string; iban: string }> = [];
  for (let index = 0; index < HTTP_CUSTOMERS; index++) {
    const email = `bench${index}@omnicore.local`;
    await post(base, "/v1/auth/register", {
      email,
      password: PASSWORD,
      givenName: "Load",
      familyName: `No${index}`,
    });
    const token = (await post(
      base,
      "/v1/auth/login",
      { email, password: PASSWORD },
      { "x-channel": "mobile" },
    ))!.accessToken as string;
    const account = (await post(
      base,
      "/v1/accounts",
      { type: "current", currency: "EUR" },
      { authorization: `Bearer ${token}` },
    ))!;
    await post(
      base,
      `/v1/staff/accounts/${account.id}/deposits`,
      { amount: { amount: "1000000.00", currency: "EUR" } },
      { authorization: `Bearer ${tellerToken}`, "idempotency-key": `bench-dep-${index}` },
    );
    customers.push({ token, accountId: account.id as string, iban: account.iban as string });
  }
  return customers;
}

/** `POST /v1/transfers` under load over HTTP; `extraEnv` varies the server (e.g. fraud on or off). */
export async function httpFigures(backend: Backend, extraEnv: Record<string, string> = {}) {
  const { env, drop } = await freshEnv(backend);
  const { child, base } = await startLedgerServer({ ...env, ...extraEnv });
  try {
    const customers = await seedOverHttp(base);
    let connection = 0;
    let sequence = 0;
    const result = await autocannon({
      url: base,
      connections: HTTP_CONNECTIONS,
      duration: HTTP_DURATION_S,
      requests: [
        {
          method: "POST",
          path: "/v1/transfers",
          setupRequest: (request: autocannon.Request, state: object) => {
            const context = state as { customer?: number };
            context.customer ??= connection++ % customers.length;
            const mine = context.customer;
            const me = customers[mine]!;
            // Any other customer: offset 1..n-1 from mine, wrapping around.
            const payee = customers[(mine + 1 + (sequence % (customers.length - 1))) % customers.length]!;
            sequence++;
            return {
              ...request,
              headers: {
                "content-type": "application/json",
                authorization: `Bearer ${me.token}`,
                "idempotency-key": `bench-http-${sequence}-${Math.random().toString(36).slice(2, 10)}`,
              },
              body: JSON.stringify({
                fromAccountId: me.accountId,
                toIban: payee.iban,
                amount: { amount: "0.01", currency: "EUR" },
              }),
            };
          },
        },
      ],
    });
    const ok = result["2xx"];
    return {
      transfersPerS: Math.round(ok / HTTP_DURATION_S),
      p50Ms: result.latency.p50,
      p99Ms: result.latency.p99,
      errors: result.non2xx + result.errors + result.timeouts,
      peakRssMb: Math.round(peakRssMb(child.pid!)),
    };
  } finally {
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
    await drop();
  }
}

export async function runLedgerBenchmark(): Promise<void> {
  const rows: Array<Record<string, string | number>> = [];
  for (const backend of await backends()) {
    process.stdout.write(`\n[ledger] ${backend.name}: posting path and service path…\n`);
    const inProcess = await inProcessFigures(backend);
    process.stdout.write(
      `[ledger] ${backend.name}: HTTP at ${HTTP_CONNECTIONS} connections for ${HTTP_DURATION_S} s…\n`,
    );
    const http = await httpFigures(backend).catch((error: unknown) => {
      process.stdout.write(`[ledger] HTTP run failed: ${error instanceof Error ? error.message : error}\n`);
      return undefined;
    });
    rows.push({
      backend: backend.name,
      "posting path tx/s": inProcess.posting.transfersPerS,
      "service path tx/s": inProcess.service.transfersPerS,
      "service p50/p99 ms": `${inProcess.service.p50Ms.toFixed(1)}/${inProcess.service.p99Ms.toFixed(1)}`,
      "HTTP tx/s": http?.transfersPerS ?? "n/a",
      "HTTP p50/p99 ms": http ? `${http.p50Ms}/${http.p99Ms}` : "n/a",
      "HTTP errors": http?.errors ?? "n/a",
      "server peak RSS MB": http?.peakRssMb ?? "n/a",
    });
    await backend.cleanup();
  }
  process.stdout.write(
    "\nLedger benchmark (targets on PostgreSQL: HTTP ≥ 2,000 tx/s with p99 ≤ 50 ms, posting path ≥ 10,000 tx/s, RSS ≤ 300 MB)\n",
  );
  table(rows);
}

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildApp } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import type { RequestContext } from "../src/platform/context.ts";
import type { PaymentRiskInput } from "../src/platform/fraud.ts";
import { type Backend, backends, httpFigures } from "./ledger.bench.ts";
import { benchDatabase, percentile, table } from "./support.ts";

/**
 * `npm run bench -- payments`: what the real-time fraud decision costs. First the decision alone
 * (profile read, velocity counters, rule evaluation, the stored decision and its event), one at a
 * time and with many in flight; then `POST /v1/transfers` over HTTP with fraud decisions on and
 * off, so the difference is what a customer's payment pays for the decision.
 */

const DECISIONS = Number(process.env.BENCH_DECISIONS ?? 3_000);
const CONCURRENT_DECISIONS = Number(process.env.BENCH_CONCURRENT_DECISIONS ?? 6_000);
const IN_FLIGHT = 32;
const CUSTOMERS = 200;

type BenchApp = Awaited<ReturnType<typeof buildApp>>;

function customerContext(id: string, deviceId: string): RequestContext {
  return {
    requestId: "bench",
    channel: "mobile",
    deviceId,
    actor: { type: "customer", id, sessionId: `ses_${id}` },
    origin: { ip: "192.0.2.10", country: "DE" },
  };
}

async function freshEnv(backend: Backend) {
  if (backend.name === "postgres") {
    const database = await benchDatabase();
    return { env: { DATABASE_URL: database.url, DATABASE_POOL_SIZE: "20" }, drop: database.drop };
  }
  const dir = mkdtempSync(join(tmpdir(), "omnicore-bench-"));
  return { env: { OMNICORE_DATA_DIR: dir }, drop: async () => rmSync(dir, { recursive: true, force: true }) };
}

function input(index: number): PaymentRiskInput {
  const customer = `cus_bench${index % CUSTOMERS}`;
  return {
    context: customerContext(customer, `dev-${index % CUSTOMERS}`),
    customerId: customer,
    transferId: `trf_${index.toString(16).padStart(32, "0")}`,
    fromAccountId: `acc_${(index % CUSTOMERS).toString(16).padStart(32, "0")}`,
    toIban: "DE89370400440532013000",
    // Amounts vary around a usual payment, as a day's payments do.
    amountMinor: BigInt(1_000 + ((index * 7919) % 20_000)),
    currency: "EUR",
    external: false,
  };
}

function summary(samplesMs: number[], elapsedMs: number) {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  return {
    perS: Math.round((samplesMs.length / elapsedMs) * 1000),
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
  };
}

/** One decision at a time: the latency a single payment sees. */
async function sequential(app: BenchApp) {
  const fraud = app.services.fraud;
  for (let warm = 0; warm < 200; warm++) await fraud.assessPayment(input(1_000_000 + warm));
  const samples: number[] = [];
  const started = performance.now();
  for (let index = 0; index < DECISIONS; index++) {
    const begin = performance.now();
    await fraud.assessPayment(input(index));
    samples.push(performance.now() - begin);
  }
  return summary(samples, performance.now() - started);
}

/** Many payments deciding at once, as under load: throughput, and the latency each one sees. */
async function concurrent(app: BenchApp) {
  const fraud = app.services.fraud;
  const samples: number[] = [];
  let next = DECISIONS;
  const end = DECISIONS + CONCURRENT_DECISIONS;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < end) {
        const index = next++;
        const begin = performance.now();
        await fraud.assessPayment(input(index));
        samples.push(performance.now() - begin);
      }
    }),
  );
  return summary(samples, performance.now() - started);
}

async function decisionFigures(backend: Backend) {
  const { env, drop } = await freshEnv(backend);
  const app = await buildApp({
    config: loadConfig({ LOG_LEVEL: "silent", OMNICORE_STEP_UP: "off", ...env }),
  });
  try {
    await app.start();
    return { sequential: await sequential(app), concurrent: await concurrent(app) };
  } finally {
    await app.close();
    await drop();
  }
}

const fixed = (value: number) => value.toFixed(2);

export async function runPaymentsBenchmark(): Promise<void> {
  const rows: Array<Record<string, string | number>> = [];
  const httpRows: Array<Record<string, string | number>> = [];
  for (const backend of await backends()) {
    process.stdout.write(`\n[payments] ${backend.name}: fraud decisions alone…\n`);
    const decisions = await decisionFigures(backend);
    rows.push({
      backend: backend.name,
      "decisions/s (1 at a time)": decisions.sequential.perS,
      "p50/p99 ms (1 at a time)": `${fixed(decisions.sequential.p50Ms)}/${fixed(decisions.sequential.p99Ms)}`,
      [`decisions/s (${IN_FLIGHT} in flight)`]: decisions.concurrent.perS,
      [`p50/p99 ms (${IN_FLIGHT} in flight)`]: `${fixed(decisions.concurrent.p50Ms)}/${fixed(decisions.concurrent.p99Ms)}`,
    });
    for (const fraud of ["off", "on"] as const) {
      process.stdout.write(`[payments] ${backend.name}: POST /v1/transfers with fraud ${fraud}…\n`);
      const http = await httpFigures(backend, { OMNICORE_FRAUD: fraud }).catch((error: unknown) => {
        process.stdout.write(
          `[payments] HTTP run failed: ${error instanceof Error ? error.message : error}\n`,
        );
        return undefined;
      });
      httpRows.push({
        backend: backend.name,
        fraud,
        "HTTP tx/s": http?.transfersPerS ?? "n/a",
        "HTTP p50/p99 ms": http ? `${http.p50Ms}/${http.p99Ms}` : "n/a",
        errors: http?.errors ?? "n/a",
      });
    }
    await backend.cleanup();
  }
  process.stdout.write("\nFraud decision alone (target: adds ≤ 5 ms p99 to a payment)\n");
  table(rows);
  process.stdout.write("\nPOST /v1/transfers with fraud decisions off and on\n");
  table(httpRows);
}

import { randomBytes } from "node:crypto";
import { startComplianceWarehouseSimulator } from "../simulators/compliance-warehouse/server.ts";
import { startLegacyCoreSimulator } from "../simulators/legacy-core/server.ts";
import { startLendingPlatformSimulator } from "../simulators/lending-platform/server.ts";
import { type App, buildApp } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import { type Backend, backends } from "./ledger.bench.ts";
import { benchDatabase, percentile, table } from "./support.ts";

/**
 * The product brief's wire transfer, two ways. Naive: an orchestrator calls the legacy core
 * (5 s), the lending platform (8 s) and the compliance warehouse (12 s) one after the other and
 * answers when all three did. Omnicore: POST /v1/legacy-accounts/{id}/payments, decided against
 * the mirror and answered 202 while the posting goes to the core in the background. Latencies
 * are scaled by JOURNEY_LATENCY_SCALE (default 0.01); figures are printed scaled and as their
 * real-time equivalent. A second run takes the core down for part of the time and ends with a
 * reconciliation that should report zero breaks.
 */

const SCALE = Number(process.env.JOURNEY_LATENCY_SCALE ?? 0.01);
const NAIVE_SAMPLES = Number(process.env.JOURNEY_NAIVE_SAMPLES ?? 20);
const OMNICORE_SAMPLES = Number(process.env.JOURNEY_OMNICORE_SAMPLES ?? 200);
const PASSWORD = "correct horse battery staple 42";

async function json(response: Response): Promise<unknown> {
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

async function signIn(app: App): Promise<{ customerId: string; token: string }> {
  const email = `journey.${randomBytes(4).toString("hex")}@example.com`;
  const registered = await app.http.inject({
    method: "POST",
    url: "/v1/auth/register",
    payload: { email, password: PASSWORD, givenName: "Ada", familyName: "Lovelace" },
  });
  const customerId = registered.json<{ customerId: string }>().customerId;
  const login = await app.http.inject({
    method: "POST",
    url: "/v1/auth/login",
    payload: { email, password: PASSWORD },
  });
  return { customerId, token: login.json<{ accessToken: string }>().accessToken };
}

function summary(path: string, samplesMs: number[], realFactor: number) {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const p50 = percentile(sorted, 50);
  const p99 = percentile(sorted, 99);
  return {
    path,
    samples: sorted.length,
    "p50 ms (scaled)": p50.toFixed(2),
    "p99 ms (scaled)": p99.toFixed(2),
    "p50 ms (real-time eq.)": (p50 * realFactor).toFixed(1),
    "p99 ms (real-time eq.)": (p99 * realFactor).toFixed(1),
    p50,
    p99,
  };
}

/** PGlite in memory, or a fresh PostgreSQL database that is dropped afterwards. */
async function databaseEnv(backend: Backend) {
  if (backend.name === "pglite") return { env: { OMNICORE_DATA_DIR: "memory" }, drop: async () => undefined };
  const database = await benchDatabase();
  return { env: { DATABASE_URL: database.url, DATABASE_POOL_SIZE: "10" }, drop: database.drop };
}

async function runOnce(backend: Backend, label: string, outage: boolean): Promise<void> {
  const database = await databaseEnv(backend);
  const fixed = (ms: number) => ({ kind: "fixed" as const, ms });
  const core = await startLegacyCoreSimulator({
    latencyScale: SCALE,
    latency: fixed(5_000),
    onError: () => undefined,
  });
  const lending = await startLendingPlatformSimulator({ latencyScale: SCALE, onError: () => undefined });
  const compliance = await startComplianceWarehouseSimulator({
    latencyScale: SCALE,
    onError: () => undefined,
  });
  const app = await buildApp({
    config: loadConfig({
      LOG_LEVEL: "silent",
      ...database.env,
      OMNICORE_STEP_UP: "off",
      OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "100000",
      OMNICORE_RATE_LIMIT_AUTH_PER_ACCOUNT_PER_MINUTE: "100000",
      OMNICORE_LEGACY_URL: core.url,
      OMNICORE_LEGACY_FEED_INTERVAL_MS: "50",
      OMNICORE_LEGACY_SENDER_INTERVAL_MS: "20",
      OMNICORE_LEGACY_RETRY_BACKOFF_MAX_MS: "200",
      OMNICORE_LEGACY_RECONCILE_INTERVAL_S: "0",
      OMNICORE_LEGACY_EXPOSURE_MAX_MINOR: "100000000",
    }),
  });
  await app.start();
  try {
    const payer = await signIn(app);
    const payee = await signIn(app);
    const [legacyAccount] = core.seedAccounts([
      { currency: "EUR", ownerRef: payer.customerId, bookedMinor: "100000000" },
    ]);
    const opened = await app.http.inject({
      method: "POST",
      url: "/v1/accounts",
      headers: {
        authorization: `Bearer ${payee.token}`,
        "idempotency-key": `journey-${randomBytes(6).toString("hex")}`,
      },
      payload: { type: "current", currency: "EUR" },
    });
    const toIban = opened.json<{ iban: string }>().iban;
    let mirrorId: string | undefined;
    while (!mirrorId) {
      const list = await app.http.inject({
        method: "GET",
        url: "/v1/legacy-accounts",
        headers: { authorization: `Bearer ${payer.token}` },
      });
      mirrorId = list.json<{ items: Array<{ id: string }> }>().items[0]?.id;
      if (!mirrorId) await new Promise((resolve) => setTimeout(resolve, 20));
    }

    const naiveMs: number[] = [];
    for (let sample = 0; sample < NAIVE_SAMPLES; sample++) {
      const started = performance.now();
      await json(await fetch(`${core.url}/accounts/${legacyAccount!.id}`));
      await json(
        await fetch(`${lending.url}/funds-checks`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ accountRef: legacyAccount!.id, amountMinor: "100", currency: "EUR" }),
        }),
      ).catch(() => undefined);
      await json(
        await fetch(`${compliance.url}/screenings`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            paymentRef: `naive-${sample}`,
            amountMinor: "100",
            currency: "EUR",
            counterpartyIban: toIban,
          }),
        }),
      ).catch(() => undefined);
      naiveMs.push(performance.now() - started);
    }

    if (outage) core.controls({ downForMs: 2_000 });
    const omnicoreMs: number[] = [];
    let refused = 0;
    for (let sample = 0; sample < OMNICORE_SAMPLES; sample++) {
      const started = performance.now();
      const response = await app.http.inject({
        method: "POST",
        url: `/v1/legacy-accounts/${mirrorId}/payments`,
        headers: {
          authorization: `Bearer ${payer.token}`,
          "idempotency-key": `journey-${randomBytes(8).toString("hex")}`,
        },
        payload: { toIban, amount: { amount: "1.00", currency: "EUR" }, reference: "journey" },
      });
      omnicoreMs.push(performance.now() - started);
      if (response.statusCode !== 202) refused += 1;
      if (outage) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // Everything queued posts, the mirror catches up, and reconciliation compares.
    while ((await app.services.legacy.payments.pendingCount()) > 0)
      await new Promise((resolve) => setTimeout(resolve, 50));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const report = await app.services.legacy.reconcile();
    const realFactor = 1 / SCALE;
    const naive = summary("naive orchestrator (legacy → lending → compliance)", naiveMs, realFactor);
    const omni = summary("Omnicore POST /v1/legacy-accounts/{id}/payments", omnicoreMs, 1);
    process.stdout.write(
      `\njourney on ${backend.name} (${label}): latency scale ${SCALE}; Omnicore's latency does not scale with the core's\n`,
    );
    table([naive, omni].map(({ p50: _p50, p99: _p99, ...row }) => row));
    process.stdout.write(
      `  ratio p50 (real-time naive / Omnicore): ${((naive.p50 * realFactor) / omni.p50).toFixed(0)}×, ` +
        `p99: ${((naive.p99 * realFactor) / omni.p99).toFixed(0)}×; refused ${refused}; ` +
        `postings in core ${core.postings().length}; reconciliation ${report?.status ?? "skipped"} with ${report?.breaksCount ?? "?"} breaks\n`,
    );
  } finally {
    await app.close();
    await Promise.all([core.close(), lending.close(), compliance.close()]);
    await database.drop();
  }
}

export async function runJourneyBenchmark(): Promise<void> {
  for (const backend of await backends()) {
    await runOnce(backend, "legacy core up", false);
    await runOnce(backend, "legacy core down for 2 s of the run", true);
    await backend.cleanup();
  }
}

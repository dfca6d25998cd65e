import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startKycProviderSimulator } from "../simulators/kyc-provider/server.ts";
import { buildApp } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import type { RequestContext } from "../src/platform/context.ts";
import { signWebhook } from "../src/platform/webhook-signature.ts";
import { type Backend, backends } from "./ledger.bench.ts";
import { benchDatabase, percentile, table } from "./support.ts";

/**
 * `npm run bench -- onboarding`: the instant-onboarding journey, phase by phase, and above all the
 * target — from the KYC provider's approval webhook to an account that accepts a deposit (p99 ≤ 2
 * s). The KYC simulator takes the submissions (over HTTP, as in production) but is told to decide
 * only after the run, and the bench plays the provider's approval webhook itself, signed with the
 * shared secret, so the clock starts exactly when the approval reaches the bank. Then the
 * screening target: one name against the whole bundled OFAC snapshot (p99 ≤ 20 ms).
 */

const APPLICATIONS = Number(process.env.BENCH_APPLICATIONS ?? 100);
const SCREENINGS = Number(process.env.BENCH_SCREENINGS ?? 2_000);
const SECRET = "bench-kyc-webhook-secret";
const API_KEY = "bench-kyc-api-key";
const PASSWORD = "glacier umbrella quietly orbits 7";

type BenchApp = Awaited<ReturnType<typeof buildApp>>;

const TELLER: RequestContext = {
  requestId: "bench",
  channel: "branch",
  deviceId: undefined,
  actor: { type: "staff", id: "stf_bench", role: "teller", sessionId: "ses_bench" },
};

async function freshEnv(backend: Backend) {
  if (backend.name === "postgres") {
    const database = await benchDatabase();
    return { env: { DATABASE_URL: database.url, DATABASE_POOL_SIZE: "10" }, drop: database.drop };
  }
  const dir = mkdtempSync(join(tmpdir(), "omnicore-bench-"));
  return { env: { OMNICORE_DATA_DIR: dir }, drop: async () => rmSync(dir, { recursive: true, force: true }) };
}

async function inject(
  app: BenchApp,
  method: "POST" | "PATCH",
  url: string,
  token: string | undefined,
  payload?: unknown,
) {
  const response = await app.http.inject({
    method,
    url,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), "x-channel": "mobile" },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
  if (response.statusCode >= 300)
    throw new Error(`${method} ${url}: ${response.statusCode} ${response.body}`);
  return response.json<Record<string, unknown>>();
}

async function signedIn(app: BenchApp, index: number): Promise<string> {
  const email = `applicant-${index}-${Date.now()}@bench.example`;
  await inject(app, "POST", "/v1/auth/register", undefined, {
    email,
    password: PASSWORD,
    givenName: "Ada",
    familyName: "Bench",
  });
  const tokens = await inject(app, "POST", "/v1/auth/login", undefined, { email, password: PASSWORD });
  return tokens.accessToken as string;
}

function applicationData(index: number) {
  return {
    personal: {
      givenName: "Ada",
      familyName: `Benchmark${index}`,
      dateOfBirth: "1990-04-01",
      nationality: "DE",
    },
    address: { line1: "Hauptstrasse 1", postalCode: "10115", city: "Berlin", country: "DE" },
    taxResidences: [{ country: "DE", taxId: "12345678901" }],
    document: { type: "passport", number: `C0${index}X`, issuingCountry: "DE", expiresOn: "2031-01-31" },
    consents: [
      { kind: "terms", version: "2026-10", accepted: true },
      { kind: "privacy", version: "2026-10", accepted: true },
    ],
  };
}

function approval(applicationId: string, verificationId: string): string {
  return JSON.stringify({
    eventId: `evt-${verificationId}`,
    type: "verification.decided",
    verification: {
      verificationId,
      reference: applicationId,
      status: "approved",
      reasons: [],
      documentVerified: true,
      decidedAt: new Date().toISOString(),
    },
  });
}

interface Timeline {
  startMs: number;
  fillMs: number;
  submitMs: number;
  webhookToActiveMs: number;
  webhookToDepositMs: number;
}

async function journey(app: BenchApp, index: number): Promise<Timeline> {
  const token = await signedIn(app, index);
  const t0 = performance.now();
  const started = await inject(app, "POST", "/v1/onboarding/applications", token);
  const t1 = performance.now();
  const id = started.id as string;
  await inject(app, "PATCH", `/v1/onboarding/applications/${id}`, token, applicationData(index));
  const t2 = performance.now();
  await inject(app, "POST", `/v1/onboarding/applications/${id}/submit`, token);
  const t3 = performance.now();
  const row = await app.database.db
    .selectFrom("onboarding_applications")
    .select("kyc_verification_id")
    .where("id", "=", id)
    .executeTakeFirstOrThrow();
  const body = approval(id, row.kyc_verification_id as string);
  const webhookAt = performance.now();
  const answer = await app.http.inject({
    method: "POST",
    url: "/v1/onboarding/kyc/callbacks",
    headers: {
      "content-type": "application/json",
      "x-kyc-signature": signWebhook(SECRET, body, Date.now() / 1000),
    },
    payload: body,
  });
  if (answer.statusCode !== 200) throw new Error(`webhook: ${answer.statusCode} ${answer.body}`);
  const activeAt = performance.now();
  const application = await app.services.onboarding.get((started.customerId as string) ?? "", id);
  await app.services.payments.depositCash(
    TELLER,
    application.accountId!,
    { amount: { amount: "10.00", currency: "EUR" } },
    `bench-deposit-${id}`,
  );
  const depositedAt = performance.now();
  return {
    startMs: t1 - t0,
    fillMs: t2 - t1,
    submitMs: t3 - t2,
    webhookToActiveMs: activeAt - webhookAt,
    webhookToDepositMs: depositedAt - webhookAt,
  };
}

function row(label: string, samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    phase: label,
    "p50 ms": percentile(sorted, 50).toFixed(1),
    "p99 ms": percentile(sorted, 99).toFixed(1),
    "max ms": sorted.at(-1)!.toFixed(1),
  };
}

async function journeyFigures(backend: Backend) {
  const provider = await startKycProviderSimulator({
    apiKey: API_KEY,
    webhookSecret: SECRET,
    latencyMs: 600_000,
  });
  const { env, drop } = await freshEnv(backend);
  const app = await buildApp({
    config: loadConfig({
      LOG_LEVEL: "silent",
      OMNICORE_STEP_UP: "off",
      OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "100000",
      OMNICORE_KYC_URL: provider.url,
      OMNICORE_KYC_API_KEY: API_KEY,
      OMNICORE_KYC_WEBHOOK_SECRET: SECRET,
      OMNICORE_KYC_CALLBACK_URL: "http://127.0.0.1:9/unused",
      OMNICORE_ONBOARDING_WORKER_INTERVAL_MS: "0",
      ...env,
    }),
  });
  try {
    await app.start();
    for (let warm = 0; warm < 5; warm++) await journey(app, 1_000_000 + warm);
    const timelines: Timeline[] = [];
    for (let index = 0; index < APPLICATIONS; index++) timelines.push(await journey(app, index));
    const screening = await screeningFigures(app);
    return { timelines, screening };
  } finally {
    await app.close();
    await provider.close();
    await drop();
  }
}

/** Names as applicants type them: some listed (in variants), most not. */
function screeningNames(): string[] {
  const listed = ["Ayman al-Zawahiri", "Muhammad Abbas", "Abu Abbas", "Umar Abd al Rahman", "Saddam Hussein"];
  const plain = [
    "Grace Hopper",
    "Ada Lovelace",
    "Maria Schmidt",
    "Jean Dupont",
    "Li Wei",
    "Olusegun Adeyemi",
  ];
  return Array.from({ length: SCREENINGS }, (_, index) =>
    index % 5 === 0 ? listed[index % listed.length]! : `${plain[index % plain.length]!} ${index}`,
  );
}

async function screeningFigures(app: BenchApp) {
  const names = screeningNames();
  for (const name of names.slice(0, 100)) await app.services.screening.screen({ fullName: name });
  const samples: number[] = [];
  const started = performance.now();
  for (const name of names) {
    const begin = performance.now();
    await app.services.screening.screen({ fullName: name, dateOfBirth: "1951-06-19" });
    samples.push(performance.now() - begin);
  }
  const elapsedMs = performance.now() - started;
  return { samples, perS: Math.round((samples.length / elapsedMs) * 1000) };
}

export async function runOnboardingBenchmark(): Promise<void> {
  for (const backend of await backends()) {
    process.stdout.write(
      `\n[onboarding] ${backend.name}: ${APPLICATIONS} applications, one after another…\n`,
    );
    const { timelines, screening } = await journeyFigures(backend);
    process.stdout.write(
      `\nOnboarding journey on ${backend.name} (target: approval webhook → deposit accepted, p99 ≤ 2 s)\n`,
    );
    table([
      row(
        "start application",
        timelines.map((t) => t.startMs),
      ),
      row(
        "fill in every section",
        timelines.map((t) => t.fillMs),
      ),
      row(
        "submit (screening, risk, KYC call)",
        timelines.map((t) => t.submitMs),
      ),
      row(
        "approval webhook → active (tier, account, welcome)",
        timelines.map((t) => t.webhookToActiveMs),
      ),
      row(
        "approval webhook → deposit accepted",
        timelines.map((t) => t.webhookToDepositMs),
      ),
    ]);
    process.stdout.write(
      `\nScreening one name against the bundled OFAC snapshot on ${backend.name} (target: p99 ≤ 20 ms)\n`,
    );
    table([
      { ...row(`screen (${screening.samples.length} names)`, screening.samples), "names/s": screening.perS },
    ]);
    await backend.cleanup();
  }
}

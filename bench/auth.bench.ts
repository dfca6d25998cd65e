import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import autocannon from "autocannon";
import { type App, buildApp } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import { percentile, postJson, startServer, table } from "./support.ts";

/**
 * `npm run bench -- auth`: login throughput and latency over HTTP with argon2id at the chosen cost
 * (19 MiB, 2 passes, 1 lane), and the per-request cost of authenticating a bearer token: the
 * signature check (cold, first sight of a token) and the steady state (verified-token cache, then
 * the session-state read that carries the deny-list and the idle timeout), in memory and in Redis.
 */
const LOGIN_CONNECTIONS = Number(process.env.BENCH_LOGIN_CONNECTIONS ?? 8);
const LOGIN_DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
const LOGIN_CUSTOMERS = 16;
const TOKENS = Number(process.env.BENCH_AUTH_TOKENS ?? 500);
const WARM_CALLS = Number(process.env.BENCH_AUTH_CALLS ?? 50_000);
const PASSWORD = "bench-customer-password-2026";
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

async function loginFigures(): Promise<Record<string, string | number>> {
  const dir = mkdtempSync(join(tmpdir(), "omnicore-bench-auth-"));
  const { child, base } = await startServer({
    OMNICORE_DATA_DIR: dir,
    OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "100000",
    OMNICORE_RATE_LIMIT_AUTH_PER_ACCOUNT_PER_MINUTE: "100000",
  });
  try {
    const emails: string[] = [];
    for (let index = 0; index < LOGIN_CUSTOMERS; index++) {
      const email = `login${index}@bench.example`;
      const registered = await postJson(base, "/v1/auth/register", {
        email,
        password: PASSWORD,
        givenName: "Load",
        familyName: `No${index}`,
      });
      if (registered.status !== 201) throw new Error(JSON.stringify(registered.body));
      emails.push(email);
    }
    let sequence = 0;
    const result = await autocannon({
      url: base,
      connections: LOGIN_CONNECTIONS,
      duration: LOGIN_DURATION_S,
      requests: [
        {
          method: "POST",
          path: "/v1/auth/login",
          setupRequest: (request: autocannon.Request) => ({
            ...request,
            headers: {
              "content-type": "application/json",
              "x-channel": "mobile",
              "x-device-id": "bench-phone",
            },
            body: JSON.stringify({ email: emails[sequence++ % emails.length], password: PASSWORD }),
          }),
        },
      ],
    });
    return {
      measure: "POST /v1/auth/login (argon2id 19 MiB, t=2)",
      "per s": Math.round(result.requests.average),
      "p50 ms": result.latency.p50,
      "p99 ms": result.latency.p99,
      errors: result.non2xx + result.errors,
    };
  } finally {
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Distinct access tokens of one session, minted by refreshing (cheap, no argon2). */
async function mintTokens(app: App, count: number): Promise<string[]> {
  const email = `tokens.${Date.now()}@bench.example`;
  const context = {
    requestId: "bench",
    channel: "mobile" as const,
    deviceId: "bench-phone",
    actor: { type: "anonymous" as const },
  };
  await app.services.identity.registerCustomer(context, {
    email,
    password: PASSWORD,
    givenName: "Load",
    familyName: "Tokens",
  });
  let issued = await app.services.identity.login(context, { email, password: PASSWORD });
  const tokens = [issued.accessToken];
  while (tokens.length < count) {
    issued = await app.services.identity.refresh(context, issued.refreshToken);
    tokens.push(issued.accessToken);
  }
  return tokens;
}

async function timeCalls(calls: Array<() => Promise<unknown>>): Promise<number[]> {
  const samples: number[] = [];
  for (const call of calls) {
    const started = performance.now();
    const caller = await call();
    samples.push(performance.now() - started);
    if (!caller) throw new Error("a valid token was refused");
  }
  return samples.sort((a, b) => a - b);
}

function row(measure: string, samples: number[]): Record<string, string | number> {
  return {
    measure,
    calls: samples.length,
    "p50 ms": percentile(samples, 50).toFixed(4),
    "p99 ms": percentile(samples, 99).toFixed(4),
    "max ms": (samples.at(-1) ?? Number.NaN).toFixed(3),
  };
}

async function verificationFigures(
  cache: "memory" | "redis",
): Promise<Array<Record<string, string | number>>> {
  const dir = mkdtempSync(join(tmpdir(), "omnicore-bench-auth-"));
  const env: Record<string, string> = { LOG_LEVEL: "silent", OMNICORE_DATA_DIR: dir };
  if (cache === "redis") Object.assign(env, { REDIS_URL, OMNICORE_CACHE_PREFIX: `bench-${Date.now()}:` });
  const app = await buildApp({ config: loadConfig(env) });
  try {
    const tokens = await mintTokens(app, TOKENS);
    const authenticate = app.services.identity.authenticate;
    const cold = await timeCalls(tokens.map((token) => () => authenticate(token, "customer")));
    const last = tokens.at(-1)!;
    const warm = await timeCalls(
      Array.from({ length: WARM_CALLS }, () => () => authenticate(last, "customer")),
    );
    return [row(`first sight of a token (${cache})`, cold), row(`steady state per request (${cache})`, warm)];
  } finally {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function redisReachable(): Promise<boolean> {
  const { Redis } = await import("ioredis");
  const client = new Redis(REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  try {
    await client.connect();
    await client.ping();
    return true;
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

export async function runAuthBenchmark(): Promise<void> {
  process.stdout.write(
    `auth: login over HTTP (${LOGIN_CONNECTIONS} connections, ${LOGIN_DURATION_S} s, PGlite)\n`,
  );
  table([await loginFigures()]);
  process.stdout.write("\nauth: authenticate(token) per request, in process (the cost a request adds)\n");
  const rows = await verificationFigures("memory");
  if (await redisReachable()) rows.push(...(await verificationFigures("redis")));
  else process.stdout.write("Redis not reachable: Redis figures skipped\n");
  table(rows);
}

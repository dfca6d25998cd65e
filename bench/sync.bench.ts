import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildApp } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import type { RequestContext } from "../src/platform/context.ts";
import { percentile, table } from "./support.ts";

/**
 * `npm run bench -- sync`: bytes on the wire and time of GET /v1/sync for a customer with about a
 * year of history (BENCH_SYNC_TRANSFERS transfers between their own two accounts, two postings
 * each), for the first sync (the snapshot page, and a full replay of the log from its start) and
 * for deltas, with and without compression. Over real HTTP on a fresh connection per request, so
 * the bytes counted are the socket's: status line, headers and body.
 */

const TRANSFERS = Number(process.env.BENCH_SYNC_TRANSFERS ?? 1_000);
const REPEATS = Number(process.env.BENCH_SYNC_REPEATS ?? 20);
const PASSWORD = "glacier umbrella quietly orbits 7";

type BenchApp = Awaited<ReturnType<typeof buildApp>>;

interface Fetched {
  status: number;
  wireBytes: number;
  body: string;
  ms: number;
}

function get(base: string, path: string, headers: Record<string, string>): Promise<Fetched> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const outgoing = request(new URL(path, base), { headers, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        const raw = Buffer.concat(chunks);
        const encoding = response.headers["content-encoding"];
        resolve({
          status: response.statusCode ?? 0,
          wireBytes: response.socket?.bytesRead ?? raw.length,
          body: encoding ? `(${encoding}, ${raw.length} B body)` : raw.toString("utf8"),
          ms: performance.now() - started,
        });
      });
    });
    outgoing.on("error", reject);
    outgoing.end();
  });
}

async function inject(app: BenchApp, method: "GET" | "POST", url: string, token?: string, payload?: object) {
  const response = await app.http.inject({
    method,
    url,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(method === "POST" ? { "idempotency-key": `bench-${Math.random().toString(36).slice(2, 14)}` } : {}),
      "x-channel": "mobile",
      "x-device-id": "bench-phone",
    },
    ...(payload ? { payload } : {}),
  });
  if (response.statusCode >= 300)
    throw new Error(`${method} ${url}: ${response.statusCode} ${response.body}`);
  return response.json<Record<string, unknown>>();
}

async function headCursor(app: BenchApp, token: string): Promise<{ cursor: string; entries: number }> {
  let cursor = Buffer.from("s1:0").toString("base64url");
  let entries = 0;
  for (;;) {
    const page = (await inject(app, "GET", `/v1/sync?limit=500&cursor=${cursor}`, token)) as {
      items: unknown[];
      nextCursor: string;
      hasMore: boolean;
    };
    entries += page.items.length;
    cursor = page.nextCursor;
    if (!page.hasMore) return { cursor, entries };
  }
}

async function customerWithHistory(app: BenchApp) {
  const email = `bench-${Date.now()}@example.com`;
  await inject(app, "POST", "/v1/auth/register", undefined, {
    email,
    password: PASSWORD,
    givenName: "Ada",
    familyName: "Lovelace",
  });
  const login = async (deviceId: string) => {
    const response = await app.http.inject({
      method: "POST",
      url: "/v1/auth/login",
      headers: { "x-channel": "mobile", "x-device-id": deviceId },
      payload: { email, password: PASSWORD },
    });
    return response.json<{ accessToken: string }>().accessToken;
  };
  // A year of history is not a minute of one phone's commands: it is made from another device, so
  // the phone's processed commands in a delta are the delta's own.
  const historyToken = await login("bench-history");
  const token = await login("bench-phone");
  const current = (await inject(app, "POST", "/v1/accounts", token, {
    type: "current",
    currency: "EUR",
  })) as {
    id: string;
    iban: string;
  };
  const savings = (await inject(app, "POST", "/v1/accounts", token, {
    type: "savings",
    currency: "EUR",
  })) as {
    id: string;
    iban: string;
  };
  const teller: RequestContext = {
    requestId: "bench",
    channel: "branch",
    deviceId: undefined,
    actor: { type: "staff", id: "stf_bench", role: "teller", sessionId: "ses_bench" },
  };
  await app.services.payments.depositCash(
    teller,
    current.id,
    { amount: { amount: "100000.00", currency: "EUR" } },
    "bench-deposit-1",
  );
  const transfer = (from: { id: string }, to: { iban: string }, amount: string, as = token) =>
    inject(app, "POST", "/v1/transfers", as, {
      fromAccountId: from.id,
      toIban: to.iban,
      amount: { amount, currency: "EUR" },
      reference: "bench",
    });
  return { token, historyToken, current, savings, transfer };
}

async function measure(base: string, path: string, token: string, label: string) {
  const rows: Array<Record<string, string | number>> = [];
  for (const encoding of ["identity", "gzip", "br"]) {
    const times: number[] = [];
    let last: Fetched | undefined;
    for (let i = 0; i < REPEATS; i++) {
      last = await get(base, path, { authorization: `Bearer ${token}`, "accept-encoding": encoding });
      if (last.status !== 200) throw new Error(`${label}: ${last.status} ${last.body}`);
      times.push(last.ms);
    }
    times.sort((a, b) => a - b);
    rows.push({
      request: label,
      encoding,
      "wire bytes": last!.wireBytes,
      "p50 ms": percentile(times, 50).toFixed(1),
      "p99 ms": percentile(times, 99).toFixed(1),
    });
  }
  return rows;
}

export async function runSyncBenchmark(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "omnicore-bench-sync-"));
  const app = await buildApp({
    config: loadConfig({
      ...process.env,
      LOG_LEVEL: "warn",
      OMNICORE_DATA_DIR: dir,
      PORT: "0",
      OMNICORE_STEP_UP: "off",
      OMNICORE_OUTBOX_POLL_INTERVAL_MS: "20",
      OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "100000",
      OMNICORE_TRANSFER_LIMITS: JSON.stringify({
        tiers: {
          basic: { perTransactionMinor: 1e12, dailyMinor: 1e12 },
          standard: { perTransactionMinor: 1e12, dailyMinor: 1e12 },
          premium: { perTransactionMinor: 1e12, dailyMinor: 1e12 },
        },
      }),
    }),
  });
  try {
    const base = await app.listen();
    const customer = await customerWithHistory(app);
    const building = performance.now();
    for (let i = 0; i < TRANSFERS; i++) {
      const [from, to] =
        i % 2 === 0 ? [customer.current, customer.savings] : [customer.savings, customer.current];
      await customer.transfer(from, to, i % 2 === 0 ? "10.00" : "9.99", customer.historyToken);
    }
    // The log is fed asynchronously: wait until it holds every transfer's entries.
    let head = await headCursor(app, customer.token);
    while (head.entries < TRANSFERS * 3) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      head = await headCursor(app, customer.token);
    }
    const buildS = ((performance.now() - building) / 1000).toFixed(1);
    const rows = [
      ...(await measure(base, "/v1/sync", customer.token, "first sync (snapshot page)")),
      ...(await measure(
        base,
        `/v1/sync?limit=500&cursor=${Buffer.from("s1:0").toString("base64url")}`,
        customer.token,
        "log page (500 entries)",
      )),
    ];
    const beforeDelta = (await headCursor(app, customer.token)).cursor;
    // 10 log entries: two transfers between the customer's accounts (payment, 2 accounts, 2 postings each).
    await customer.transfer(customer.current, customer.savings, "1.00");
    await customer.transfer(customer.current, customer.savings, "2.00");
    let delta = (await inject(app, "GET", `/v1/sync?cursor=${beforeDelta}`, customer.token)) as {
      items: unknown[];
    };
    while (delta.items.length < 8) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      delta = (await inject(app, "GET", `/v1/sync?cursor=${beforeDelta}`, customer.token)) as {
        items: unknown[];
      };
    }
    rows.push(
      ...(await measure(
        base,
        `/v1/sync?cursor=${beforeDelta}`,
        customer.token,
        "delta: 10 entries (8 after compaction)",
      )),
    );
    const beforeTen = (await headCursor(app, customer.token)).cursor;
    for (let i = 0; i < 10; i++) await customer.transfer(customer.current, customer.savings, "0.50");
    let ten = (await inject(app, "GET", `/v1/sync?cursor=${beforeTen}`, customer.token)) as {
      items: Array<{ kind: string }>;
    };
    while (ten.items.filter((item) => item.kind === "transfer").length < 10) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      ten = (await inject(app, "GET", `/v1/sync?cursor=${beforeTen}`, customer.token)) as {
        items: Array<{ kind: string }>;
      };
    }
    rows.push(
      ...(await measure(
        base,
        `/v1/sync?cursor=${beforeTen}`,
        customer.token,
        "delta: 10 transfers (32 items)",
      )),
    );
    const unchanged = await get(base, `/v1/sync?cursor=${beforeTen}`, {
      authorization: `Bearer ${customer.token}`,
    });
    const etag = await new Promise<string>((resolve) => {
      const outgoing = request(
        new URL(`/v1/sync?cursor=${beforeTen}`, base),
        { headers: { authorization: `Bearer ${customer.token}` }, agent: false },
        (response) => {
          response.resume();
          resolve(String(response.headers.etag));
        },
      );
      outgoing.end();
    });
    const notModified = await get(base, `/v1/sync?cursor=${beforeTen}`, {
      authorization: `Bearer ${customer.token}`,
      "if-none-match": etag,
    });
    process.stdout.write(
      `\nsync: ${TRANSFERS} transfers (${head.entries} log entries, ${TRANSFERS * 2} postings) built in ${buildS} s; ` +
        `${REPEATS} requests per row, a new connection each\n`,
    );
    table(rows);
    process.stdout.write(
      `unchanged delta with If-None-Match: ${notModified.status}, ${notModified.wireBytes} wire bytes ` +
        `(vs ${unchanged.wireBytes} for the 200); target: the 10-change delta under 4096 bytes\n`,
    );
  } finally {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

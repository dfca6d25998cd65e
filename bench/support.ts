import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import pg from "pg";
import { TOTP_PERIOD_S, totpCode, totpStep } from "../src/modules/identity/totp.ts";

export const BENCH_POSTGRES_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export async function postgresReachable(url = BENCH_POSTGRES_URL): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

async function admin(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** A throwaway database for one benchmark run, dropped afterwards. */
export async function benchDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `omnicore_bench_${randomBytes(4).toString("hex")}`;
  await admin(BENCH_POSTGRES_URL, `create database ${name}`);
  const url = new URL(BENCH_POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => admin(BENCH_POSTGRES_URL, `drop database if exists ${name} with (force)`),
  };
}

/** The V8 flags of `npm start` (a smaller young generation keeps RSS under 300 MB). */
export const SERVER_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=16"];

/** Starts `omnicore serve` on a free port with `env` over this process's; resolves once it listens. */
export async function startServer(
  env: Record<string, string>,
  nodeFlags: readonly string[] = SERVER_NODE_FLAGS,
): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(process.execPath, [...nodeFlags, "bin/omnicore.js", "serve"], {
    env: { ...process.env, ...env, PORT: "0", LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const base = await new Promise<string>((resolve, reject) => {
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]!.replace(/\s.*$/, ""));
    });
    child.on("exit", (code) => reject(new Error(`server exited with ${code}: ${output}`)));
  });
  return { child, base };
}

export function percentile(sortedMs: number[], p: number): number {
  if (sortedMs.length === 0) return Number.NaN;
  const index = Math.min(sortedMs.length - 1, Math.ceil((p / 100) * sortedMs.length) - 1);
  return sortedMs[Math.max(0, index)]!;
}

/** Peak resident set size of a process, from /proc (Linux). */
export function peakRssMb(pid: number = process.pid): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /VmHWM:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

export function table(rows: Array<Record<string, string | number>>): void {
  const columns = Object.keys(rows[0] ?? {});
  const widths = columns.map((column) =>
    Math.max(column.length, ...rows.map((row) => String(row[column]).length)),
  );
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")} |`;
  process.stdout.write(`${line(columns)}\n${line(widths.map((w) => "-".repeat(w)))}\n`);
  for (const row of rows) process.stdout.write(`${line(columns.map((column) => String(row[column])))}\n`);
}

/** POST as JSON; the parsed body, or undefined for 204. Throws on any other failure. */
export async function postJson(
  base: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(base + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const staffSecrets = new Map<string, { secret: string; lastStep: number }>();

/**
 * Staff sign-in over HTTP as a person would: password, then the authenticator app's code
 * (enrolled on the first sign-in). Each code works once, so the steps around now are walked.
 */
export async function staffLoginOverHttp(
  base: string,
  credentials: { email: string; password: string },
): Promise<string> {
  const headers = { "x-channel": "branch" };
  const first = await postJson(base, "/v1/staff/auth/login", credentials, headers);
  const totp = first.body.totp as { secret: string } | undefined;
  if (totp) staffSecrets.set(credentials.email, { secret: totp.secret, lastStep: 0 });
  const known = staffSecrets.get(credentials.email);
  if (first.status !== 401 || !known) throw new Error(`staff login: ${JSON.stringify(first.body)}`);
  const current = totpStep(new Date());
  const step = Math.max(known.lastStep + 1, current - 1);
  known.lastStep = step;
  const code = await totpCode(known.secret, new Date(step * TOTP_PERIOD_S * 1000));
  const answer = await postJson(
    base,
    "/v1/staff/auth/login/mfa",
    { challengeId: first.body.challengeId, totp: code },
    headers,
  );
  if (answer.status !== 200) throw new Error(`staff login: ${JSON.stringify(answer.body)}`);
  return answer.body.accessToken as string;
}

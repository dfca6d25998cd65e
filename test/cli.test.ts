import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { openDatabase } from "../src/platform/db/database.ts";

/**
 * The `omnicore` command as a user runs it, in real processes on the embedded database (the CLI's
 * PGlite single-process rules are what is tested here, so these always run on a PGlite data
 * directory, whatever the suite's backend).
 */
const BIN = join(import.meta.dirname, "..", "bin", "omnicore.js");
const dirs: string[] = [];
const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "omnicore-cli-"));
  dirs.push(dir);
  return dir;
}

function environment(dir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    OMNICORE_DATA_DIR: dir,
    LOG_LEVEL: "warn",
    PORT: "0",
    ...extra,
  };
  for (const name of [
    "DATABASE_URL",
    "REDIS_URL",
    "NATS_URL",
    "OMNICORE_ADMIN_EMAIL",
    "OMNICORE_ADMIN_PASSWORD",
  ]) {
    if (!(name in extra)) delete env[name];
  }
  return env;
}

function run(args: string[], dir: string, extra: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: environment(dir, extra) });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

function serve(dir: string, extra: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, "serve"], { env: environment(dir, extra) });
  children.push(child);
  let stdout = "";
  const listening = new Promise<string>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(stdout);
      if (match) resolve(match[1]!);
    });
    child.on("exit", (code) => reject(new Error(`serve exited with ${code}: ${stdout}`)));
  });
  return { child, listening, output: () => stdout };
}

describe("omnicore CLI", () => {
  it("verifies the audit trail's hash chain, and names the record someone edited", async () => {
    const dir = dataDir();
    expect(
      (
        await run(
          [
            "staff",
            "create",
            "--email",
            "a@bank.example",
            "--password",
            "passphrase 12345",
            "--role",
            "agent",
          ],
          dir,
        )
      ).code,
    ).toBe(0);
    const intact = await run(["audit", "verify"], dir);
    expect(intact.code, intact.stderr).toBe(0);
    expect(intact.stdout).toMatch(/Audit trail intact: [1-9]\d* records/);
    const database = await openDatabase({ dataDir: dir, poolSize: 1 });
    try {
      await sql`alter table platform_audit_log disable trigger platform_audit_log_append_only`.execute(
        database.db,
      );
      await sql`update platform_audit_log set actor_id = 'stf_someone_else' where chain_position = 1`.execute(
        database.db,
      );
    } finally {
      await database.close();
    }
    const broken = await run(["audit", "verify"], dir);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/BROKEN at chain position 1 \(record evt_\w+\): hash_mismatch/);
  });

  it("migrates a fresh data directory once", async () => {
    const dir = dataDir();
    const first = await run(["migrate"], dir);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/Applied: platform\/0001_platform\.sql/);
    const second = await run(["migrate"], dir);
    expect(second.stdout).toContain("Nothing to migrate.");
  });

  it("seeds the demo bank once and prints its logins", async () => {
    const dir = dataDir();
    const first = await run(["seed", "--demo"], dir);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain("alice@demo.omnicore.local");
    expect(first.stdout).toContain("teller@demo.omnicore.local");
    const second = await run(["seed", "--demo"], dir);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("already there");
  });

  it("creates staff users and refuses an unknown role", async () => {
    const dir = dataDir();
    const created = await run(
      [
        "staff",
        "create",
        "--email",
        "t@bank.example",
        "--password",
        "teller passphrase 1",
        "--role",
        "teller",
      ],
      dir,
    );
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/Created staff user stf_[0-9a-f]{32} \(teller\)/);
    const refused = await run(
      ["staff", "create", "--email", "x@bank.example", "--password", "passphrase 12345", "--role", "king"],
      dir,
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("--role");
  });

  it("refuses a second process on the same embedded database, and serves after the first stops", async () => {
    const dir = dataDir();
    const server = serve(dir, {
      OMNICORE_ADMIN_EMAIL: "root@bank.example",
      OMNICORE_ADMIN_PASSWORD: "admin passphrase 2026",
    });
    const base = await server.listening;
    expect(server.output()).toContain("Created the first admin: root@bank.example");
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);

    const second = await run(["migrate"], dir);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/in use by process \d+/);

    server.child.kill("SIGTERM");
    const code = await new Promise((resolve) => server.child.once("exit", resolve));
    expect(code).toBe(0);
    const afterwards = await run(["migrate"], dir);
    expect(afterwards.code, afterwards.stderr).toBe(0);
  });

  it("prints a generated admin password once when none is configured", async () => {
    const dir = dataDir();
    const server = serve(dir);
    await server.listening;
    expect(server.output()).toMatch(/admin@omnicore\.local[\s\S]*generated password/);
    server.child.kill("SIGTERM");
    await new Promise((resolve) => server.child.once("exit", resolve));
    const again = serve(dir);
    await again.listening;
    expect(again.output()).not.toContain("generated password");
  });

  it("stops with a message naming an invalid variable", async () => {
    const result = await run(["migrate"], dataDir(), { PORT: "not-a-port" });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("PORT must be an integer");
  });
});

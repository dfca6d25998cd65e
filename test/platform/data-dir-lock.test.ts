import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DataDirInUseError, lockDataDir } from "../../src/platform/db/data-dir-lock.ts";
import { openDatabase } from "../../src/platform/db/database.ts";

const directories: string[] = [];

function temporaryDataDir(): string {
  const directory = mkdtempSync(join(tmpdir(), "omnicore-lock-test-"));
  directories.push(directory);
  return directory;
}

function lockFile(directory: string): string {
  return join(directory, "omnicore.lock");
}

/** The pid of a process that has exited (and been reaped), so no live process holds it. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", ""]);
  expect(child.pid).toBeGreaterThan(0);
  expect(() => process.kill(child.pid, 0)).toThrow();
  return child.pid;
}

function inUseError(work: () => unknown): DataDirInUseError {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(DataDirInUseError);
    return error as DataDirInUseError;
  }
  throw new Error("expected DataDirInUseError");
}

afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

describe("lockDataDir", () => {
  it("writes this process's pid to the lock file and removes it on release", () => {
    const directory = temporaryDataDir();
    const lock = lockDataDir(directory);
    expect(readFileSync(lockFile(directory), "utf8")).toBe(String(process.pid));
    lock.release();
    expect(existsSync(lockFile(directory))).toBe(false);
    // Released means free: the next owner gets it at once.
    lockDataDir(directory).release();
  });

  it("refuses a directory whose lock is held by another live process", () => {
    const directory = temporaryDataDir();
    // The parent process (the test runner) is alive and is not this process.
    expect(process.ppid).not.toBe(process.pid);
    writeFileSync(lockFile(directory), String(process.ppid));

    const error = inUseError(() => lockDataDir(directory));
    expect(error.pid).toBe(process.ppid);
    expect(error.dataDir).toBe(directory);
    expect(error.message).toContain(String(process.ppid));
    expect(error.message).toContain("DATABASE_URL");
    // The owner's lock is left alone.
    expect(readFileSync(lockFile(directory), "utf8")).toBe(String(process.ppid));
  });

  it("takes over a stale lock left by a process that no longer exists", () => {
    const directory = temporaryDataDir();
    writeFileSync(lockFile(directory), String(deadPid()));
    const lock = lockDataDir(directory);
    expect(readFileSync(lockFile(directory), "utf8")).toBe(String(process.pid));
    lock.release();
    expect(existsSync(lockFile(directory))).toBe(false);
  });

  it.each(["", "not-a-pid", "-5", "0", "12.5"])("takes over a lock file holding %j", (content) => {
    const directory = temporaryDataDir();
    writeFileSync(lockFile(directory), content);
    const lock = lockDataDir(directory);
    expect(readFileSync(lockFile(directory), "utf8")).toBe(String(process.pid));
    lock.release();
  });

  it("reports a directory that cannot hold a lock file as such, not as in use", () => {
    const directory = join(temporaryDataDir(), "missing", "deeper");
    expect(() => lockDataDir(directory)).toThrow(expect.objectContaining({ code: "ENOENT" }));
  });
});

describe("openDatabase on a PGlite data directory", () => {
  it("refuses to open a data directory locked by another live process and leaves its lock alone", async () => {
    const directory = temporaryDataDir();
    writeFileSync(lockFile(directory), String(process.ppid));
    await expect(openDatabase({ dataDir: directory, poolSize: 1 })).rejects.toBeInstanceOf(DataDirInUseError);
    expect(readFileSync(lockFile(directory), "utf8")).toBe(String(process.ppid));
  });

  it("holds the lock while open and releases it on close", async () => {
    const directory = temporaryDataDir();
    writeFileSync(lockFile(directory), String(deadPid()));
    const database = await openDatabase({ dataDir: directory, poolSize: 1 });
    try {
      expect(database.kind).toBe("pglite");
      expect(readFileSync(lockFile(directory), "utf8")).toBe(String(process.pid));
    } finally {
      await database.close();
    }
    expect(existsSync(lockFile(directory))).toBe(false);
  });
});

import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { KeyValueStorage } from "../storage.ts";
import type { SecureStore } from "../tokens.ts";

function fileName(key: string): string {
  return `${key.replace(/[^A-Za-z0-9_.-]/g, "_")}.json`;
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/**
 * Writes to a temporary file and renames it over the old one: a crash leaves either the old or
 * the new value, never half of one, which the outbox depends on across restarts.
 */
async function writeJsonAtomically(path: string, value: unknown, mode: number): Promise<void> {
  const temporary = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(temporary, JSON.stringify(value), { mode, flush: true });
  await rename(temporary, path);
}

/** One JSON file per key in a directory (Node, Electron, CLIs). */
export class FileStorage implements KeyValueStorage {
  readonly #directory: string;
  #ready: Promise<unknown> | undefined;

  constructor(directory: string) {
    this.#directory = directory;
  }

  async get<T>(key: string): Promise<T | undefined> {
    return readJson<T>(join(this.#directory, fileName(key)));
  }

  async set<T>(key: string, value: T): Promise<void> {
    this.#ready ??= mkdir(this.#directory, { recursive: true, mode: 0o700 });
    await this.#ready;
    await writeJsonAtomically(join(this.#directory, fileName(key)), value, 0o600);
  }

  async delete(key: string): Promise<void> {
    await rm(join(this.#directory, fileName(key)), { force: true });
  }
}

/**
 * The refresh token in a file only its owner can read. On a desktop, an OS keychain is better;
 * this is for CLIs and servers where a 0600 file is the usual standard.
 */
export class FileSecureStore implements SecureStore {
  readonly #path: string;
  readonly #directory: string;

  constructor(directory: string, name = "omnicore-session") {
    this.#directory = directory;
    this.#path = join(directory, fileName(name));
  }

  async getRefreshToken(): Promise<string | undefined> {
    return (await readJson<{ refreshToken: string }>(this.#path))?.refreshToken;
  }

  async setRefreshToken(refreshToken: string): Promise<void> {
    await mkdir(this.#directory, { recursive: true, mode: 0o700 });
    await writeJsonAtomically(this.#path, { refreshToken }, 0o600);
  }

  async clear(): Promise<void> {
    await rm(this.#path, { force: true });
  }
}

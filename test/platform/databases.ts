import { join } from "node:path";
import { type DatabaseHandle, openDatabase } from "../../src/platform/db/database.ts";
import { loadMigrations, type Migration } from "../../src/platform/db/migrations.ts";
import { createTestDatabase } from "../helpers/test-app.ts";

/** An empty database that the test owns; `dispose` closes it and, on PostgreSQL, drops it. */
export interface FreshDatabase {
  database: DatabaseHandle;
  /** The PostgreSQL URL, for a second connection pool to the same database; none for PGlite. */
  url: string | undefined;
  dispose(): Promise<void>;
}

export interface DatabaseBackend {
  name: "pglite" | "postgres";
  open(): Promise<FreshDatabase>;
}

const pglite: DatabaseBackend = {
  name: "pglite",
  async open() {
    const database = await openDatabase({ dataDir: "memory", poolSize: 1 });
    return { database, url: undefined, dispose: () => database.close() };
  },
};

const postgres: DatabaseBackend = {
  name: "postgres",
  async open() {
    const created = await createTestDatabase();
    try {
      const database = await openDatabase({ url: created.url, dataDir: "memory", poolSize: 4 });
      return {
        database,
        url: created.url,
        async dispose() {
          await database.close();
          await created.drop();
        },
      };
    } catch (error) {
      await created.drop();
      throw error;
    }
  },
};

/** PGlite always; PostgreSQL too when DATABASE_URL names a server to create databases on. */
export const databaseBackends: DatabaseBackend[] = process.env.DATABASE_URL ? [pglite, postgres] : [pglite];

/** Only the platform kernel's own tables, so these tests do not depend on any business module. */
export function platformMigrations(): Migration[] {
  return loadMigrations([
    { module: "platform", directory: join(import.meta.dirname, "..", "..", "src", "platform", "migrations") },
  ]);
}

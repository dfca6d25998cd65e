import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { sql } from "kysely";
import type { DatabaseHandle, Db } from "./database.ts";

/** A folder of plain SQL migrations owned by one module, applied in file-name order. */
export interface MigrationSource {
  module: string;
  directory: string;
}

export interface Migration {
  id: string;
  checksum: string;
  sql: string;
}

export class MigrationChecksumError extends Error {
  readonly migrationId: string;
  constructor(migrationId: string) {
    super(
      `Migration ${migrationId} was changed after it was applied. Applied migrations are immutable: ` +
        "restore the file and add a new migration instead.",
    );
    this.name = "MigrationChecksumError";
    this.migrationId = migrationId;
  }
}

const MIGRATION_FILE = /^\d{4}_[a-z0-9_]+\.sql$/;
/** Arbitrary but fixed: every node takes the same advisory lock, so migrations run one at a time. */
const MIGRATION_LOCK_KEY = 724_231_337;

export function loadMigrations(sources: MigrationSource[]): Migration[] {
  return sources.flatMap(({ module, directory }) =>
    readdirSync(directory)
      .filter((file) => MIGRATION_FILE.test(file))
      .sort()
      .map((file) => {
        const text = readFileSync(join(directory, file), "utf8");
        return {
          id: `${module}/${file}`,
          checksum: createHash("sha256").update(text).digest("hex"),
          sql: text,
        };
      }),
  );
}

/**
 * Applies pending migrations in order, all in one transaction (PostgreSQL DDL is transactional,
 * so a failing migration leaves the schema as it was); returns the ids applied. On PostgreSQL an
 * advisory lock makes nodes that start together migrate one after the other.
 */
export async function migrate(database: DatabaseHandle, migrations: Migration[]): Promise<string[]> {
  return database.scriptTransaction(async (session) => {
    if (database.kind === "postgres")
      await session.query("select pg_advisory_xact_lock($1)", [MIGRATION_LOCK_KEY]);
    await session.exec(`create table if not exists platform_migrations (
      id text primary key,
      checksum text not null,
      applied_at timestamptz not null default now()
    )`);
    const rows = await session.query<{ id: string; checksum: string }>(
      "select id, checksum from platform_migrations",
    );
    const applied = new Map(rows.map((row) => [row.id, row.checksum]));
    const done: string[] = [];
    for (const migration of migrations) {
      const checksum = applied.get(migration.id);
      if (checksum !== undefined) {
        if (checksum !== migration.checksum) throw new MigrationChecksumError(migration.id);
        continue;
      }
      await session.exec(migration.sql);
      await session.query("insert into platform_migrations (id, checksum) values ($1, $2)", [
        migration.id,
        migration.checksum,
      ]);
      done.push(migration.id);
    }
    return done;
  });
}

/** The ids of migrations that are known to the code but not applied; `/ready` wants none. */
export async function pendingMigrations(db: Db, migrations: Migration[]): Promise<string[]> {
  const exists = await sql<{
    name: string | null;
  }>`select to_regclass('platform_migrations')::text as name`.execute(db);
  if (!exists.rows[0]?.name) return migrations.map((migration) => migration.id);
  const rows = await db.selectFrom("platform_migrations").select("id").execute();
  const applied = new Set(rows.map((row) => row.id as string));
  return migrations.filter((migration) => !applied.has(migration.id)).map((migration) => migration.id);
}

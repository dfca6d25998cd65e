import { createHash } from "node:crypto";
import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { allMigrations } from "../../src/app.ts";
import { type Db, openDatabase } from "../../src/platform/db/database.ts";
import {
  type Migration,
  MigrationChecksumError,
  migrate,
  pendingMigrations,
} from "../../src/platform/db/migrations.ts";
import { databaseBackends, type FreshDatabase, platformMigrations } from "./databases.ts";

function migration(id: string, text: string): Migration {
  return { id, checksum: createHash("sha256").update(text).digest("hex"), sql: text };
}

async function tableExists(db: Db, name: string): Promise<boolean> {
  const result = await sql<{ name: string | null }>`select to_regclass(${name})::text as name`.execute(db);
  return Boolean(result.rows[0]?.name);
}

async function appliedIds(db: Db): Promise<string[]> {
  const rows = await db.selectFrom("platform_migrations").select("id").orderBy("id").execute();
  return rows.map((row) => row.id as string);
}

describe.each(databaseBackends)("migrations on $name", (backend) => {
  const opened: FreshDatabase[] = [];
  afterEach(async () => {
    for (const fresh of opened.splice(0)) await fresh.dispose();
  });
  async function fresh(): Promise<FreshDatabase> {
    const database = await backend.open();
    opened.push(database);
    return database;
  }

  it("applies every migration once, then none, and reports nothing pending", async () => {
    const { database } = await fresh();
    const migrations = allMigrations();
    expect(migrations.length).toBeGreaterThan(1);
    expect(migrations[0]?.id).toBe("platform/0001_platform.sql");
    expect(await pendingMigrations(database.db, migrations)).toEqual(migrations.map((m) => m.id));

    expect(await migrate(database, migrations)).toEqual(migrations.map((m) => m.id));
    expect(await migrate(database, migrations)).toEqual([]);
    expect(await pendingMigrations(database.db, migrations)).toEqual([]);
    expect(await appliedIds(database.db)).toEqual(migrations.map((m) => m.id).sort());
    for (const table of ["platform_outbox", "platform_inbox", "platform_dead_letters", "ledger_postings"]) {
      expect(await tableExists(database.db, table)).toBe(true);
    }
  });

  it("applies only the migrations added since the last run", async () => {
    const { database } = await fresh();
    const platform = platformMigrations();
    const all = allMigrations();
    expect(await migrate(database, platform)).toEqual(platform.map((m) => m.id));
    expect(await pendingMigrations(database.db, all)).toEqual(all.slice(platform.length).map((m) => m.id));
    expect(await migrate(database, all)).toEqual(all.slice(platform.length).map((m) => m.id));
  });

  it("refuses to run when an applied migration was changed", async () => {
    const { database } = await fresh();
    const migrations = [migration("test/0001_a.sql", "create table test_a (id integer)")];
    await migrate(database, migrations);
    const changed = [migration("test/0001_a.sql", "create table test_a (id bigint)")];

    let thrown: unknown;
    try {
      await migrate(database, [...changed, migration("test/0002_b.sql", "create table test_b (id integer)")]);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(MigrationChecksumError);
    expect((thrown as MigrationChecksumError).migrationId).toBe("test/0001_a.sql");
    expect((thrown as Error).message).toContain("test/0001_a.sql");
    // Nothing after the changed migration ran either.
    expect(await tableExists(database.db, "test_b")).toBe(false);
    expect(await appliedIds(database.db)).toEqual(["test/0001_a.sql"]);
  });

  it("rolls the whole run back when one migration fails, on an empty database", async () => {
    const { database } = await fresh();
    const migrations = [
      ...platformMigrations(),
      migration("test/0001_a.sql", "create table test_a (id integer);\ninsert into test_a values (1);"),
      migration("test/0002_b.sql", "create table test_b (id integer);\nselect * from no_such_table;"),
    ];
    await expect(migrate(database, migrations)).rejects.toThrow(/no_such_table/);
    for (const table of ["platform_migrations", "platform_outbox", "test_a", "test_b"]) {
      expect(await tableExists(database.db, table)).toBe(false);
    }
    expect(await pendingMigrations(database.db, migrations)).toEqual(migrations.map((m) => m.id));
  });

  it("rolls the whole run back when one migration fails, keeping earlier runs", async () => {
    const { database } = await fresh();
    const platform = platformMigrations();
    await migrate(database, platform);
    const failing = [
      ...platform,
      migration("test/0001_a.sql", "create table test_a (id integer)"),
      migration("test/0002_b.sql", "alter table test_a add column id integer"),
    ];
    await expect(migrate(database, failing)).rejects.toThrow();
    expect(await tableExists(database.db, "test_a")).toBe(false);
    expect(await appliedIds(database.db)).toEqual(platform.map((m) => m.id));
    expect(await tableExists(database.db, "platform_outbox")).toBe(true);
    // The database is still usable and the fixed run goes through.
    const fixed = [...platform, migration("test/0001_a.sql", "create table test_a (id integer)")];
    expect(await migrate(database, fixed)).toEqual(["test/0001_a.sql"]);
  });

  it("keeps the ledger journal append-only: postings and entries refuse update and delete", async () => {
    const { database } = await fresh();
    await migrate(database, allMigrations());
    const { db } = database;
    const now = new Date("2026-01-01T00:00:00Z");
    await db.transaction().execute(async (tx) => {
      await tx
        .insertInto("ledger_accounts")
        .values(
          ["acc_test_cash", "acc_test_clearing"].map((id, index) => ({
            id,
            kind: "system",
            system_code: `test_${index}`,
            shard: 0,
            currency: "EUR",
            status: "active",
            allow_negative: true,
            created_at: now,
            updated_at: now,
          })),
        )
        .execute();
      await tx
        .insertInto("ledger_journal_entries")
        .values({ id: "jrn_test", kind: "test", created_at: now })
        .execute();
      await tx
        .insertInto("ledger_postings")
        .values([
          {
            id: "pst_test_1",
            entry_id: "jrn_test",
            account_id: "acc_test_cash",
            seq: 1,
            amount_minor: 1_000n,
            currency: "EUR",
            balance_after_minor: 1_000n,
            created_at: now,
          },
          {
            id: "pst_test_2",
            entry_id: "jrn_test",
            account_id: "acc_test_clearing",
            seq: 1,
            amount_minor: -1_000n,
            currency: "EUR",
            balance_after_minor: -1_000n,
            created_at: now,
          },
        ])
        .execute();
    });

    await expect(
      db
        .updateTable("ledger_postings")
        .set({ amount_minor: 2_000n })
        .where("id", "=", "pst_test_1")
        .execute(),
    ).rejects.toThrow(/append-only/);
    await expect(db.deleteFrom("ledger_postings").where("id", "=", "pst_test_2").execute()).rejects.toThrow(
      /append-only/,
    );
    await expect(
      db.updateTable("ledger_journal_entries").set({ kind: "edited" }).where("id", "=", "jrn_test").execute(),
    ).rejects.toThrow(/append-only/);
    await expect(
      db.deleteFrom("ledger_journal_entries").where("id", "=", "jrn_test").execute(),
    ).rejects.toThrow(/append-only/);

    const postings = await db
      .selectFrom("ledger_postings")
      .select(["id", "amount_minor"])
      .where("entry_id", "=", "jrn_test")
      .orderBy("id")
      .execute();
    expect(postings).toEqual([
      { id: "pst_test_1", amount_minor: 1_000n },
      { id: "pst_test_2", amount_minor: -1_000n },
    ]);
  });
});

const postgresOnly = databaseBackends.filter((backend) => backend.name === "postgres");

describe.each(postgresOnly)("migrations on $name from several nodes at once", (backend) => {
  it("applies each migration exactly once when two nodes migrate together", async () => {
    const fresh = await backend.open();
    const second = await openDatabase({ url: fresh.url, dataDir: "memory", poolSize: 2 });
    try {
      const migrations = allMigrations();
      const results = await Promise.all([migrate(fresh.database, migrations), migrate(second, migrations)]);
      expect(results.flat().sort()).toEqual(migrations.map((m) => m.id).sort());
      expect(results.some((applied) => applied.length === 0)).toBe(true);
      expect(await pendingMigrations(second.db, migrations)).toEqual([]);
    } finally {
      await second.close();
      await fresh.dispose();
    }
  });
});

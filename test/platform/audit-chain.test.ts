import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { AuditTrail } from "../../src/platform/audit.ts";
import { verifyAuditChain } from "../../src/platform/audit-chain.ts";
import { systemClock } from "../../src/platform/clock.ts";
import { type Db, inTransaction } from "../../src/platform/db/database.ts";
import { migrate } from "../../src/platform/db/migrations.ts";
import { uuidV7Ids } from "../../src/platform/ids.ts";
import { customerContext, tellerContext } from "../helpers/contexts.ts";
import { databaseBackends, type FreshDatabase, platformMigrations } from "./databases.ts";

const audit = new AuditTrail({ ids: uuidV7Ids, clock: systemClock });

async function write(db: Db, count: number, action = "test.action"): Promise<void> {
  for (let index = 0; index < count; index++) {
    await inTransaction(db, (tx) =>
      audit.record(tx, index % 2 === 0 ? tellerContext() : customerContext("cus_test"), {
        action,
        subjectId: `cus_${index}`,
        details: { index, note: 'ünïcödé and "quotes"' },
        ...(index % 3 === 0 ? { before: { status: "active" }, after: { status: "frozen" } } : {}),
      }),
    );
  }
}

/** What an attacker with the database owner's powers can do: switch the guard off, then edit. */
async function tamper(db: Db, statement: ReturnType<typeof sql>): Promise<void> {
  await sql`alter table platform_audit_log disable trigger platform_audit_log_append_only`.execute(db);
  await statement.execute(db);
  await sql`alter table platform_audit_log enable trigger platform_audit_log_append_only`.execute(db);
}

describe.each(databaseBackends)("the audit trail's hash chain on $name", (backend) => {
  const opened: FreshDatabase[] = [];
  afterEach(async () => {
    for (const fresh of opened.splice(0)) await fresh.dispose();
  });
  async function fresh(): Promise<Db> {
    const database = await backend.open();
    opened.push(database);
    await migrate(database.database, platformMigrations());
    return database.database.db;
  }

  it("links every record to the one before and verifies intact", async () => {
    const db = await fresh();
    expect(await verifyAuditChain(db)).toEqual({ ok: true, recordsChecked: 0 });
    await write(db, 7);
    const report = await verifyAuditChain(db, 3);
    expect(report).toEqual({ ok: true, recordsChecked: 7 });
    const rows = await db
      .selectFrom("platform_audit_log")
      .select(["chain_position", "prev_hash", "hash", "before", "after"])
      .orderBy("chain_position")
      .execute();
    expect(rows.map((row) => Number(row.chain_position))).toEqual([1, 2, 3, 4, 5, 6, 7]);
    for (let index = 1; index < rows.length; index++)
      expect(rows[index]!.prev_hash).toBe(rows[index - 1]!.hash);
    expect(rows[0]!.prev_hash).toBe("0".repeat(64));
    expect(rows[0]!.after).toEqual({ status: "frozen" });
  });

  it("refuses updates, deletes and truncation", async () => {
    const db = await fresh();
    await write(db, 2);
    await expect(sql`update platform_audit_log set action = 'x'`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`delete from platform_audit_log`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`truncate platform_audit_log`.execute(db)).rejects.toThrow(/append-only/);
    expect(await verifyAuditChain(db)).toEqual({ ok: true, recordsChecked: 2 });
  });

  it("detects one edited record and names it", async () => {
    const db = await fresh();
    await write(db, 6);
    await tamper(db, sql`update platform_audit_log set details = '{"index": 99}' where chain_position = 4`);
    const report = await verifyAuditChain(db, 2);
    expect(report.ok).toBe(false);
    expect(report.recordsChecked).toBe(3);
    expect(report.firstBroken).toMatchObject({ chainPosition: 4, reason: "hash_mismatch" });
    expect(report.firstBroken?.recordId).toMatch(/^evt_/);
  });

  it("detects an edit that recomputed the record's own hash: the next link breaks", async () => {
    const db = await fresh();
    await write(db, 5);
    await tamper(db, sql`update platform_audit_log set actor_id = 'stf_other' where chain_position = 2`);
    await tamper(
      db,
      sql`update platform_audit_log l set hash = platform_audit_record_hash(l.prev_hash, l) where chain_position = 2`,
    );
    const report = await verifyAuditChain(db);
    expect(report.firstBroken).toMatchObject({ chainPosition: 3, reason: "link_broken" });
  });

  it("detects a removed record, in the middle or at the end", async () => {
    const db = await fresh();
    await write(db, 5);
    await tamper(db, sql`delete from platform_audit_log where chain_position = 5`);
    expect((await verifyAuditChain(db)).firstBroken).toMatchObject({
      chainPosition: 5,
      reason: "record_missing",
    });
    await tamper(db, sql`delete from platform_audit_log where chain_position = 2`);
    expect((await verifyAuditChain(db)).firstBroken).toMatchObject({
      chainPosition: 2,
      reason: "record_missing",
    });
  });

  it("chains records written before the chain existed, in the order they were written", async () => {
    const database = await backend.open();
    opened.push(database);
    const db = database.database.db;
    const migrations = platformMigrations();
    const chainAt = migrations.findIndex((migration) => migration.id.endsWith("0003_audit_chain.sql"));
    await migrate(database.database, migrations.slice(0, chainAt));
    for (let index = 0; index < 4; index++) {
      await sql`insert into platform_audit_log (id, occurred_at, actor_type, action, details)
        values (${`evt_old${index}`}, now(), 'system', 'before.chain', ${JSON.stringify({ index })})`.execute(
        db,
      );
    }
    await migrate(database.database, migrations);
    await write(db, 2, "after.chain");
    expect(await verifyAuditChain(db)).toEqual({ ok: true, recordsChecked: 6 });
  });

  it.runIf(backend.name === "postgres")("stays one unbroken chain under concurrent writers", async () => {
    const db = await fresh();
    await Promise.all(Array.from({ length: 8 }, () => write(db, 10, "concurrent")));
    expect(await verifyAuditChain(db)).toEqual({ ok: true, recordsChecked: 80 });
  });
});

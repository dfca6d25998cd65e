import { mkdirSync } from "node:fs";
import { Kysely, PGliteDialect, PostgresDialect, sql, type Transaction } from "kysely";
import pg from "pg";
import { type DataDirLock, lockDataDir } from "./data-dir-lock.ts";

/**
 * The database is Kysely over either PostgreSQL (production: `DATABASE_URL`) or PGlite, the
 * embedded PostgreSQL that runs the same SQL and the same migrations. Modules never see which.
 * Each module narrows `Db` to its own tables (`Kysely<LedgerTables>`), so reaching into another
 * module's tables is a type error, not a code-review finding.
 */
// biome-ignore lint/suspicious/noExplicitAny: the platform handle is untyped; modules narrow it.
export type Db = Kysely<any>;
// biome-ignore lint/suspicious/noExplicitAny: see Db.
export type Tx = Transaction<any>;

export type DatabaseKind = "pglite" | "postgres";

/**
 * A raw transaction for SQL scripts (migrations): several statements in one string, which the
 * extended query protocol behind Kysely refuses.
 */
export interface ScriptSession {
  exec(script: string): Promise<void>;
  query<Row>(text: string, params?: unknown[]): Promise<Row[]>;
}

export interface DatabaseHandle {
  db: Db;
  kind: DatabaseKind;
  /** Runs `work` in one raw transaction; committed if it resolves, rolled back if it throws. */
  scriptTransaction<T>(work: (session: ScriptSession) => Promise<T>): Promise<T>;
  /** How many connections may run at once; batching code sizes itself on it. */
  connections: number;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** A PostgreSQL URL; when absent, PGlite is used. */
  url?: string | undefined;
  /** Where PGlite keeps its files, or "memory" for a throwaway database (tests). */
  dataDir: string;
  poolSize: number;
}

const INT8_OID = 20;

export async function openDatabase(options: DatabaseOptions): Promise<DatabaseHandle> {
  return options.url ? openPostgres(options.url, options.poolSize) : openPglite(options.dataDir);
}

function openPostgres(url: string, poolSize: number): DatabaseHandle {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    // Amounts are int8 (bigint) columns; reading them as JavaScript numbers would lose cents.
    types: {
      getTypeParser: ((oid: number, format?: "text" | "binary") =>
        oid === INT8_OID ? (value: string) => BigInt(value) : pg.types.getTypeParser(oid, format)) as never,
    },
  });
  // An idle client that loses its server must not crash the process; the next query reconnects.
  pool.on("error", () => undefined);
  const db = new Kysely({ dialect: new PostgresDialect({ pool }) });
  const scriptTransaction = async <T>(work: (session: ScriptSession) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    try {
      await client.query("begin");
      const result = await work({
        exec: async (script) => {
          await client.query(script);
        },
        query: async <Row>(text: string, params: unknown[] = []) =>
          (await client.query(text, params)).rows as Row[],
      });
      await client.query("commit");
      return result;
    } catch (error) {
      await client.query("rollback").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  };
  return { db, kind: "postgres", connections: poolSize, scriptTransaction, close: () => db.destroy() };
}

async function openPglite(dataDir: string): Promise<DatabaseHandle> {
  let lock: DataDirLock | undefined;
  if (dataDir !== "memory") {
    mkdirSync(dataDir, { recursive: true });
    // PGlite is single-process: a second process on the same files would corrupt them.
    lock = lockDataDir(dataDir);
  }
  try {
    // Loaded only when used: a node on PostgreSQL does not carry the embedded database's code.
    const { PGlite } = await import("@electric-sql/pglite");
    const pglite = await PGlite.create(dataDir === "memory" ? undefined : `${dataDir}/pglite`, {
      parsers: { [INT8_OID]: (value: string) => BigInt(value) },
    });
    const db = new Kysely({ dialect: new PGliteDialect({ pglite }) });
    return {
      db,
      kind: "pglite",
      connections: 1,
      // Only used before Kysely runs its first query (at start), so it cannot interleave with it.
      scriptTransaction: (work) =>
        pglite.transaction((tx) =>
          work({
            exec: async (script) => {
              await tx.exec(script);
            },
            query: async <Row>(text: string, params: unknown[] = []) =>
              (await tx.query<Row>(text, params)).rows,
          }),
        ),
      close: async () => {
        await db.destroy();
        // Kysely closes PGlite only if it ever ran a query; `migrate` alone uses the raw handle.
        if (!pglite.closed) await pglite.close();
        lock?.release();
      },
    };
  } catch (error) {
    lock?.release();
    throw error;
  }
}

export async function ping(db: Db): Promise<void> {
  await sql`select 1`.execute(db);
}

/** PostgreSQL error codes that mean "run the same transaction again": deadlock, serialization. */
const RETRYABLE_CODES = new Set(["40P01", "40001"]);

export function isRetryableTransactionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && RETRYABLE_CODES.has(code);
}

export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const candidate = error as { code?: unknown; constraint?: unknown } | null;
  if (candidate?.code !== "23505") return false;
  return constraint === undefined || candidate.constraint === constraint;
}

/**
 * Runs `work` in a transaction, again (a bounded number of times) when PostgreSQL aborted it for a
 * deadlock or a serialization failure, so such an abort never reaches a client.
 */
export async function inTransaction<T>(db: Db, work: (tx: Tx) => Promise<T>, attemptsMax = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().execute(work);
    } catch (error) {
      if (attempt >= attemptsMax || !isRetryableTransactionError(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt));
    }
  }
}

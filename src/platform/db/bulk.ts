import { type RawBuilder, sql } from "kysely";

/**
 * Bulk rows as `unnest` of one array per column. A batch of N rows is then a statement with one
 * parameter per column instead of one per cell: PostgreSQL parses and plans it once, and the
 * client serialises a few arrays instead of thousands of parameters. The hot write path of the
 * ledger uses it for every multi-row insert and update.
 */
export type ColumnType = "text" | "bigint" | "integer" | "timestamptz" | "jsonb" | "boolean";

type Cell = string | bigint | number | boolean | Date | null;

function toParameter(value: Cell): string | number | boolean | null {
  if (value === null) return null;
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Date) return value.toISOString();
  return value;
}

export function unnestRows<Row extends Record<string, Cell>>(
  columns: ReadonlyArray<readonly [keyof Row & string, ColumnType]>,
  rows: readonly Row[],
): RawBuilder<unknown> {
  const arrays = columns.map(
    ([name, type]) => sql`${rows.map((row) => toParameter(row[name] as Cell))}::${sql.raw(type)}[]`,
  );
  return sql`select * from unnest(${sql.join(arrays)}) as v(${sql.join(columns.map(([name]) => sql.ref(name)))})`;
}

/** `insert into table (columns) select * from unnest(...)`. */
export function bulkInsert<Row extends Record<string, Cell>>(
  table: string,
  columns: ReadonlyArray<readonly [keyof Row & string, ColumnType]>,
  rows: readonly Row[],
): RawBuilder<unknown> {
  return sql`insert into ${sql.table(table)} (${sql.join(columns.map(([name]) => sql.ref(name)))}) ${unnestRows(columns, rows)}`;
}

/**
 * Write statements gathered while a transaction decides, then sent to the database together as
 * one statement (data-modifying CTEs). The hot write path of a transfer batch writes to six tables;
 * one round trip instead of six matters when the database and the server share two cores.
 * Statements in a bundle must touch different tables and not depend on each other's effects.
 */
export class StatementBundle {
  readonly #statements: Array<{ statement: RawBuilder<unknown>; counted: boolean }> = [];

  add(statement: RawBuilder<unknown> | undefined): void {
    if (statement) this.#statements.push({ statement, counted: false });
  }

  /** Adds a statement with a RETURNING clause; `execute` reports how many rows it returned. */
  addCounted(statement: RawBuilder<unknown>): void {
    this.#statements.push({ statement, counted: true });
  }

  /** Runs everything in one statement; returns the row counts of the counted statements, in order. */
  async execute(executor: Parameters<RawBuilder<unknown>["execute"]>[0]): Promise<number[]> {
    if (this.#statements.length === 0) return [];
    const ctes = this.#statements.map(
      ({ statement }, index) => sql`${sql.raw(`s${index}`)} as (${statement})`,
    );
    const counts = this.#statements.flatMap(({ counted }, index) =>
      counted ? [sql`(select count(*) from ${sql.raw(`s${index}`)})::integer`] : [],
    );
    const select = counts.length > 0 ? sql.join(counts) : sql`1`;
    const result = await sql<Record<string, number>>`with ${sql.join(ctes)} select ${select}`.execute(
      executor,
    );
    const row = result.rows[0] ?? {};
    return Object.values(row).map(Number);
  }
}

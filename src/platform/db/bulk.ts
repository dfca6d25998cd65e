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

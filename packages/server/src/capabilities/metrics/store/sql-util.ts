/** Small SQL helpers shared by the metric store's files. */
import { type RawBuilder, sql } from "kysely";

/** Bind parameters per statement stay far below SQLite's 32 766 and PostgreSQL's 65 535. */
export const IN_LIST = 500;

export function inList(values: readonly (number | string)[]): RawBuilder<unknown> {
  return sql`(${sql.join(values.map((v) => sql`${v}`))})`;
}

export function* slices<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/** A blob column as read back (better-sqlite3 and pg both give a Buffer). */
export function asBytes(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  throw new TypeError("expected a blob");
}

export function affected(r: { numAffectedRows?: bigint }): number {
  return Number(r.numAffectedRows ?? 0n);
}

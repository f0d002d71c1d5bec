/**
 * The layout of the time-partitioned metric tables on PostgreSQL (docs/protocol.md §14.5
 * "Storage"): which tables, their columns and keys, and the names of their day partitions.
 * Shared by the migration that builds them (migrations.ts, pg-partitioned-ddl.ts) and the code
 * that adds and drops partitions as time goes by (partitions.ts). SQLite keeps plain tables.
 *
 * Every row of these tables is one series' window (an hour or a day) keyed by its start,
 * t_start, and its window never crosses a UTC day; so a table range-partitioned by t_start
 * into UTC days holds each row in the day it belongs to, and a day partition is wholly
 * expired as soon as its day is (every row's t_end lies inside its day).
 */

/** One UTC day, the width of a partition (also chunk-io's DAY window). */
export const PARTITION_MS = 86_400_000;

export type PartitionedTable =
  | "metric_hour_chunks"
  | "metric_chunks"
  | "metric_rollups"
  | "metric_rollups_1h";

export interface PartitionedTableDef {
  name: PartitionedTable;
  /** Column definitions but the id, as SQLite's in migrations.ts. */
  defs: string;
  /** The upsert key (ON CONFLICT target): it holds t_start, as PostgreSQL requires of a partitioned table's unique index. */
  key: string;
  /** The secondary index m0001 declared: [name, columns]. */
  index: [string, string];
  /** A column leading an index, to probe a partition for any row without a sequential scan. */
  probe: string;
}

const RAW_DEFS =
  "series_id integer not null, t_start bigint not null, t_end bigint not null, n integer not null, data bytea not null";
const ROLLUP_DEFS =
  "series_id integer not null, res integer not null, t_start bigint not null, t_end bigint not null, " +
  "n integer not null, data bytea not null";

export const PARTITIONED_TABLES: readonly PartitionedTableDef[] = [
  {
    name: "metric_hour_chunks",
    defs: RAW_DEFS,
    key: "series_id, t_start",
    index: ["metric_hour_chunks_t_start", "t_start"],
    probe: "t_start",
  },
  {
    name: "metric_chunks",
    defs: RAW_DEFS,
    key: "series_id, t_start",
    index: ["metric_chunks_t_end", "t_end"],
    probe: "t_end",
  },
  {
    name: "metric_rollups",
    defs: ROLLUP_DEFS,
    key: "series_id, res, t_start",
    index: ["metric_rollups_t_end", "res, t_end"],
    probe: "res",
  },
  {
    name: "metric_rollups_1h",
    defs: ROLLUP_DEFS,
    key: "series_id, res, t_start",
    index: ["metric_rollups_1h_t_end", "res, t_end"],
    probe: "res",
  },
];

export function tableDef(name: PartitionedTable): PartitionedTableDef {
  return PARTITIONED_TABLES.find((t) => t.name === name)!;
}

/** Start of the UTC day holding t. */
export function dayOf(t: number): number {
  return Math.floor(t / PARTITION_MS) * PARTITION_MS;
}

/** `metric_chunks_p20250303`: the day partition of `table` starting at `day`. */
export function partitionName(table: PartitionedTable, day: number): string {
  if (!Number.isSafeInteger(day) || day % PARTITION_MS !== 0) throw new RangeError(`not a day start: ${day}`);
  return `${table}_p${new Date(day).toISOString().slice(0, 10).replaceAll("-", "")}`;
}

/** The partition that takes rows of days without their own partition, so that no write fails. */
export function defaultPartition(table: PartitionedTable): string {
  return `${table}_default`;
}

/**
 * Make sure the day partitions of `table` that hold these window starts exist before rows are
 * written there (partitions.ts; nothing on SQLite). Never fails: a day it could not create
 * takes its rows in the default partition.
 */
export type EnsureDays = (table: PartitionedTable, windowStarts: Iterable<number>) => Promise<void>;

export const noEnsure: EnsureDays = async () => {};

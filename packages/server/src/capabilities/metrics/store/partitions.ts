/**
 * Day partitions of the time-keyed metric tables on PostgreSQL (docs/protocol.md §14.5
 * "Storage"; layout in partition-layout.ts). On SQLite every method does nothing.
 *
 * Granularity: one UTC day. Rows are per series per day (hour chunks per hour), so a day is
 * the unit retention expires in; with 10,000 devices × 500 series a day partition holds 5 M
 * rows (day chunks ≈ 65 GB at 10 s, 1-hour buckets ≈ 2.5 GB), hour chunks 120 M small rows
 * while the day runs. A week per partition would hold seven times that and expire a day's
 * worth of rows by DELETE each day; a day keeps partitions to ~9 per raw table and ~400 for
 * 1-hour buckets (400 days), which plan-time pruning handles (queries bind their time range).
 *
 * Creation: compaction makes the days the next passes write ahead of need (ahead()), and every
 * write first ensures its days (create-if-missing, remembered in memory). A partition is
 * created as a plain table, filled with any rows of its day that the default partition took
 * meanwhile, then attached: ATTACH takes a lighter lock on the parent than CREATE … PARTITION
 * OF, so queries go on. Creators and droppers serialise on one advisory lock and check the
 * catalog under it, so two transactions racing for the same day both succeed. Only days that
 * retention still keeps are created (a sample from 2001 makes no partition): other rows go to
 * the default partition, where the passes that move or expire them find them as before.
 *
 * Dropping: a rollup partition whose day is wholly past its retention is dropped (every row's
 * t_end is inside its day); the partly expired day's rows are deleted as on SQLite, so no
 * query returns data past retention after a pass. Raw partitions empty out as compaction moves
 * their rows on (hour chunks into day chunks, day chunks into 1-minute buckets) and are
 * dropped once empty, not left for VACUUM (late data of a consolidated day makes its hour-chunk
 * day again for the pass that merges it, which drops it again). Lock waits are bounded
 * (lock_timeout): a drop that cannot get its lock is tried again on the next pass, a creation
 * that cannot leaves the rows in the default partition until a later pass creates the day.
 *
 * A PostgreSQL database made before the tables were partitioned (unreleased builds) has plain
 * tables: they are left alone, with one warning, and work as on SQLite.
 */
import { type Kysely, type RawBuilder, sql } from "kysely";
import type { Logger } from "pino";
import type { Dialect } from "../../../store/db.js";
import {
  dayOf,
  defaultPartition,
  type EnsureDays,
  noEnsure,
  PARTITION_MS,
  PARTITIONED_TABLES,
  type PartitionedTable,
  partitionName,
  tableDef,
} from "./partition-layout.js";
import type { RetentionPolicy } from "./types.js";

/** Key of the advisory lock serialising partition DDL of the metric tables (any fixed number). */
const DDL_LOCK = 7_411_903_511;
const CREATE_LOCK_TIMEOUT = "5s";
/** A drop takes the parent's exclusive lock; queries wait behind it at most this long. */
const DROP_LOCK_TIMEOUT = "2s";
/** Partitions with at least this many rows by the planner's statistics are counted from them, not read. */
const ESTIMATE_ROWS = 100_000;

export interface Partitions {
  /** The ensure-before-write hook of one compaction pass at `now` (retention decides which days may be created). */
  ensurer(now: number): EnsureDays;
  /** Re-read the catalog and create the days the next passes write. */
  ahead(now: number): Promise<void>;
  /** Drop the rollup partitions of days ending at or before `before`; rows they held. */
  dropExpired(table: "metric_rollups" | "metric_rollups_1h", before: number): Promise<number>;
  /** Drop the empty partitions of days ending at or before `before` (raw tables, after their rows moved on). */
  dropEmpty(table: "metric_hour_chunks" | "metric_chunks", before: number): Promise<void>;
  /** `and t_start < x` on PostgreSQL (prunes partitions; implied by a t_end bound), nothing on SQLite. */
  startsBefore(x: number): RawBuilder<unknown>;
}

interface Part {
  name: string;
  lo: number;
  hi: number;
}

export function createPartitions(o: {
  db: Kysely<any>;
  dialect: Dialect;
  log: Logger;
  retention: RetentionPolicy;
}): Partitions {
  if (o.dialect !== "postgres") {
    return {
      ensurer: () => noEnsure,
      ahead: async () => {},
      dropExpired: async () => 0,
      dropEmpty: async () => {},
      startsBefore: () => sql``,
    };
  }
  const { db, log, retention } = o;
  /** Range partitions per table as of the last catalog read, plus those created or dropped since. */
  let known: Map<PartitionedTable, Part[]> | null = null;
  let warnedPlain = false;

  /** Partitions of each partitioned table (plain tables are absent). */
  async function catalog(): Promise<Map<PartitionedTable, Part[]>> {
    if (known) return known;
    const parents = sql.join(PARTITIONED_TABLES.map((t) => sql`to_regclass(${t.name})`));
    const { rows: partitioned } = await sql<{ name: PartitionedTable }>`
      select c.relname as name from pg_partitioned_table t join pg_class c on c.oid = t.partrelid
      where t.partrelid in (${parents})`.execute(db);
    const out = new Map<PartitionedTable, Part[]>(partitioned.map((t) => [t.name, []]));
    if (out.size < PARTITIONED_TABLES.length && !warnedPlain) {
      warnedPlain = true;
      log.warn(
        { plain: PARTITIONED_TABLES.map((t) => t.name).filter((t) => !out.has(t)) },
        "metric tables from before partitioning (an unreleased schema) are used unpartitioned",
      );
    }
    const { rows } = await sql<{ parent: string; name: string; bound: string }>`
      select p.relname as parent, c.relname as name, pg_get_expr(c.relpartbound, c.oid) as bound
      from pg_inherits i join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent
      where i.inhparent in (${parents})`.execute(db);
    for (const r of rows) {
      const m = /FROM \('?(-?\d+)'?\) TO \('?(-?\d+)'?\)/.exec(r.bound);
      if (m)
        out.get(r.parent as PartitionedTable)?.push({ name: r.name, lo: Number(m[1]), hi: Number(m[2]) });
    }
    known = out;
    return out;
  }

  function keepMs(table: PartitionedTable): number {
    if (table === "metric_rollups") return retention.minuteMs;
    if (table === "metric_rollups_1h") return retention.hourMs;
    return retention.rawMs;
  }

  /** Days retention still keeps, up to tomorrow (nothing is written further ahead). */
  function creatable(table: PartitionedTable, day: number, now: number): boolean {
    return day + PARTITION_MS > now - keepMs(table) && day <= dayOf(now) + PARTITION_MS;
  }

  async function create(table: PartitionedTable, day: number): Promise<Part> {
    const name = partitionName(table, day);
    const hi = day + PARTITION_MS;
    await db.transaction().execute(async (trx) => {
      await sql.raw(`set local lock_timeout = '${CREATE_LOCK_TIMEOUT}'`).execute(trx);
      await sql`select pg_advisory_xact_lock(${DDL_LOCK})`.execute(trx);
      const { rows } = await sql<{ r: string | null }>`select to_regclass(${name})::text as r`.execute(trx);
      if (rows[0]?.r) return; // another transaction made it first
      const dflt = sql.table(defaultPartition(table));
      const inDay = sql`t_start >= ${day} and t_start < ${hi}`;
      await sql`create table ${sql.table(name)} (like ${sql.table(table)})`.execute(trx);
      // Rows of this day that arrived while it had no partition move in before it attaches
      // (ATTACH refuses while the default partition holds rows of the new range).
      await sql`insert into ${sql.table(name)} select * from ${dflt} where ${inDay}`.execute(trx);
      await sql`delete from ${dflt} where ${inDay}`.execute(trx);
      await sql`alter table ${sql.table(table)} attach partition ${sql.table(name)}
        for values from (${sql.raw(String(day))}) to (${sql.raw(String(hi))})`.execute(trx);
    });
    return { name, lo: day, hi };
  }

  async function ensure(table: PartitionedTable, windowStarts: Iterable<number>, now: number): Promise<void> {
    const parts = (await catalog()).get(table);
    if (!parts) return;
    const days = new Set<number>();
    for (const w of windowStarts) days.add(dayOf(w));
    for (const day of [...days].sort((a, b) => a - b)) {
      if (!creatable(table, day, now) || parts.some((p) => p.lo <= day && day < p.hi)) continue;
      try {
        parts.push(await create(table, day));
        log.debug({ table, day: new Date(day).toISOString() }, "metric partition created");
      } catch (err) {
        log.warn(
          { err, table, day: new Date(day).toISOString() },
          "could not create a metric partition; its rows go to the default partition until a later pass creates it",
        );
      }
    }
  }

  /** Drop one partition under the DDL lock; false when its lock was not granted in time or it is not empty. */
  async function drop(table: PartitionedTable, p: Part, onlyEmpty: boolean): Promise<boolean> {
    try {
      const dropped = await db.transaction().execute(async (trx) => {
        await sql.raw(`set local lock_timeout = '${DROP_LOCK_TIMEOUT}'`).execute(trx);
        await sql`select pg_advisory_xact_lock(${DDL_LOCK})`.execute(trx);
        // Parent first, as DROP itself locks it: no writer can route a row into the partition
        // between the check and the drop, and lock order matches inserts (no deadlock).
        await sql`lock table only ${sql.table(table)} in access exclusive mode`.execute(trx);
        if (onlyEmpty) {
          const probe = sql.ref(tableDef(table).probe);
          const { rows } = await sql`select 1 from ${sql.table(p.name)} order by ${probe} limit 1`.execute(
            trx,
          );
          if (rows.length > 0) return false;
        }
        await sql`drop table if exists ${sql.table(p.name)}`.execute(trx);
        return true;
      });
      if (!dropped) {
        log.warn({ table, partition: p.name }, "a metric partition past its day still holds rows; kept");
      }
      return dropped;
    } catch (err) {
      log.warn(
        { err, table, partition: p.name },
        "could not drop a metric partition; trying again next pass",
      );
      return false;
    }
  }

  /** Rows of a partition about to be dropped: the planner's estimate when large (a count would read it all). */
  async function rowsOf(p: Part): Promise<number> {
    const { rows } = await sql<{ n: number | string }>`
      select reltuples as n from pg_class where oid = to_regclass(${p.name})`.execute(db);
    const estimate = Number(rows[0]?.n ?? -1);
    if (estimate >= ESTIMATE_ROWS) return Math.round(estimate);
    const { rows: c } = await sql<{
      n: number | string;
    }>`select count(*) as n from ${sql.table(p.name)}`.execute(db);
    return Number(c[0]!.n);
  }

  async function dropBefore(table: PartitionedTable, before: number, onlyEmpty: boolean): Promise<number> {
    const parts = (await catalog()).get(table);
    if (!parts) return 0;
    let rows = 0;
    for (const p of parts.filter((x) => x.hi <= before)) {
      const n = onlyEmpty ? 0 : await rowsOf(p);
      if (await drop(table, p, onlyEmpty)) {
        parts.splice(parts.indexOf(p), 1);
        rows += n;
      }
    }
    return rows;
  }

  return {
    ensurer: (now) => (table, windowStarts) => ensure(table, windowStarts, now),

    async ahead(now) {
      known = null; // another process may have added or dropped partitions
      const today = dayOf(now);
      const around = [today - PARTITION_MS, today, today + PARTITION_MS];
      await ensure("metric_hour_chunks", [today, today + PARTITION_MS], now);
      await ensure("metric_chunks", around, now);
      await ensure("metric_rollups_1h", around, now);
      const expiring = dayOf(now - retention.rawMs);
      await ensure("metric_rollups", [expiring, expiring + PARTITION_MS], now);
    },

    dropExpired: (table, before) => dropBefore(table, before, false),

    async dropEmpty(table, before) {
      await dropBefore(table, before, true);
    },

    startsBefore: (x) => sql`and t_start < ${x}`,
  };
}

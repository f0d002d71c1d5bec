/**
 * Expiry and retention (docs/protocol.md §14.4 "Storage"). Downsampling happens at expiry, as
 * in Thanos: a day chunk whose newest sample is older than the raw retention (default 7 days)
 * becomes that series-day's 1-minute buckets (metric_rollups; merged with the stored row when
 * late data expires after it) and is deleted, in one transaction per page. Until then, queries
 * at a 1-minute step aggregate the raw samples, so the 1-minute buckets never cost storage
 * beside the raw samples they summarise. Retention then deletes 1-minute rows older than
 * their retention (30 days) and 1-hour rows older than theirs (400 days). On PostgreSQL
 * (partitions.ts) retention first drops the day partitions wholly past it, then deletes the
 * expired rows of the day it is in (and of the default partition), so the answers are the same.
 */
import { type Kysely, sql } from "kysely";
import { deleteByIds, HOUR, MINUTE, type RollupPart, rowsById, upsertRollups } from "./chunk-io.js";
import { decodeChunk } from "./codec.js";
import { type EnsureDays, noEnsure } from "./partition-layout.js";
import type { Partitions } from "./partitions.js";
import { bucketize } from "./rollup.js";
import { affected, asBytes } from "./sql-util.js";
import type { RetentionPolicy } from "./types.js";

const PAGE_POINTS = 1_000_000;
const PAGE_ROWS = 1000;

/**
 * Downsample and delete one page of day chunks with t_end before `now − rawMs`; chunks already
 * beyond the 1-minute retention are only deleted. Returns chunks deleted, or null when none.
 */
export async function expirePage(
  trx: Kysely<any>,
  now: number,
  r: RetentionPolicy,
  parts?: { ensure: EnsureDays; startsBefore: Partitions["startsBefore"] },
): Promise<number | null> {
  const before = now - r.rawMs;
  // On PostgreSQL `t_start < before` (implied: t_start ≤ t_end) skips the partitions of days still kept.
  const prune = parts ? parts.startsBefore(before) : sql``;
  const { rows: cands } = await sql<{ id: number | string; n: number | string; t_end: number | string }>`
    select id, n, t_end from metric_chunks where t_end < ${before} ${prune}
    order by id limit ${PAGE_ROWS}`.execute(trx);
  if (cands.length === 0) return null;
  const ids: (number | string)[] = [];
  const keep: (number | string)[] = [];
  let points = 0;
  for (const c of cands) {
    if (ids.length > 0 && points + Number(c.n) > PAGE_POINTS) break;
    ids.push(c.id);
    if (Number(c.t_end) >= now - r.minuteMs) {
      keep.push(c.id);
      points += Number(c.n);
    }
  }
  const rows = await rowsById<{ series_id: number; t_start: number | string; data: unknown }>(
    trx,
    "metric_chunks",
    "series_id, t_start, data",
    keep,
  );
  const buckets: RollupPart[] = rows.map((row) => {
    const c = decodeChunk(asBytes(row.data));
    return {
      sid: Number(row.series_id),
      w: Number(row.t_start),
      buckets: bucketize(c.times, c.values, 0, c.times.length, MINUTE),
    };
  });
  await upsertRollups(trx, "metric_rollups", MINUTE, buckets, parts?.ensure ?? noEnsure);
  await deleteByIds(trx, "metric_chunks", ids);
  return ids.length;
}

/**
 * Delete rollups older than their resolution's retention; rows deleted. On PostgreSQL the
 * partitions of days wholly past it go first (their rows counted), then the rows of the rest.
 */
export async function applyRetention(
  db: Kysely<any>,
  now: number,
  r: RetentionPolicy,
  parts?: Partitions,
): Promise<number> {
  const minute = now - r.minuteMs;
  const hour = now - r.hourMs;
  let n = 0;
  if (parts) {
    n += await parts.dropExpired("metric_rollups", minute);
    n += await parts.dropExpired("metric_rollups_1h", hour);
  }
  const prune = (x: number) => (parts ? parts.startsBefore(x) : sql``);
  n += affected(
    await sql`delete from metric_rollups where res = ${MINUTE} and t_end < ${minute} ${prune(minute)}`.execute(
      db,
    ),
  );
  n += affected(
    await sql`delete from metric_rollups_1h where res = ${HOUR} and t_end < ${hour} ${prune(hour)}`.execute(
      db,
    ),
  );
  return n;
}

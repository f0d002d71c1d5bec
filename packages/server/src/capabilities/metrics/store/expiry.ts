/**
 * Expiry and retention (docs/protocol.md §14.4 "Storage"). Downsampling happens at expiry, as
 * in Thanos: a day chunk whose newest sample is older than the raw retention (default 7 days)
 * becomes that series-day's 1-minute buckets (metric_rollups; merged with the stored row when
 * late data expires after it) and is deleted, in one transaction per page. Until then, queries
 * at a 1-minute step aggregate the raw samples, so the 1-minute buckets never cost storage
 * beside the raw samples they summarise. Retention then deletes 1-minute rows older than
 * their retention (30 days) and 1-hour rows older than theirs (400 days).
 */
import { type Kysely, sql } from "kysely";
import { deleteByIds, HOUR, MINUTE, type RollupPart, rowsById, upsertRollups } from "./chunk-io.js";
import { decodeChunk } from "./codec.js";
import { bucketize } from "./rollup.js";
import { affected, asBytes } from "./sql-util.js";
import type { RetentionPolicy } from "./types.js";

const PAGE_POINTS = 1_000_000;
const PAGE_ROWS = 1000;

/**
 * Downsample and delete one page of day chunks with t_end before `now − rawMs`; chunks already
 * beyond the 1-minute retention are only deleted. Returns chunks deleted, or null when none.
 */
export async function expirePage(trx: Kysely<any>, now: number, r: RetentionPolicy): Promise<number | null> {
  const { rows: cands } = await sql<{ id: number | string; n: number | string; t_end: number | string }>`
    select id, n, t_end from metric_chunks where t_end < ${now - r.rawMs}
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
  const parts: RollupPart[] = rows.map((row) => {
    const c = decodeChunk(asBytes(row.data));
    return {
      sid: Number(row.series_id),
      w: Number(row.t_start),
      buckets: bucketize(c.times, c.values, 0, c.times.length, MINUTE),
    };
  });
  await upsertRollups(trx, "metric_rollups", MINUTE, parts);
  await deleteByIds(trx, "metric_chunks", ids);
  return ids.length;
}

/** Delete rollups older than their resolution's retention; rows deleted. */
export async function applyRetention(db: Kysely<any>, now: number, r: RetentionPolicy): Promise<number> {
  let n = affected(
    await sql`delete from metric_rollups where res = ${MINUTE} and t_end < ${now - r.minuteMs}`.execute(db),
  );
  n += affected(
    await sql`delete from metric_rollups_1h where res = ${HOUR} and t_end < ${now - r.hourMs}`.execute(db),
  );
  return n;
}

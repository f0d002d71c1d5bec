/**
 * Day consolidation (docs/protocol.md §14.4 "Storage"): once a day is over (by the compaction
 * cutoff), the hour chunks of each series in it merge into one day chunk (metric_chunks) and
 * its 1-hour buckets (metric_rollups_1h), in one transaction per page, and the hour chunks are
 * deleted. A day chunk deflates ≈ 16 % smaller than its 24 hour chunks and is one row instead
 * of 24. Late data of a consolidated day arrives as a new hour chunk and merges into the stored
 * day chunk and buckets on the next pass. Hour chunks about to pass the raw retention are
 * consolidated early (their day is not over), so that expiry finds every raw sample in a day
 * chunk and no sample misses its 1-hour bucket.
 */
import { type Kysely, sql } from "kysely";
import {
  type ChunkPart,
  DAY,
  deleteByIds,
  HOUR,
  type RollupPart,
  rowsById,
  upsertChunks,
  upsertRollups,
} from "./chunk-io.js";
import { decodeChunk } from "./codec.js";
import { type EnsureDays, noEnsure } from "./partition-layout.js";
import { bucketize } from "./rollup.js";
import { asBytes } from "./sql-util.js";

/** Samples per consolidation transaction (about two days of 500 series at 10 s). */
const PAGE_POINTS = 1_000_000;
const PAGE_ROWS = 5000;

/** Hour chunks starting before this are consolidated: those of days over, or about to expire. */
export function consolidationBoundary(cutoff: number, now: number, rawMs: number): number {
  return Math.max(Math.floor(cutoff / DAY) * DAY, now - rawMs - HOUR + 1);
}

/** Consolidate one page of hour chunks starting before `boundary`; null when there is none. */
export async function consolidatePage(
  trx: Kysely<any>,
  boundary: number,
  ensure: EnsureDays = noEnsure,
): Promise<{ hours: number; days: number } | null> {
  const { rows: cands } = await sql<{ id: number | string; n: number | string }>`
    select id, n from metric_hour_chunks where t_start < ${boundary}
    order by series_id, t_start limit ${PAGE_ROWS}`.execute(trx);
  if (cands.length === 0) return null;
  const ids: (number | string)[] = [];
  let points = 0;
  for (const c of cands) {
    if (ids.length > 0 && points + Number(c.n) > PAGE_POINTS) break;
    ids.push(c.id);
    points += Number(c.n);
  }
  const rows = await rowsById<{ series_id: number; t_start: number | string; data: unknown }>(
    trx,
    "metric_hour_chunks",
    "series_id, t_start, data",
    ids,
  );
  // (series, day) → its hour chunks in time order; hour windows do not overlap, so their
  // samples concatenate sorted.
  const byDay = new Map<string, { sid: number; w: number; hours: [number, Float64Array, Float64Array][] }>();
  for (const r of rows) {
    const sid = Number(r.series_id);
    const tStart = Number(r.t_start);
    const w = Math.floor(tStart / DAY) * DAY;
    const key = `${sid}:${w}`;
    let d = byDay.get(key);
    if (!d) {
      d = { sid, w, hours: [] };
      byDay.set(key, d);
    }
    const c = decodeChunk(asBytes(r.data));
    d.hours.push([tStart, c.times, c.values]);
  }
  const chunks: ChunkPart[] = [];
  const hourly: RollupPart[] = [];
  for (const d of byDay.values()) {
    d.hours.sort((a, b) => a[0] - b[0]);
    const n = d.hours.reduce((a, h) => a + h[1].length, 0);
    const times = new Float64Array(n);
    const values = new Float64Array(n);
    let o = 0;
    for (const [, t, v] of d.hours) {
      times.set(t, o);
      values.set(v, o);
      o += t.length;
    }
    chunks.push({ sid: d.sid, w: d.w, times, values });
    hourly.push({ sid: d.sid, w: d.w, buckets: bucketize(times, values, 0, n, HOUR) });
  }
  const days = await upsertChunks(trx, "metric_chunks", chunks, ensure);
  await upsertRollups(trx, "metric_rollups_1h", HOUR, hourly, ensure);
  await deleteByIds(trx, "metric_hour_chunks", ids);
  return { hours: ids.length, days };
}

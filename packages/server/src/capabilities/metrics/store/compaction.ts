/**
 * Compaction (docs/protocol.md §14.4 "Storage"). Recent rows (one per batch) become, once the
 * hour they belong to is over and `compactAfterMs` has passed (late batches of that hour
 * usually arrived by then), a raw chunk per series per hour (codec.ts) in metric_hour_chunks,
 * in one transaction per page of devices, and the recent rows are deleted. Waiting for the
 * hour to end means a chunk is written once, appended in rowid order, so SQLite pages stay
 * full (rewriting a growing row each minute split pages) and compaction does no repeated
 * decode/encode work. Late data (a recent row of an hour already compacted) merges into the
 * stored hour chunk. No rollup is written here: hour chunks become day chunks and 1-hour
 * buckets when their day is over (consolidation.ts), and 1-minute buckets only when raw data
 * expires (expiry.ts).
 */
import { type Kysely, sql } from "kysely";
import { type ChunkPart, HOUR, sortGroup, upsertChunks, windows } from "./chunk-io.js";
import { type EnsureDays, noEnsure } from "./partition-layout.js";
import { decodeRecent } from "./recent-codec.js";
import { asBytes, IN_LIST, inList, slices } from "./sql-util.js";

export { DAY, HOUR, MINUTE } from "./chunk-io.js";
/**
 * A page: whole devices, at most this many samples per transaction (unless one device alone
 * has more), so memory stays bounded and a series' hour is normally written in one go.
 */
const PAGE_POINTS = 1_000_000;
const PAGE_ROWS = 5000;

interface Group {
  times: number[];
  values: number[];
}

export interface PageResult {
  rows: number;
  chunks: number;
}

/** Recent rows whose samples all lie in hours that are over by `cutoff` are compacted. */
export function compactionBoundary(cutoff: number): number {
  return Math.floor(cutoff / HOUR) * HOUR;
}

/** Compact one page of recent rows with t_max before the boundary; null when there is none. */
export async function compactPage(
  trx: Kysely<any>,
  cutoff: number,
  ensure: EnsureDays = noEnsure,
): Promise<PageResult | null> {
  const boundary = compactionBoundary(cutoff);
  const { rows: cands } = await sql<{ id: number | string; device_id: string; n: number }>`
    select id, device_id, n from metric_recent where t_max < ${boundary}
    order by device_id, id limit ${PAGE_ROWS}`.execute(trx);
  if (cands.length === 0) return null;
  const ids: (number | string)[] = [];
  let points = 0;
  for (let i = 0; i < cands.length; ) {
    // The next device's rows, all or none (a page never ends inside a device unless it is the first).
    let j = i;
    let devPoints = 0;
    while (j < cands.length && cands[j]!.device_id === cands[i]!.device_id)
      devPoints += Number(cands[j++]!.n);
    if (ids.length > 0 && points + devPoints > PAGE_POINTS) break;
    for (let k = i; k < j; k++) {
      if (ids.length > 0 && points + Number(cands[k]!.n) > PAGE_POINTS) break;
      ids.push(cands[k]!.id);
      points += Number(cands[k]!.n);
    }
    if (points >= PAGE_POINTS) break;
    i = j;
  }
  const groups = new Map<number, Group>();
  for (const part of slices(ids, IN_LIST)) {
    const { rows } = await sql<{ data: unknown }>`
      select data from metric_recent where id in ${inList(part)} order by id`.execute(trx);
    for (const r of rows) {
      const p = decodeRecent(asBytes(r.data));
      for (let i = 0; i < p.n; i++) {
        const sid = p.sids[i]!;
        let g = groups.get(sid);
        if (!g) {
          g = { times: [], values: [] };
          groups.set(sid, g);
        }
        g.times.push(p.times[i]!);
        g.values.push(p.values[i]!);
      }
    }
  }
  const parts: ChunkPart[] = [];
  for (const [sid, g0] of groups) {
    const g = sortGroup(g0);
    for (const [w, from, to] of windows(g.times, HOUR)) {
      parts.push({ sid, w, times: sliceOf(g.times, from, to), values: sliceOf(g.values, from, to) });
    }
  }
  const chunks = await upsertChunks(trx, "metric_hour_chunks", parts, ensure);
  for (const part of slices(ids, IN_LIST)) {
    await sql`delete from metric_recent where id in ${inList(part)}`.execute(trx);
  }
  return { rows: ids.length, chunks };
}

function sliceOf(a: ArrayLike<number>, from: number, to: number): ArrayLike<number> {
  return from === 0 && to === a.length ? a : Array.prototype.slice.call(a, from, to);
}

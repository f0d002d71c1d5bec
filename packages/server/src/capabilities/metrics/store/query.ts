/**
 * Reading samples back (docs/protocol.md §14.5): the resolution a step needs, and the entries
 * of a set of series over a range. Every sample is in exactly one place at a time (recent
 * rows, hour chunks, day chunks or, once raw expired, 1-minute buckets; the 1-hour buckets
 * stand for the day chunks), so each resolution reads a set of tables that together hold
 * every sample once:
 * - raw: recent rows + hour chunks + day chunks;
 * - 1m: the same, plus the 1-minute buckets of days whose raw data expired (downsampling at
 *   expiry: while raw exists, a 1-minute step aggregates it, with the same answers);
 * - 1h: recent rows + hour chunks (today) + 1-hour buckets (days consolidated).
 */
import { type Kysely, sql } from "kysely";
import { DAY, HOUR, MINUTE } from "./chunk-io.js";
import { decodeChunk, decodeRollup } from "./codec.js";
import { decodeRecent } from "./recent-codec.js";
import { asBytes, IN_LIST, inList, slices } from "./sql-util.js";
import { Entries } from "./steps.js";

export type Resolution = "raw" | "1m" | "1h";

/** Raw under a minute; 1-minute buckets up to an hour; 1-hour buckets for whole hours. */
export function resolutionFor(stepMs: number): Resolution {
  if (stepMs < MINUTE) return "raw";
  if (stepMs >= HOUR && stepMs % HOUR === 0) return "1h";
  return "1m";
}

type Out = Map<number, Entries>;

/** Raw samples of chunks in `table` (windows of `window` ms) within [from, to). */
async function readChunks(
  db: Kysely<any>,
  table: string,
  window: number,
  sids: number[],
  from: number,
  to: number,
  out: Out,
): Promise<void> {
  const lo = Math.floor(from / window) * window;
  for (const part of slices(sids, IN_LIST)) {
    const { rows } = await sql<{ series_id: number; data: unknown }>`
      select series_id, data from ${sql.table(table)}
      where series_id in ${inList(part)} and t_start >= ${lo} and t_start < ${to} and t_end >= ${from}`.execute(
      db,
    );
    for (const r of rows) {
      const e = out.get(Number(r.series_id))!;
      const c = decodeChunk(asBytes(r.data));
      for (let i = 0; i < c.times.length; i++) {
        const t = c.times[i]!;
        if (t >= from && t < to) e.sample(t, c.values[i]!);
      }
    }
  }
}

/** Buckets of resolution `res` (rows of a series-day each) within [from, to). */
async function readRollups(
  db: Kysely<any>,
  table: string,
  res: number,
  sids: number[],
  from: number,
  to: number,
  out: Out,
): Promise<void> {
  const lo = Math.floor(from / DAY) * DAY;
  for (const part of slices(sids, IN_LIST)) {
    const { rows } = await sql<{ series_id: number; data: unknown }>`
      select series_id, data from ${sql.table(table)}
      where res = ${res} and series_id in ${inList(part)} and t_start >= ${lo} and t_start < ${to}
        and t_end >= ${from}`.execute(db);
    for (const r of rows) {
      const e = out.get(Number(r.series_id))!;
      const c = decodeRollup(asBytes(r.data));
      for (let i = 0; i < c.n; i++) {
        const t = c.t[i]!;
        if (t >= from && t < to) {
          e.bucket(t, t + c.lastOff[i]!, c.min[i]!, c.max[i]!, c.sum[i]!, c.count[i]!, c.last[i]!);
        }
      }
    }
  }
}

/**
 * Entries per series id over [from, to): samples and buckets whose time falls in it.
 * `deviceIds` are the devices owning the series (their recent rows are read).
 */
export async function collect(
  db: Kysely<any>,
  resolution: Resolution,
  sids: number[],
  deviceIds: string[],
  from: number,
  to: number,
): Promise<Map<number, Entries>> {
  const out: Out = new Map();
  for (const s of sids) out.set(s, new Entries());
  if (sids.length === 0) return out;
  if (resolution === "1h") {
    await readRollups(db, "metric_rollups_1h", HOUR, sids, from, to, out);
  } else {
    if (resolution === "1m") await readRollups(db, "metric_rollups", MINUTE, sids, from, to, out);
    await readChunks(db, "metric_chunks", DAY, sids, from, to, out);
  }
  await readChunks(db, "metric_hour_chunks", HOUR, sids, from, to, out);
  const only = new Set(sids);
  for (const part of slices(deviceIds, IN_LIST)) {
    const { rows } = await sql<{ data: unknown }>`
      select data from metric_recent
      where device_id in ${inList(part)} and t_max >= ${from} and t_min < ${to}`.execute(db);
    for (const r of rows) {
      const p = decodeRecent(asBytes(r.data), only);
      for (let i = 0; i < p.n; i++) {
        const t = p.times[i]!;
        if (t >= from && t < to) out.get(p.sids[i]!)!.sample(t, p.values[i]!);
      }
    }
  }
  return out;
}

/** Newest sample per series among recent rows, then (for the rest) their newest chunk. */
export async function newest(
  db: Kysely<any>,
  deviceId: string,
  sids: number[],
): Promise<Map<number, { t: number; v: number }>> {
  const out = new Map<number, { t: number; v: number }>();
  const { rows } = await sql<{ t_max: number | string; data: unknown }>`
    select t_max, data from metric_recent where device_id = ${deviceId} order by t_max desc`.execute(db);
  // Newest rows first: once every series has a sample at least as new as anything the next
  // row holds, the older rows cannot change the answer.
  let oldestFound = Number.POSITIVE_INFINITY;
  for (const r of rows) {
    if (out.size === sids.length && Number(r.t_max) <= oldestFound) break;
    const p = decodeRecent(asBytes(r.data));
    for (let i = 0; i < p.n; i++) {
      const sid = p.sids[i]!;
      const t = p.times[i]!;
      const cur = out.get(sid);
      if (!cur) out.set(sid, { t, v: p.values[i]! });
      else if (t >= cur.t) {
        cur.t = t;
        cur.v = p.values[i]!;
      }
    }
    oldestFound = Number.POSITIVE_INFINITY;
    for (const x of out.values()) if (x.t < oldestFound) oldestFound = x.t;
  }
  // Then the newest hour chunk, and for series without one, the newest day chunk.
  for (const table of ["metric_hour_chunks", "metric_chunks"]) {
    const rest = sids.filter((s) => !out.has(s));
    for (const part of slices(rest, IN_LIST)) {
      const { rows: chunks } = await sql<{ series_id: number; data: unknown }>`
        select c.series_id, c.data from ${sql.table(table)} c
        join (select series_id, max(t_start) as m from ${sql.table(table)}
              where series_id in ${inList(part)} group by series_id) x
          on c.series_id = x.series_id and c.t_start = x.m`.execute(db);
      for (const r of chunks) {
        const c = decodeChunk(asBytes(r.data));
        const n = c.times.length;
        if (n > 0) out.set(Number(r.series_id), { t: c.times[n - 1]!, v: c.values[n - 1]! });
      }
    }
  }
  return out;
}

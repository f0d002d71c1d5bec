/**
 * Writing chunks and rollups (docs/protocol.md §14.4 "Storage"), shared by compaction (recent
 * rows → hour chunks), day consolidation (hour chunks → day chunk and 1-hour buckets) and
 * expiry (day chunk → 1-minute buckets). A row is keyed by (series, window start); when one is
 * already stored for the key (late data), the new samples or buckets merge into it. On
 * PostgreSQL the days written are ensured a partition first (partitions.ts); the key holds the
 * partition key t_start, so the upsert's conflict target is the same on both engines.
 */
import { type Kysely, sql } from "kysely";
import { decodeChunk, decodeRollup, encodeChunk, encodeRollup, type RollupColumns } from "./codec.js";
import { type EnsureDays, noEnsure, type PartitionedTable } from "./partition-layout.js";
import { mergeRollups } from "./rollup.js";
import { asBytes, IN_LIST, inList, slices } from "./sql-util.js";

export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;
/** Rows per multi-row upsert. */
const UPSERT_ROWS = 100;

/** One series' samples, sorted by time once sortGroup ran. */
export interface Group {
  times: ArrayLike<number>;
  values: ArrayLike<number>;
}

export function sortGroup(g: Group): Group {
  const t = g.times;
  let sorted = true;
  for (let i = 1; i < t.length && sorted; i++) sorted = t[i - 1]! <= t[i]!;
  if (sorted) return g;
  const idx = Array.from({ length: t.length }, (_, i) => i).sort((a, b) => t[a]! - t[b]! || a - b);
  return { times: idx.map((i) => t[i]!), values: idx.map((i) => g.values[i]!) };
}

/** Split a sorted time column into windows: [windowStart, from, to) triples. */
export function windows(times: ArrayLike<number>, size: number): [number, number, number][] {
  const out: [number, number, number][] = [];
  let i = 0;
  while (i < times.length) {
    const w = Math.floor(times[i]! / size) * size;
    let j = i + 1;
    while (j < times.length && times[j]! < w + size) j++;
    out.push([w, i, j]);
    i = j;
  }
  return out;
}

/** Stored rows of these (window, series) keys: `${sid}:${window}` → data. */
async function existing(
  trx: Kysely<any>,
  table: string,
  res: number | null,
  keys: Map<number, number[]>,
): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const [w, sids] of keys) {
    for (const part of slices(sids, IN_LIST)) {
      const resCond = res === null ? sql`` : sql`and res = ${res}`;
      const { rows } = await sql<{ series_id: number; data: unknown }>`
        select series_id, data from ${sql.table(table)}
        where t_start = ${w} ${resCond} and series_id in ${inList(part)}`.execute(trx);
      for (const r of rows) out.set(`${Number(r.series_id)}:${w}`, asBytes(r.data));
    }
  }
  return out;
}

function keysOf(parts: { sid: number; w: number }[]): Map<number, number[]> {
  const keys = new Map<number, number[]>();
  for (const { sid, w } of parts) {
    let l = keys.get(w);
    if (!l) {
      l = [];
      keys.set(w, l);
    }
    l.push(sid);
  }
  return keys;
}

/** Merge two time-sorted sample lists (a's samples first on equal times). */
export function mergeSorted(
  at: ArrayLike<number>,
  av: ArrayLike<number>,
  bt: ArrayLike<number>,
  bv: ArrayLike<number>,
): [Float64Array, Float64Array] {
  const n = at.length + bt.length;
  const t = new Float64Array(n);
  const v = new Float64Array(n);
  let i = 0;
  let j = 0;
  for (let o = 0; o < n; o++) {
    if (j >= bt.length || (i < at.length && at[i]! <= bt[j]!)) {
      t[o] = at[i]!;
      v[o] = av[i++]!;
    } else {
      t[o] = bt[j]!;
      v[o] = bv[j++]!;
    }
  }
  return [t, v];
}

export interface ChunkPart extends Group {
  sid: number;
  /** Window start. */
  w: number;
}

/** Store raw chunks (merged with the stored one of the same key); rows written. */
export async function upsertChunks(
  trx: Kysely<any>,
  table: PartitionedTable,
  parts: ChunkPart[],
  ensure: EnsureDays = noEnsure,
): Promise<number> {
  await ensure(table, new Set(parts.map((p) => p.w)));
  const stored = await existing(trx, table, null, keysOf(parts));
  const rows: ReturnType<typeof sql>[] = [];
  for (const p of parts) {
    let { times, values } = p;
    const old = stored.get(`${p.sid}:${p.w}`);
    if (old) {
      const o = decodeChunk(old);
      [times, values] = mergeSorted(o.times, o.values, times, values);
    }
    const n = times.length;
    rows.push(sql`(${p.sid}, ${p.w}, ${times[n - 1]!}, ${n}, ${encodeChunk(times, values, n)})`);
  }
  for (const part of slices(rows, UPSERT_ROWS)) {
    await sql`insert into ${sql.table(table)} (series_id, t_start, t_end, n, data) values ${sql.join(part)}
      on conflict (series_id, t_start) do update set t_end = excluded.t_end, n = excluded.n, data = excluded.data`.execute(
      trx,
    );
  }
  return rows.length;
}

export interface RollupPart {
  sid: number;
  w: number;
  buckets: RollupColumns;
}

/** Store rollup rows of resolution `res` (merged with the stored one of the same key); rows written. */
export async function upsertRollups(
  trx: Kysely<any>,
  table: PartitionedTable,
  res: number,
  parts: RollupPart[],
  ensure: EnsureDays = noEnsure,
): Promise<number> {
  await ensure(table, new Set(parts.map((p) => p.w)));
  const stored = await existing(trx, table, res, keysOf(parts));
  const rows: ReturnType<typeof sql>[] = [];
  for (const p of parts) {
    const old = stored.get(`${p.sid}:${p.w}`);
    const merged = old ? mergeRollups(decodeRollup(old), p.buckets) : p.buckets;
    const last = merged.n - 1;
    const tEnd = merged.t[last]! + merged.lastOff[last]!;
    rows.push(sql`(${p.sid}, ${res}, ${p.w}, ${tEnd}, ${merged.n}, ${encodeRollup(merged)})`);
  }
  for (const part of slices(rows, UPSERT_ROWS)) {
    await sql`insert into ${sql.table(table)} (series_id, res, t_start, t_end, n, data) values ${sql.join(part)}
      on conflict (series_id, res, t_start) do update set t_end = excluded.t_end, n = excluded.n, data = excluded.data`.execute(
      trx,
    );
  }
  return rows.length;
}

/** Rows read by id (as a page selected them), in id order. */
export async function rowsById<R>(trx: Kysely<any>, table: string, cols: string, ids: (number | string)[]) {
  const out: R[] = [];
  for (const part of slices(ids, IN_LIST)) {
    const { rows } = await sql<R>`
      select ${sql.raw(cols)} from ${sql.table(table)} where id in ${inList(part)} order by id`.execute(trx);
    out.push(...rows);
  }
  return out;
}

export async function deleteByIds(trx: Kysely<any>, table: string, ids: (number | string)[]): Promise<void> {
  for (const part of slices(ids, IN_LIST)) {
    await sql`delete from ${sql.table(table)} where id in ${inList(part)}`.execute(trx);
  }
}

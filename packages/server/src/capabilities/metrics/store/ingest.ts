/**
 * One batch's samples, validated and resolved to series (docs/protocol.md §14.2–14.4): the hot
 * path of ingest. No SQL and no per-sample objects here: the points go into typed columns that
 * become the batch's `metric_recent` row once new series have their ids.
 *
 * Known series are found by the exact JSON of their labels first (agents send labels in a
 * stable order), so only a series not seen before pays for validation and canonical JSON.
 */
import type { MetricSeriesWire } from "@tether/protocol";
import type { IncomingBatch } from "../../../telemetry/index.js";
import type { PointColumns } from "./recent-codec.js";
import {
  type DeviceSeries,
  newSeries,
  type SeriesInfo,
  type SeriesRegistry,
  seriesKey,
} from "./series-registry.js";
import { checkSeries, serverTime } from "./validate.js";

export interface PreparedBatch {
  deviceId: string;
  cols: PointColumns;
  /** The series of each run of points (cols holds their ids once pending series are stored). */
  runs: SeriesInfo[];
  runEnd: Int32Array;
  tMin: number;
  tMax: number;
  dropped: Record<string, number>;
}

export interface PrepareContext {
  registry: SeriesRegistry;
  maxSeriesPerDevice: number;
  /** Series created by this group (pending ids), for the insert and a rollback. */
  created: SeriesInfo[];
  /** Called once per series-limit drop (the store rate-limits its warning). */
  onLimit(dev: DeviceSeries): void;
}

function count(d: Record<string, number>, reason: string, n: number): void {
  if (n > 0) d[reason] = (d[reason] ?? 0) + n;
}

function resolve(ctx: PrepareContext, dev: DeviceSeries, s: MetricSeriesWire): SeriesInfo | string {
  const name = s.name;
  const labels = s.labels;
  const fast =
    typeof name === "string" ? seriesKey(name, labels == null ? "{}" : JSON.stringify(labels)) : undefined;
  if (fast !== undefined) {
    const hit = dev.byKey.get(fast);
    if (hit) return hit;
  }
  const { verdict, canonical } = checkSeries(name, labels);
  if (verdict !== "ok") return verdict;
  const key = seriesKey(name, canonical);
  const hit = dev.byKey.get(key);
  if (hit) {
    if (fast !== undefined && fast !== key) ctx.registry.alias(dev, fast, hit);
    return hit;
  }
  if (dev.list.length >= ctx.maxSeriesPerDevice) {
    ctx.onLimit(dev);
    return "series-limit";
  }
  const kind =
    s.kind === "counter" || s.kind === "gauge" ? s.kind : name.endsWith("_total") ? "counter" : "gauge";
  const created = newSeries(dev.id, name, canonical, kind);
  ctx.registry.add(dev, created);
  ctx.created.push(created);
  return created;
}

export function prepareBatch(ctx: PrepareContext, dev: DeviceSeries, b: IncomingBatch): PreparedBatch {
  const metrics = Array.isArray(b.batch.metrics) ? b.batch.metrics : [];
  const dropped: Record<string, number> = {};
  let total = 0;
  for (const s of metrics) if (s && Array.isArray(s.points)) total += s.points.length;
  const cols: PointColumns = {
    n: 0,
    sids: new Int32Array(total),
    times: new Float64Array(total),
    values: new Float64Array(total),
  };
  const runs: SeriesInfo[] = [];
  const runEnd = new Int32Array(metrics.length);
  const { receivedAt, skewMs } = b;
  let n = 0;
  let tMin = Number.POSITIVE_INFINITY;
  let tMax = Number.NEGATIVE_INFINITY;
  for (const s of metrics) {
    if (!s || typeof s !== "object" || !Array.isArray(s.points)) {
      count(dropped, "malformed", 1);
      continue;
    }
    const points = s.points;
    const info = resolve(ctx, dev, s);
    if (typeof info === "string") {
      count(dropped, info, points.length);
      continue;
    }
    const start = n;
    for (let i = 0; i < points.length; i++) {
      const p = points[i];
      const v = Array.isArray(p) ? p[1] : undefined;
      if (typeof v !== "number" || !Number.isFinite(v)) {
        count(dropped, "invalid-value", 1);
        continue;
      }
      const t = serverTime(p![0], receivedAt, skewMs);
      if (Number.isNaN(t)) {
        count(dropped, "bad-time", 1);
        continue;
      }
      cols.times[n] = t;
      cols.values[n] = v;
      n++;
      if (t < tMin) tMin = t;
      if (t > tMax) tMax = t;
    }
    if (n > start) {
      runEnd[runs.length] = n;
      runs.push(info);
    }
  }
  cols.n = n;
  return { deviceId: dev.id, cols, runs, runEnd, tMin, tMax, dropped };
}

/** Fill in the series ids (after pending series were stored). */
export function assignSids(p: PreparedBatch): void {
  let start = 0;
  for (let r = 0; r < p.runs.length; r++) {
    const id = p.runs[r]!.id;
    const end = p.runEnd[r]!;
    p.cols.sids.fill(id, start, end);
    start = end;
  }
}

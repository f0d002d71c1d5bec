/**
 * One collection interval's samples to the content of one sealed batch (docs/protocol.md
 * §14.2): grouped into series `{name, labels, kind, points}`, through the series limit and a
 * cap on points per batch (well under TELEMETRY_LIMITS.maxPointsPerBatch). What is refused
 * is returned as losses with their time span, for the gap records.
 */
import type { MetricSeriesWire } from "@tether/protocol";
import type { BatchContent } from "../../telemetry/index.js";
import type { Sample } from "./sample.js";
import { seriesKey } from "./sample.js";
import type { SeriesBook } from "./series-book.js";

/** Points in one batch; beyond it the rest is dropped as rate-limit. */
export const MAX_POINTS_PER_BATCH = 50_000;

export interface Loss {
  count: number;
  from: number;
  to: number;
}

export interface BuiltBatch {
  content: BatchContent | null;
  losses: Record<string, Loss>;
}

const addLoss = (losses: Record<string, Loss>, reason: string, t: number) => {
  const l = losses[reason];
  if (!l) losses[reason] = { count: 1, from: t, to: t };
  else {
    l.count++;
    if (t < l.from) l.from = t;
    if (t > l.to) l.to = t;
  }
};

/** `system`: the collectors' samples (never refused); `app`: application metrics, through the limits. */
export function buildBatch(
  system: Sample[],
  app: Sample[],
  now: number,
  book: SeriesBook,
  maxPoints = MAX_POINTS_PER_BATCH,
): BuiltBatch {
  const series = new Map<string, MetricSeriesWire>();
  const losses: Record<string, Loss> = {};
  let points = 0;
  let from = Infinity;
  let to = -Infinity;
  const exempt = system.length;
  const all = exempt ? system.concat(app) : app;
  for (let i = 0; i < all.length; i++) {
    const s = all[i]!;
    const t = s.t ?? now;
    const key = seriesKey(s.name, s.labels);
    if (points >= maxPoints && i >= exempt) {
      addLoss(losses, "rate-limit", t);
      continue;
    }
    if (!book.admit(key, now, i < exempt)) {
      addLoss(losses, "series-limit", t);
      continue;
    }
    let w = series.get(key);
    if (!w) {
      w = { name: s.name, points: [] };
      if (s.labels) w.labels = s.labels;
      if (s.kind === "counter") w.kind = "counter";
      series.set(key, w);
    }
    w.points.push([t, s.value]);
    points++;
    if (t < from) from = t;
    if (t > to) to = t;
  }
  if (points === 0) return { content: null, losses };
  for (const w of series.values()) if (w.points.length > 1) w.points.sort((a, b) => a[0] - b[0]);
  return { content: { metrics: [...series.values()], span: { from, to, count: points } }, losses };
}

/**
 * Aggregation of one series over query steps (docs/protocol.md §14.5): the samples or rollup
 * buckets of a range become one point per step, null where the step holds nothing.
 *
 * An entry is a raw sample (count 1) or a rollup bucket; both carry t (where it falls),
 * lt (time of its last sample), min, max, sum, count and last, so raw and rolled-up data mix
 * in one query (rollups for what is compacted, recent raw rows for the rest).
 *
 * `rate`: the per-second increase of a counter. Each pair of consecutive entries adds
 * last − previous last (or last alone after a reset, when the value went down) to the step
 * of the later one, over the time between them; the step's rate is increase / time.
 */
import type { MetricAgg } from "@tether/protocol";

export class Entries {
  t: number[] = [];
  lt: number[] = [];
  min: number[] = [];
  max: number[] = [];
  sum: number[] = [];
  cnt: number[] = [];
  last: number[] = [];

  sample(t: number, v: number): void {
    this.t.push(t);
    this.lt.push(t);
    this.min.push(v);
    this.max.push(v);
    this.sum.push(v);
    this.cnt.push(1);
    this.last.push(v);
  }

  bucket(t: number, lt: number, min: number, max: number, sum: number, cnt: number, last: number): void {
    this.t.push(t);
    this.lt.push(lt);
    this.min.push(min);
    this.max.push(max);
    this.sum.push(sum);
    this.cnt.push(cnt);
    this.last.push(last);
  }

  get length(): number {
    return this.t.length;
  }
}

export function stepCount(from: number, to: number, stepMs: number): number {
  return Math.max(0, Math.ceil((to - from) / stepMs));
}

export function aggregate(
  e: Entries,
  from: number,
  to: number,
  stepMs: number,
  agg: MetricAgg,
): [number, number | null][] {
  const n = stepCount(from, to, stepMs);
  const out: [number, number | null][] = new Array(n);
  if (agg === "rate") return rate(e, from, to, stepMs, n, out);
  const cnt = new Float64Array(n);
  const acc = new Float64Array(n);
  const lastT = agg === "last" ? new Float64Array(n).fill(Number.NEGATIVE_INFINITY) : undefined;
  for (let i = 0; i < e.length; i++) {
    const t = e.t[i]!;
    if (t < from || t >= to) continue;
    const b = Math.floor((t - from) / stepMs);
    const first = cnt[b] === 0;
    cnt[b]! += e.cnt[i]!;
    switch (agg) {
      case "avg":
      case "sum":
        acc[b]! += e.sum[i]!;
        break;
      case "min":
        if (first || e.min[i]! < acc[b]!) acc[b] = e.min[i]!;
        break;
      case "max":
        if (first || e.max[i]! > acc[b]!) acc[b] = e.max[i]!;
        break;
      case "last":
        if (e.lt[i]! >= lastT![b]!) {
          lastT![b] = e.lt[i]!;
          acc[b] = e.last[i]!;
        }
        break;
    }
  }
  for (let b = 0; b < n; b++) {
    const c = cnt[b]!;
    const v = c === 0 ? null : agg === "avg" ? acc[b]! / c : agg === "count" ? c : acc[b]!;
    out[b] = [from + b * stepMs, v];
  }
  return out;
}

function rate(
  e: Entries,
  from: number,
  to: number,
  stepMs: number,
  n: number,
  out: [number, number | null][],
): [number, number | null][] {
  const inc = new Float64Array(n);
  const span = new Float64Array(n);
  let order: number[] | undefined;
  for (let i = 1; i < e.length; i++) {
    if (e.lt[i]! < e.lt[i - 1]!) {
      order = e.lt.map((_, k) => k).sort((a, b) => e.lt[a]! - e.lt[b]! || a - b);
      break;
    }
  }
  let prevT = Number.NaN;
  let prevV = 0;
  for (let k = 0; k < e.length; k++) {
    const i = order ? order[k]! : k;
    const t = e.lt[i]!;
    const v = e.last[i]!;
    if (t >= to) break;
    if (t > prevT && t >= from) {
      const b = Math.floor((t - from) / stepMs);
      const d = v - prevV;
      inc[b]! += d >= 0 ? d : v;
      span[b]! += t - prevT;
    }
    prevT = t;
    prevV = v;
  }
  for (let b = 0; b < n; b++) {
    out[b] = [from + b * stepMs, span[b]! > 0 ? (inc[b]! / span[b]!) * 1000 : null];
  }
  return out;
}

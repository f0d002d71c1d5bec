/**
 * Rollup buckets (docs/protocol.md §14.4): min, max, sum, last and count per 1-minute or
 * 1-hour bucket, built from sorted raw samples and merged with the stored ones when late data
 * arrives. Sums of decimals are added as scaled integers, so 0.1 + 0.2 stays 0.3 and the codec
 * keeps the column decimal.
 */
import { decimalScale, emptyRollup, type RollupColumns } from "./codec.js";

const POW10 = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000];
const EXACT = 2 ** 53;

function scaleOf(x: number): number {
  return decimalScale([x], 1);
}

/** a + b, exact in decimal when both are decimals of at most 6 places. */
export function decimalAdd(a: number, b: number): number {
  const ka = scaleOf(a);
  const kb = scaleOf(b);
  if (ka < 0 || kb < 0) return a + b;
  const p = POW10[Math.max(ka, kb)]!;
  const r = Math.round(a * p) + Math.round(b * p);
  return Math.abs(r) < EXACT ? r / p : a + b;
}

/** Buckets of `res` ms over times/values[from, to) (sorted by time). */
export function bucketize(
  times: ArrayLike<number>,
  values: ArrayLike<number>,
  from: number,
  to: number,
  res: number,
): RollupColumns {
  const k = decimalScale(
    values instanceof Float64Array ? values.subarray(from, to) : sliceOf(values, from, to),
  );
  const p = k >= 0 ? POW10[k]! : 1;
  // Buckets ≤ points; at most one per distinct bucket start.
  const out = emptyRollup(
    Math.min(to - from, 1 + Math.floor(times[to - 1]! / res) - Math.floor(times[from]! / res)),
  );
  let cur = Number.NaN;
  let e = -1;
  let scaledSum = 0;
  let floatSum = 0;
  const close = () => {
    if (e >= 0) out.sum[e] = k >= 0 && Math.abs(scaledSum) < EXACT ? scaledSum / p : floatSum;
  };
  for (let i = from; i < to; i++) {
    const t = times[i]!;
    const v = values[i]!;
    const b = Math.floor(t / res) * res;
    if (b !== cur) {
      close();
      cur = b;
      e++;
      out.t[e] = b;
      out.count[e] = 0;
      out.min[e] = v;
      out.max[e] = v;
      scaledSum = 0;
      floatSum = 0;
    }
    out.count[e]!++;
    if (v < out.min[e]!) out.min[e] = v;
    if (v > out.max[e]!) out.max[e] = v;
    if (k >= 0) scaledSum += Math.round(v * p);
    floatSum += v;
    out.last[e] = v;
    out.lastOff[e] = t - b;
  }
  close();
  out.n = e + 1;
  return out;
}

function sliceOf(a: ArrayLike<number>, from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i < to; i++) out.push(a[i]!);
  return out;
}

function copy(out: RollupColumns, o: number, a: RollupColumns, i: number): void {
  out.t[o] = a.t[i]!;
  out.count[o] = a.count[i]!;
  out.lastOff[o] = a.lastOff[i]!;
  out.min[o] = a.min[i]!;
  out.max[o] = a.max[i]!;
  out.sum[o] = a.sum[i]!;
  out.last[o] = a.last[i]!;
}

/** Merge two sorted bucket lists; a bucket in both combines (b's last wins a tie: it arrived later). */
export function mergeRollups(a: RollupColumns, b: RollupColumns): RollupColumns {
  const out = emptyRollup(a.n + b.n);
  let i = 0;
  let j = 0;
  let o = 0;
  while (i < a.n || j < b.n) {
    if (j >= b.n || (i < a.n && a.t[i]! < b.t[j]!)) copy(out, o++, a, i++);
    else if (i >= a.n || b.t[j]! < a.t[i]!) copy(out, o++, b, j++);
    else {
      copy(out, o, a, i);
      out.count[o] = a.count[i]! + b.count[j]!;
      out.min[o] = Math.min(a.min[i]!, b.min[j]!);
      out.max[o] = Math.max(a.max[i]!, b.max[j]!);
      out.sum[o] = decimalAdd(a.sum[i]!, b.sum[j]!);
      if (b.lastOff[j]! >= a.lastOff[i]!) {
        out.last[o] = b.last[j]!;
        out.lastOff[o] = b.lastOff[j]!;
      }
      o++;
      i++;
      j++;
    }
  }
  out.n = o;
  return out;
}

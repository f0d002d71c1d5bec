/**
 * The metric store's codecs (docs/protocol.md §14.4 "Storage"): day/hour chunks and rollups
 * (codec.ts) and the per-batch recent rows (recent-codec.ts), as read back from the database.
 * The first input byte picks the case:
 *   0 decodeChunk, 1 decodeRollup, 2 decodeRecent of the remaining bytes (a corrupt row);
 *   3 chunk, 4 rollup, 5 recent row round trips of series the remaining bytes describe
 *     (value-gen.ts: decimals, counters, −0, huge and tiny doubles, times up to ±2^50 ms).
 * Contract: a corrupt row fails with RangeError (or zlib's error for bad deflate data), never
 * hangs and never allocates more elements than its (inflated) bytes could hold; every
 * round trip gives back every time and every value bit for bit (−0 included).
 */
import { deflateRawSync, inflateRawSync } from "node:zlib";
import {
  decodeChunk,
  decodeRollup,
  emptyRollup,
  encodeChunk,
  encodeRollup,
  MAX_DECODE_POINTS,
  type RollupColumns,
} from "../../packages/server/src/capabilities/metrics/store/codec.js";
import { ByteWriter } from "../../packages/server/src/capabilities/metrics/store/bytes.js";
import {
  decodeRecent,
  encodeRecent,
} from "../../packages/server/src/capabilities/metrics/store/recent-codec.js";
import type { Target } from "../lib.js";
import { ByteChoices } from "./batch-builder.js";
import { Broken } from "./metric-rules.js";
import { genTimes, genValues } from "./value-gen.js";

/** Typed arrays longer than this during one decode are a crash (set per input). */
let budget = Number.POSITIVE_INFINITY;

/** Over the allocation budget: the decoder trusted a length its bytes cannot hold. */
class TooLarge extends Broken {}

const RealF64 = Float64Array;
const RealI32 = Int32Array;
const guard = (n: unknown) => {
  if (typeof n === "number" && n > budget)
    throw new TooLarge("a typed array longer than the bytes could fill", [n, budget]);
};
// Any constructor form (a length, or a buffer as subarray makes them); only a length is checked.
class GuardedF64 extends RealF64 {
  constructor(...a: unknown[]) {
    guard(a[0]);
    super(...(a as [ArrayBuffer, number, number]));
  }
}
class GuardedI32 extends RealI32 {
  constructor(...a: unknown[]) {
    guard(a[0]);
    super(...(a as [ArrayBuffer, number, number]));
  }
}

/** Run a decoder with typed-array allocations limited to `elements` each. */
function bounded<T>(elements: number, decode: () => T): T {
  budget = elements;
  globalThis.Float64Array = GuardedF64 as Float64ArrayConstructor;
  globalThis.Int32Array = GuardedI32 as Int32ArrayConstructor;
  try {
    return decode();
  } finally {
    globalThis.Float64Array = RealF64;
    globalThis.Int32Array = RealI32;
    budget = Number.POSITIVE_INFINITY;
  }
}

/** Bytes a chunk's body has once inflated (what its point count can honestly claim). */
function bodyBytes(data: Buffer): number {
  if (data[0] !== 1) return Math.max(0, data.length - 1);
  try {
    return inflateRawSync(data.subarray(1), { maxOutputLength: 64 * 1024 * 1024 }).length;
  } catch {
    return 0;
  }
}

const isContract = (err: unknown) =>
  (err instanceof RangeError && !(err instanceof Broken)) ||
  (err instanceof Error && /^Z_/.test(String((err as NodeJS.ErrnoException).code)));

function same(what: string, a: ArrayLike<number>, b: ArrayLike<number>, n: number): void {
  if (b.length < n) throw new Broken(`${what}: fewer decoded than encoded`, [n, b.length]);
  for (let i = 0; i < n; i++) {
    if (!Object.is(a[i], b[i])) throw new Broken(`${what}: a different number decoded`, [i, a[i], b[i]]);
  }
}

function chunkRoundTrip(c: ByteChoices): void {
  const deflate = c.next() % 2 === 0;
  const times = genTimes(c);
  const values = genValues(c, times.length);
  const d = decodeChunk(encodeChunk(times, values, times.length, { deflate }));
  if (d.times.length !== times.length)
    throw new Broken("chunk: a different point count decoded", [times.length, d.times.length]);
  same("time", times, d.times, times.length);
  same("value", values, d.values, values.length);
}

function rollupRoundTrip(c: ByteChoices): void {
  const t = genTimes(c);
  const n = t.length;
  const r: RollupColumns = emptyRollup(n);
  r.n = n;
  r.t.set(t);
  for (const k of ["count", "lastOff", "min", "max", "sum", "last"] as const) r[k].set(genValues(c, n));
  const d = decodeRollup(encodeRollup(r, { deflate: c.next() % 2 === 0 }));
  if (d.n !== n) throw new Broken("rollup: a different bucket count decoded", [n, d.n]);
  for (const k of ["t", "count", "lastOff", "min", "max", "sum", "last"] as const) same(k, r[k], d[k], n);
}

function recentRoundTrip(c: ByteChoices): void {
  const times = genTimes(c);
  const n = times.length;
  const values = genValues(c, n);
  const sids = new Int32Array(n);
  let sid = 1 + c.next();
  for (let i = 0; i < n; i++) {
    if (c.next() % 4 === 0) sid = 1 + c.next() * c.next();
    sids[i] = sid;
  }
  const row = encodeRecent(new ByteWriter(64), {
    n,
    sids,
    times: Float64Array.from(times),
    values: Float64Array.from(values),
  });
  const all = decodeRecent(row);
  if (all.n !== n) throw new Broken("recent row: a different point count decoded", [n, all.n]);
  same("sid", sids, all.sids, n);
  same("time", times, all.times, n);
  same("value", values, all.values, n);
  // Only some series: their points, in order, and nothing else.
  const only = new Set([sids[0] ?? 1]);
  const some = decodeRecent(row, only);
  const want = [...sids.keys()].filter((i) => only.has(sids[i]!));
  if (some.n !== want.length)
    throw new Broken("recent row: a different point count of one series decoded", [want.length, some.n]);
  same(
    "time of the series",
    Float64Array.from(want, (i) => times[i]!),
    some.times,
    want.length,
  );
  same(
    "value of the series",
    Float64Array.from(want, (i) => values[i]!),
    some.values,
    want.length,
  );
}

const chunk = (times: number[], values: number[], deflate = true) =>
  Buffer.concat([Buffer.from([0]), encodeChunk(times, values, times.length, { deflate })]);
const minute = (n: number, from = 1_750_000_000_000) =>
  Array.from({ length: n }, (_, i) => from + i * 60_000);

export const metricCodec: Target = {
  name: "metric-codec",
  what: "decodeChunk, decodeRollup, decodeRecent; chunk, rollup and recent-row round trips",
  seeds() {
    const r = emptyRollup(3);
    r.n = 3;
    r.t.set([1_750_000_000_000, 1_750_003_600_000, 1_750_007_200_000]);
    r.count.set([360, 360, 12]);
    r.lastOff.set([3_590_000, 3_590_000, 110_000]);
    r.min.set([0.5, 0.25, -0]);
    r.max.set([99.5, 12, 3]);
    r.sum.set([1234.5, 321.25, 7]);
    r.last.set([3.5, 1, 0]);
    const w = new ByteWriter(64);
    const recent = encodeRecent(w, {
      n: 4,
      sids: Int32Array.from([3, 3, 7, 3]),
      times: Float64Array.from([1_750_000_000_000, 1_750_000_010_000, 1_750_000_000_000, 1_750_000_020_000]),
      values: Float64Array.from([12.5, 13, -61, 0.1]),
    });
    return [
      // Chunks as the store writes them: a percentage, a byte counter, floats, −0, constant.
      chunk(
        minute(60),
        minute(60).map((_, i) => Math.round((20 + 10 * Math.sin(i)) * 100) / 100),
      ),
      chunk(
        minute(120),
        minute(120).map((_, i) => 1e9 + i * 4096),
      ),
      chunk(
        minute(30),
        minute(30).map((_, i) => Math.sqrt(i + 2)),
      ),
      chunk(minute(8), [0.5, -0, 0, -0.25, -0, 1, 2, 3], false),
      chunk(minute(500), Array(500).fill(48.312)),
      chunk([], []),
      Buffer.concat([Buffer.from([1]), encodeRollup(r)]),
      Buffer.concat([Buffer.from([2]), recent]),
      // A deflated body that inflates to zeros, and a point count no body could hold.
      Buffer.concat([Buffer.from([0, 1]), deflateRawSync(Buffer.alloc(4096))]),
      Buffer.from([1, 0, 0xff, 0xff, 0xff, 0x7f]),
      Buffer.from([0, 0, 0x80, 0xad, 0xe2, 0x04]),
      // Round trips (modes 3-5) driven by a fixed byte pattern.
      ...[3, 4, 5].map((m) => Buffer.from([m, ...Array.from({ length: 200 }, (_, i) => (i * 73 + m) & 255)])),
    ];
  },
  dictionary: [
    "\x00",
    "\x01",
    "\x80\x80\x80\x80\x01",
    "\xff\xff\xff\xff\x0f",
    "\x30",
    "\x13",
    "\x40",
    "\x80",
  ],
  run(input) {
    const mode = (input[0] ?? 0) % 6;
    const rest = input.subarray(1);
    if (mode >= 3) {
      const c = new ByteChoices(rest);
      if (mode === 3) chunkRoundTrip(c);
      else if (mode === 4) rollupRoundTrip(c);
      else recentRoundTrip(c);
      return;
    }
    try {
      if (mode === 0) {
        const d = bounded(Math.min(bodyBytes(rest), MAX_DECODE_POINTS), () => decodeChunk(rest));
        if (d.times.length !== d.values.length) throw new Broken("times and values differ in length");
      } else if (mode === 1) bounded(Math.min(bodyBytes(rest), MAX_DECODE_POINTS), () => decodeRollup(rest));
      else bounded(rest.length, () => decodeRecent(rest));
    } catch (err) {
      if (!isContract(err)) throw err;
    }
  },
  expected: () => false,
};

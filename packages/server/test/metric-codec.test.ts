// @matrix: once
// The metric chunk codec (docs/protocol.md §14.4): every finite value and integer time round-trips
// bit for bit (random floats, negative, huge, tiny, −0, integers, decimals, irregular times),
// decimals and steady counters encode compactly, and corrupt data is refused, not misread.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ByteWriter } from "../src/capabilities/metrics/store/bytes.js";
import {
  decimalScale,
  decodeChunk,
  decodeRollup,
  emptyRollup,
  encodeChunk,
  encodeRollup,
} from "../src/capabilities/metrics/store/codec.js";
import { decodeRecent, encodeRecent } from "../src/capabilities/metrics/store/recent-codec.js";
import { bucketize, decimalAdd, mergeRollups } from "../src/capabilities/metrics/store/rollup.js";

/** A small deterministic PRNG (mulberry32), so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
/** A random finite double from random bits (any exponent, any sign). */
function randomDouble(r: () => number): number {
  for (;;) {
    u32[0] = Math.floor(r() * 2 ** 32);
    u32[1] = Math.floor(r() * 2 ** 32);
    if (Number.isFinite(f64[0]!)) return f64[0]!;
  }
}

function sameBits(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    assert.ok(Object.is(a[i], b[i]), `${what}[${i}]: ${a[i]} became ${b[i]}`);
  }
}

function roundTrip(times: number[], values: number[], label: string): Buffer {
  for (const deflate of [true, false]) {
    const data = encodeChunk(times, values, times.length, { deflate });
    const back = decodeChunk(data);
    sameBits(back.times, times, `${label} times`);
    sameBits(back.values, values, `${label} values`);
  }
  return encodeChunk(times, values);
}

const T0 = Date.UTC(2025, 0, 1);

function regularTimes(n: number, stepMs = 10_000): number[] {
  return Array.from({ length: n }, (_, i) => T0 + i * stepMs);
}

test("random doubles of every magnitude and sign round-trip bit for bit", () => {
  const r = rng(1);
  for (let round = 0; round < 50; round++) {
    const n = 1 + Math.floor(r() * 400);
    const values = Array.from({ length: n }, () => randomDouble(r));
    roundTrip(regularTimes(n), values, `round ${round}`);
  }
});

test("special finite values round-trip: −0, extremes, subnormals, integers beyond 2^53", () => {
  const values = [
    0,
    -0,
    Number.MAX_VALUE,
    -Number.MAX_VALUE,
    Number.MIN_VALUE,
    -Number.MIN_VALUE,
    2.2250738585072014e-308,
    2 ** 53,
    2 ** 53 + 2,
    -(2 ** 60),
    1e-300,
    123456789012345680000,
    0.1 + 0.2,
    1 / 3,
  ];
  roundTrip(regularTimes(values.length), values, "special");
  // −0 alone, or mixed into decimals, must keep its sign.
  roundTrip(regularTimes(3), [-0, -0, -0], "all −0");
  roundTrip(regularTimes(4), [1.5, -0, 2.25, 0], "−0 among decimals");
});

test("decimals with up to 6 places, negative and huge, round-trip and are detected as decimal", () => {
  const r = rng(2);
  for (let k = 0; k <= 6; k++) {
    for (let round = 0; round < 20; round++) {
      const n = 1 + Math.floor(r() * 300);
      const scale = 10 ** k;
      const values = Array.from({ length: n }, () => Math.round((r() - 0.5) * 2e9) / scale);
      const data = roundTrip(regularTimes(n), values, `k=${k}`);
      const found = decimalScale(values);
      assert.ok(found >= 0 && found <= k, `scale ${found} for values with ${k} places`);
      assert.ok(data.length < n * 9 + 16, "decimal values are not stored as raw doubles");
    }
  }
  // Seven places is not decimal (float path), and still exact.
  roundTrip(regularTimes(3), [1.2345671, 2.5, 3], "7 places");
  assert.equal(decimalScale([1.2345671]), -1);
  assert.equal(decimalScale([0.1 + 0.2]), -1);
  assert.equal(decimalScale([36.6, 36.65, 37]), 2);
  assert.equal(decimalScale([12, -7, 0]), 0);
  // Beyond the exact-integer range: not decimal, still exact.
  roundTrip(regularTimes(3), [2 ** 52, 2 ** 52 + 1, 3], "big integers");
});

test("irregular, repeated, decreasing and far-apart times round-trip", () => {
  const r = rng(3);
  for (let round = 0; round < 30; round++) {
    const n = 1 + Math.floor(r() * 500);
    const times: number[] = [];
    let t = T0 + Math.floor(r() * 1e9);
    for (let i = 0; i < n; i++) {
      const jump = r() < 0.1 ? Math.floor(r() * 86_400_000 * 30) : Math.floor(r() * 20_000);
      t += r() < 0.05 ? -jump : jump;
      times.push(t);
    }
    const values = times.map(() => Math.round(r() * 10_000) / 100);
    roundTrip(times, values, `irregular ${round}`);
  }
  roundTrip([0, 0, 0], [1, 2, 3], "equal times");
  roundTrip([T0], [42], "one point");
  roundTrip([], [], "no points");
  assert.throws(() => encodeChunk([1.5], [1]), RangeError, "a fractional time is refused");
  assert.throws(() => encodeChunk([2 ** 60], [1]), RangeError, "an absurd time is refused");
});

test("a drifting gauge with 2 decimals and a steady counter take well under 2 bytes per sample", () => {
  const r = rng(4);
  const n = 360;
  let v = 45;
  const gauge = Array.from({ length: n }, () => {
    v = Math.round((v + (r() - 0.5) * 0.6) * 100) / 100;
    return v;
  });
  let c = 1_000_000;
  const counter = Array.from({ length: n }, () => {
    c += 1500 + Math.floor(r() * 20);
    return c;
  });
  const times = regularTimes(n);
  const g = roundTrip(times, gauge, "gauge");
  const k = roundTrip(times, counter, "counter");
  assert.ok(g.length / n < 1.2, `gauge: ${g.length / n} bytes/sample`);
  assert.ok(k.length / n < 1.2, `counter: ${k.length / n} bytes/sample`);
  // A constant column costs nothing per sample.
  const flat = roundTrip(times, new Array(n).fill(8_000_000_000), "constant");
  assert.ok(flat.length < 30, `constant: ${flat.length} bytes`);
});

test("a −0 among decimals keeps the column decimal (its position is stored), and a bad position is refused", () => {
  const times = Array.from({ length: 2000 }, (_, i) => T0 + i * 10_000);
  const values = times.map((_, i) => Math.round(Math.sin(i / 50) * 1000) / 10000);
  const plain = encodeChunk(times, values).length;
  const withZeros = [...values];
  withZeros[7] = -0;
  withZeros[1500] = -0;
  const data = roundTrip(times, withZeros, "−0 in a day of decimals");
  assert.ok(data.length < plain * 1.1, `${data.length} bytes, ${plain} without −0: not floats`);
  // Mode byte 0x54 (delta, −0 positions, 4 places): n = 2, times, values [1, 2], then one −0 at 5.
  const w = new ByteWriter(64);
  w.byte(0);
  w.uvarint(2);
  w.svarint(T0);
  w.svarint(10_000);
  w.byte(0x54);
  w.svarint(1);
  w.svarint(1);
  w.uvarint(1);
  w.uvarint(5);
  assert.throws(() => decodeChunk(w.buf.subarray(0, w.pos)), RangeError);
});

test("corrupt or truncated data is refused", () => {
  const data = encodeChunk(
    regularTimes(100),
    Array.from({ length: 100 }, (_, i) => i * 1.5),
    100,
    {
      deflate: false,
    },
  );
  assert.throws(() => decodeChunk(data.subarray(0, data.length - 5)), RangeError);
  assert.throws(() => decodeChunk(Buffer.from([])), RangeError);
  assert.throws(() => decodeChunk(Buffer.from([7, 1, 2])), RangeError);
  // A length far beyond what the data can hold.
  assert.throws(() => decodeChunk(Buffer.from([0, 0xff, 0xff, 0xff, 0xff, 0x7f])), RangeError);
  const deflated = encodeChunk(
    regularTimes(100),
    Array.from({ length: 100 }, (_, i) => i),
  );
  const broken = Buffer.from(deflated);
  broken[broken.length - 1]! ^= 0xff;
  assert.throws(() => decodeChunk(broken));
});

test("rollups: buckets, exact decimal sums, merge of late data, round trip", () => {
  const times = [0, 10_000, 59_999, 60_000, 130_000, 170_000].map((t) => T0 + t);
  const values = [0.1, 0.2, 0.3, 5, -1.25, 7];
  const b = bucketize(times, values, 0, times.length, 60_000);
  assert.equal(b.n, 3);
  assert.deepEqual(Array.from(b.t), [T0, T0 + 60_000, T0 + 120_000]);
  assert.deepEqual(Array.from(b.count), [3, 1, 2]);
  assert.deepEqual(Array.from(b.sum), [0.6, 5, 5.75], "0.1 + 0.2 + 0.3 is 0.6, not 0.6000000000000001");
  assert.deepEqual(Array.from(b.min), [0.1, 5, -1.25]);
  assert.deepEqual(Array.from(b.max), [0.3, 5, 7]);
  assert.deepEqual(Array.from(b.last), [0.3, 5, 7]);
  assert.deepEqual(Array.from(b.lastOff), [59_999, 0, 50_000]);
  const back = decodeRollup(encodeRollup(b));
  for (const k of ["t", "count", "lastOff", "min", "max", "sum", "last"] as const) {
    sameBits(back[k], b[k].subarray(0, b.n), `rollup ${k}`);
  }
  // Late data: one sample into the first minute (earlier than its last), one new minute.
  const late = bucketize([T0 + 5_000, T0 + 200_000], [9.9, 1], 0, 2, 60_000);
  const m = mergeRollups(back, late);
  assert.deepEqual(Array.from(m.t.subarray(0, m.n)), [T0, T0 + 60_000, T0 + 120_000, T0 + 180_000]);
  assert.equal(m.count[0], 4);
  assert.equal(m.sum[0], 10.5);
  assert.equal(m.max[0], 9.9);
  assert.equal(m.last[0], 0.3, "a late sample older than the bucket's last does not replace it");
  assert.equal(decimalAdd(0.1, 0.2), 0.3);
  assert.equal(decimalAdd(1e-7, 1), 1 + 1e-7, "beyond 6 places: plain addition");
  const empty = emptyRollup(0);
  assert.equal(decodeRollup(encodeRollup(empty)).n, 0);
});

test("recent rows (one per batch) round-trip, and decode just the wanted series", () => {
  const r = rng(5);
  const n = 1000;
  const sids = new Int32Array(n);
  const times = new Float64Array(n);
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    sids[i] = 1 + Math.floor(i / 3);
    times[i] = T0 + (i % 3) * 10_000 + Math.floor(r() * 5);
    values[i] = randomDouble(r);
  }
  const w = new ByteWriter(16);
  const data = encodeRecent(w, { n, sids, times, values });
  const all = decodeRecent(data);
  sameBits(all.sids, sids, "sids");
  sameBits(all.times, times, "times");
  sameBits(all.values, values, "values");
  const some = decodeRecent(data, new Set([5, 100]));
  assert.deepEqual(Array.from(some.sids), [5, 5, 5, 100, 100, 100]);
  sameBits(some.values, [...values.subarray(12, 15), ...values.subarray(297, 300)], "wanted values");
  assert.throws(() => decodeRecent(data.subarray(0, 100)), RangeError);
  assert.throws(() => decodeRecent(Buffer.from([2, 0])), RangeError);
});

/**
 * The chunk codec (docs/protocol.md §14.4 "Storage"): many samples of one series per row,
 * compactly and exactly. Pure functions, no I/O.
 *
 * Times: delta-of-delta, zigzag varints (a regular interval costs one zero byte per sample).
 * Values, per column, the smallest of:
 * - constant: one float64 for the whole column;
 * - decimal: the smallest scale k in 0..6 such that every value × 10^k is an exact integer
 *   (checked by a round trip, so decoding gives back the very same double), stored as deltas
 *   or deltas of deltas of the scaled integers (counters with a steady rate prefer the latter);
 * - float: the value's 64 bits XOR the previous value's, without leading/trailing zero bytes.
 * The body is then deflated (raw) when that is smaller. Every finite value round-trips bit
 * for bit. −0 (what rounding a small negative number gives) is scaled as 0 and its positions
 * follow the decimal column (mode bit NEG_ZERO), so one −0 does not turn a day of decimals
 * into floats.
 *
 * Layout of a chunk: [flags][body]; flags bit 0 = deflated. Body: n, times column, values column.
 * A rollup holds columns t (bucket start), count, lastOff (time of the last sample − t), min,
 * max, sum, last.
 */
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { ByteReader, ByteWriter, varintLength, zigzag } from "./bytes.js";

const VERSION_DEFLATED = 1;
/** Scaled integers stay below this so deltas of deltas stay exact (|dd| ≤ 4 × 2^49 = 2^51). */
const DEC_LIMIT = 2 ** 49;
const POW10 = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000];
const MAX_SCALE = 6;
/** Times beyond ±2^50 ms (year 37 000) are not times. */
const TIME_LIMIT = 2 ** 50;
/** Bodies shorter than this are not worth deflating. */
const DEFLATE_MIN = 48;

enum Mode {
  Constant = 0,
  DecDelta = 1,
  DecDod = 2,
  Float = 3,
}

/** Added to a decimal mode: the column is followed by the positions of its −0 values. */
const NEG_ZERO = 4;

/** Most points one chunk or rollup may hold when decoded (a corrupt length stops here). */
export const MAX_DECODE_POINTS = 10_000_000;

/** The smallest decimal scale 0..6 at which every value round-trips, or -1. */
export function decimalScale(values: ArrayLike<number>, n = values.length): number {
  let k = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    while (k <= MAX_SCALE) {
      const r = Math.round(v * POW10[k]!);
      if (r / POW10[k]! === v && Math.abs(r) <= DEC_LIMIT) break;
      k++;
    }
    if (k > MAX_SCALE) return -1;
  }
  // Round trips at a scale almost always hold at every larger one; verify rather than trust.
  // The limit too: a value that fit at its own scale may not at the column's larger one.
  const p = POW10[k]!;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    const r = Math.round(v * p);
    if (r / p !== v || Math.abs(r) > DEC_LIMIT) return -1;
  }
  return k;
}

function writeTimes(w: ByteWriter, times: ArrayLike<number>, n: number): void {
  let prev = 0;
  let prevDelta = 0;
  for (let i = 0; i < n; i++) {
    const t = times[i]!;
    if (!Number.isSafeInteger(t) || Math.abs(t) > TIME_LIMIT) {
      throw new RangeError(`a metric time must be an integer number of ms, got ${t}`);
    }
    if (i === 0) w.svarint(t);
    else {
      const d = t - prev;
      w.svarint(i === 1 ? d : d - prevDelta);
      prevDelta = d;
    }
    prev = t;
  }
}

function readTimes(r: ByteReader, out: Float64Array, n: number): void {
  let prev = 0;
  let delta = 0;
  for (let i = 0; i < n; i++) {
    const z = r.svarint();
    if (i === 0) prev = z;
    else {
      delta = i === 1 ? z : delta + z;
      prev += delta;
    }
    out[i] = prev;
  }
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LO = LITTLE ? 0 : 1;
const HI = LITTLE ? 1 : 0;

/** Bytes of the 64-bit word (hi, lo), most significant first. */
function byteAt(hi: number, lo: number, i: number): number {
  return i < 4 ? (hi >>> (24 - 8 * i)) & 255 : (lo >>> (56 - 8 * i)) & 255;
}

function writeFloats(w: ByteWriter, values: ArrayLike<number>, n: number): void {
  let ph = 0;
  let pl = 0;
  for (let i = 0; i < n; i++) {
    f64[0] = values[i]!;
    const hi = u32[HI]!;
    const lo = u32[LO]!;
    const xh = (hi ^ ph) >>> 0;
    const xl = (lo ^ pl) >>> 0;
    ph = hi;
    pl = lo;
    if (xh === 0 && xl === 0) {
      w.byte(0x80);
      continue;
    }
    const lz = xh !== 0 ? Math.clz32(xh) >>> 3 : 4 + (Math.clz32(xl) >>> 3);
    const tz = xl !== 0 ? ctz(xl) >>> 3 : 4 + (ctz(xh) >>> 3);
    w.ensure(9);
    w.buf[w.pos++] = (lz << 4) | tz;
    for (let b = lz; b < 8 - tz; b++) w.buf[w.pos++] = byteAt(xh, xl, b);
  }
}

function ctz(x: number): number {
  return x === 0 ? 32 : 31 - Math.clz32(x & -x);
}

function readFloats(r: ByteReader, out: Float64Array, n: number): void {
  let ph = 0;
  let pl = 0;
  for (let i = 0; i < n; i++) {
    const h = r.byte();
    if (h !== 0x80) {
      const lz = h >>> 4;
      const tz = h & 15;
      if (lz + tz > 8) throw new RangeError("bad float header in metric data");
      let xh = 0;
      let xl = 0;
      for (let b = lz; b < 8 - tz; b++) {
        const v = r.byte();
        if (b < 4) xh |= v << (24 - 8 * b);
        else xl |= v << (56 - 8 * b);
      }
      ph = (ph ^ xh) >>> 0;
      pl = (pl ^ xl) >>> 0;
    }
    u32[HI] = ph;
    u32[LO] = pl;
    out[i] = f64[0]!;
  }
}

let scaled = new Float64Array(1024);

/** A value column: a mode byte, then the values in the smallest of the encodings above. */
export function writeValues(w: ByteWriter, values: ArrayLike<number>, n: number): void {
  if (n === 0) return;
  const first = values[0]!;
  let constant = true;
  for (let i = 1; i < n && constant; i++) constant = Object.is(values[i], first);
  if (constant) {
    w.byte(Mode.Constant << 4);
    w.float64(first);
    return;
  }
  const k = decimalScale(values, n);
  if (k < 0) {
    w.byte(Mode.Float << 4);
    writeFloats(w, values, n);
    return;
  }
  if (scaled.length < n) scaled = new Float64Array(Math.max(n, scaled.length * 2));
  const p = POW10[k]!;
  let lenDelta = 0;
  let lenDod = 0;
  let prev = 0;
  let prevDelta = 0;
  for (let i = 0; i < n; i++) {
    const s = Math.round(values[i]! * p);
    scaled[i] = s;
    const d = s - prev;
    lenDelta += varintLength(zigzag(d));
    lenDod += varintLength(zigzag(i <= 1 ? d : d - prevDelta));
    prevDelta = d;
    prev = s;
  }
  const dod = lenDod < lenDelta;
  let negZeros = 0;
  for (let i = 0; i < n; i++) if (Object.is(values[i], -0)) negZeros++;
  w.byte((((dod ? Mode.DecDod : Mode.DecDelta) | (negZeros > 0 ? NEG_ZERO : 0)) << 4) | k);
  prev = 0;
  prevDelta = 0;
  for (let i = 0; i < n; i++) {
    const s = scaled[i]!;
    const d = s - prev;
    w.svarint(dod && i > 1 ? d - prevDelta : d);
    prevDelta = d;
    prev = s;
  }
  if (negZeros > 0) {
    // How many, then the gaps between their positions.
    w.uvarint(negZeros);
    let last = 0;
    for (let i = 0; i < n; i++) {
      if (!Object.is(values[i], -0)) continue;
      w.uvarint(i - last);
      last = i;
    }
  }
}

export function readValues(r: ByteReader, out: Float64Array, n: number): void {
  if (n === 0) return;
  const h = r.byte();
  const mode = h >>> 4;
  if (mode === Mode.Constant) {
    out.fill(r.float64(), 0, n);
    return;
  }
  if (mode === Mode.Float) {
    readFloats(r, out, n);
    return;
  }
  const k = h & 15;
  const dec = mode & ~NEG_ZERO;
  if (k > MAX_SCALE || (dec !== Mode.DecDelta && dec !== Mode.DecDod)) {
    throw new RangeError("bad value column in metric data");
  }
  const p = POW10[k]!;
  let prev = 0;
  let delta = 0;
  for (let i = 0; i < n; i++) {
    const z = r.svarint();
    delta = dec === Mode.DecDod && i > 1 ? delta + z : z;
    prev += delta;
    out[i] = prev / p;
  }
  if (mode & NEG_ZERO) {
    const count = r.uvarint();
    if (count > n) throw new RangeError("bad value column in metric data");
    let at = 0;
    for (let j = 0; j < count; j++) {
      at += r.uvarint();
      if (at >= n || out[at] !== 0) throw new RangeError("bad value column in metric data");
      out[at] = -0;
    }
  }
}

function finish(w: ByteWriter, deflate: boolean): Buffer {
  const body = w.buf.subarray(0, w.pos);
  if (deflate && body.length >= DEFLATE_MIN) {
    const z = deflateRawSync(body);
    if (z.length + 1 < body.length + 1) {
      const out = Buffer.allocUnsafe(z.length + 1);
      out[0] = VERSION_DEFLATED;
      out.set(z, 1);
      return out;
    }
  }
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = 0;
  out.set(body, 1);
  return out;
}

function open(data: Uint8Array): ByteReader {
  if (data.length < 1) throw new RangeError("empty metric data");
  const flags = data[0]!;
  if (flags > VERSION_DEFLATED) throw new RangeError(`unknown metric data flags ${flags}`);
  const body =
    flags === VERSION_DEFLATED
      ? inflateRawSync(data.subarray(1), { maxOutputLength: 64 * 1024 * 1024 })
      : data.subarray(1);
  return new ByteReader(body);
}

function readCount(r: ByteReader): number {
  const n = r.uvarint();
  // Every point takes at least one byte (its time): a corrupt count fails before allocating.
  if (n > MAX_DECODE_POINTS || n > r.buf.length - r.pos)
    throw new RangeError(`metric data claims ${n} points`);
  return n;
}

const writer = new ByteWriter(16 * 1024);

export interface ChunkOptions {
  /** Deflate the body when smaller (default true; open windows skip it to save CPU on rewrites). */
  deflate?: boolean;
}

/** One series' samples: times (integer ms) and finite values, the first n of each. */
export function encodeChunk(
  times: ArrayLike<number>,
  values: ArrayLike<number>,
  n = times.length,
  o: ChunkOptions = {},
): Buffer {
  const w = writer.reset();
  w.uvarint(n);
  writeTimes(w, times, n);
  writeValues(w, values, n);
  return finish(w, o.deflate !== false);
}

export interface DecodedChunk {
  times: Float64Array;
  values: Float64Array;
}

export function decodeChunk(data: Uint8Array): DecodedChunk {
  const r = open(data);
  const n = readCount(r);
  const times = new Float64Array(n);
  const values = new Float64Array(n);
  readTimes(r, times, n);
  readValues(r, values, n);
  return { times, values };
}

/** Aggregates per bucket (1 min or 1 h) of one series. `sum`, not avg: decimals stay decimal. */
export interface RollupColumns {
  n: number;
  /** Bucket start (ms). */
  t: Float64Array;
  count: Float64Array;
  /** Time of the bucket's last sample minus t (for `last` when late data merges, and for rates). */
  lastOff: Float64Array;
  min: Float64Array;
  max: Float64Array;
  sum: Float64Array;
  last: Float64Array;
}

export function emptyRollup(capacity: number): RollupColumns {
  return {
    n: 0,
    t: new Float64Array(capacity),
    count: new Float64Array(capacity),
    lastOff: new Float64Array(capacity),
    min: new Float64Array(capacity),
    max: new Float64Array(capacity),
    sum: new Float64Array(capacity),
    last: new Float64Array(capacity),
  };
}

export function encodeRollup(c: RollupColumns, o: ChunkOptions = {}): Buffer {
  const w = writer.reset();
  const n = c.n;
  w.uvarint(n);
  writeTimes(w, c.t, n);
  writeValues(w, c.count, n);
  writeValues(w, c.lastOff, n);
  writeValues(w, c.min, n);
  writeValues(w, c.max, n);
  writeValues(w, c.sum, n);
  writeValues(w, c.last, n);
  return finish(w, o.deflate !== false);
}

export function decodeRollup(data: Uint8Array): RollupColumns {
  const r = open(data);
  const n = readCount(r);
  const c = emptyRollup(n);
  c.n = n;
  readTimes(r, c.t, n);
  readValues(r, c.count, n);
  readValues(r, c.lastOff, n);
  readValues(r, c.min, n);
  readValues(r, c.max, n);
  readValues(r, c.sum, n);
  readValues(r, c.last, n);
  return c;
}

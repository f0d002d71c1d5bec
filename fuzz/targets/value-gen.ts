/**
 * Series of sample times and values from fuzz bytes, for the codec round trips
 * (metric-codec.ts): every finite double the store may hold, weighted toward what the codec
 * treats specially (docs/protocol.md §14.4): decimals of scale 0..7, steady counters, −0,
 * integers near 2^49 and 2^53, the largest and smallest doubles; times are safe integers
 * within ±2^50 ms, regular, jittered, jumping or going back.
 */
import type { ByteChoices } from "./batch-builder.js";

const TIME_LIMIT = 2 ** 50;
const SPECIAL = [
  2 ** 49,
  2 ** 49 + 1,
  -(2 ** 49) - 1,
  2 ** 53 - 1,
  -(2 ** 53 - 1),
  2 ** 53,
  1e15,
  1e15 + 0.5,
  1e14 + 0.1,
  562_949_953_421.3125,
  Number.MAX_VALUE,
  -Number.MAX_VALUE,
  Number.MIN_VALUE,
  -Number.MIN_VALUE,
  2.2250738585072014e-308,
  0.1 + 0.2,
  1 / 3,
];
const f64 = new Float64Array(1);
const bytes = new Uint8Array(f64.buffer);

/** How many points: mostly a few, sometimes enough to deflate, now and then a day's worth. */
function length(c: ByteChoices): number {
  const b = c.next();
  if (b === 255) return 1440 + c.next();
  return b % 70;
}

export function genTimes(c: ByteChoices): number[] {
  const n = length(c);
  const out: number[] = [];
  let t = [1_750_000_000_000, 0, -1e12, TIME_LIMIT, -TIME_LIMIT, TIME_LIMIT - 5000][c.next() % 6]!;
  let step = [1000, 10_000, 60_000, 3_600_000, 1][c.next() % 5]!;
  for (let i = 0; i < n; i++) {
    out.push(t);
    const k = c.next() % 10;
    if (k === 7) step = (c.next() - 128) * 997;
    else if (k === 8) step = (c.next() % 2 ? 1 : -1) * (c.next() * 2 ** 42 + c.next());
    const jitter = k === 9 ? c.next() - 128 : 0;
    t = Math.min(TIME_LIMIT, Math.max(-TIME_LIMIT, t + step + jitter));
  }
  return out;
}

export function genValues(c: ByteChoices, n: number): number[] {
  const out: number[] = [];
  let prev = 0;
  let delta = 1 + c.next() * 37;
  const mode = c.next() % 4; // mostly one kind of value per series, as in real data
  for (let i = 0; i < n; i++) {
    const tag = mode === 0 ? c.next() % 11 : [5, 1, 2][mode - 1]!;
    let v: number;
    switch (tag) {
      case 0:
        v = c.next() - 128;
        break;
      case 1:
        v = ((c.next() << 8) | c.next()) / 10 ** (c.next() % 8);
        break;
      case 2:
        for (let b = 0; b < 8; b++) bytes[b] = c.next();
        v = Number.isFinite(f64[0]!) ? f64[0]! : c.next();
        break;
      case 3:
        v = -0;
        break;
      case 4:
        v = prev;
        break;
      case 5:
        v = prev + delta;
        break;
      case 6:
        v = SPECIAL[c.next() % SPECIAL.length]!;
        break;
      case 7:
        v = prev / 10;
        break;
      case 8:
        v = (c.next() - 128) / (1 + (c.next() % 16));
        break;
      case 9:
        v = 1e14 + (c.next() % 10) / 10;
        break;
      default:
        v = -(c.next() / 100);
    }
    if (tag !== 5 && tag !== 4) delta = v - prev || delta;
    if (!Number.isFinite(v)) v = 0;
    out.push(v);
    prev = v;
  }
  return out;
}

/**
 * The Prometheus remote-write 1.0 WriteRequest, protobuf-encoded by hand (docs/protocol.md
 * §14.6): four tiny messages do not justify a protobuf library.
 *
 *   WriteRequest { repeated TimeSeries timeseries = 1; }
 *   TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
 *   Label        { string name = 1; string value = 2; }
 *   Sample       { double value = 1; int64 timestamp = 2; }   // timestamp: ms since the epoch
 *
 * Sizes are computed first, then the bytes written into one buffer: no intermediate copies.
 */

export interface PromLabel {
  name: string;
  value: string;
}

export interface PromSeries {
  /** Sorted by name (the spec requires it), `__name__` included. */
  labels: PromLabel[];
  /** [ms, value] */
  samples: [number, number][];
}

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const key = (field: number, wire: number) => (field << 3) | wire;

/** Bytes of a non-negative integer as a varint (exact up to 2^53). */
function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** An int64 varint: a negative value takes 10 bytes (two's complement), as protobuf says. */
function int64Size(n: number): number {
  return n < 0 ? 10 : varintSize(n);
}

const utf8 = new TextEncoder();

interface Sized {
  bytes: Uint8Array[];
  labelSizes: number[];
  sampleSizes: number[];
  size: number;
}

function labelSize(nameLen: number, valueLen: number): number {
  return 1 + varintSize(nameLen) + nameLen + 1 + varintSize(valueLen) + valueLen;
}

function sampleSize(t: number): number {
  return 1 + 8 + 1 + int64Size(t);
}

function sizeSeries(s: PromSeries): Sized {
  const bytes: Uint8Array[] = [];
  const labelSizes: number[] = [];
  const sampleSizes: number[] = [];
  let size = 0;
  for (const l of s.labels) {
    const n = utf8.encode(l.name);
    const v = utf8.encode(l.value);
    bytes.push(n, v);
    const ls = labelSize(n.length, v.length);
    labelSizes.push(ls);
    size += 1 + varintSize(ls) + ls;
  }
  for (const [t] of s.samples) {
    const ss = sampleSize(Math.trunc(t));
    sampleSizes.push(ss);
    size += 1 + varintSize(ss) + ss;
  }
  return { bytes, labelSizes, sampleSizes, size };
}

class Writer {
  pos = 0;
  private readonly view: DataView;
  constructor(readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  varint(n: number): void {
    while (n >= 128) {
      this.buf[this.pos++] = (n % 128) | 128;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }
  int64(n: number): void {
    if (n >= 0) {
      this.varint(n);
      return;
    }
    let v = BigInt.asUintN(64, BigInt(n));
    for (let i = 0; i < 9; i++) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 128;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }
  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  double(v: number): void {
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }
}

/** Encode a WriteRequest. Values may be NaN or ±Inf (Prometheus's stale marker is a NaN). */
export function encodeWriteRequest(series: PromSeries[]): Uint8Array {
  const sized = series.map(sizeSeries);
  let total = 0;
  for (const s of sized) total += 1 + varintSize(s.size) + s.size;
  const w = new Writer(new Uint8Array(total));
  series.forEach((s, i) => {
    const z = sized[i]!;
    w.varint(key(1, WIRE_LEN));
    w.varint(z.size);
    z.labelSizes.forEach((ls, j) => {
      w.varint(key(1, WIRE_LEN));
      w.varint(ls);
      w.varint(key(1, WIRE_LEN));
      w.bytes(z.bytes[2 * j]!);
      w.varint(key(2, WIRE_LEN));
      w.bytes(z.bytes[2 * j + 1]!);
    });
    s.samples.forEach(([t, v], j) => {
      w.varint(key(2, WIRE_LEN));
      w.varint(z.sampleSizes[j]!);
      w.varint(key(1, WIRE_I64));
      w.double(v);
      w.varint(key(2, WIRE_VARINT));
      w.int64(Math.trunc(t));
    });
  });
  if (w.pos !== total) throw new Error(`remote-write encoder: wrote ${w.pos} of ${total} bytes`);
  return w.buf;
}

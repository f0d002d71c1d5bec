/**
 * Byte buffers with LEB128 varints and zigzag signed integers, the building blocks of the
 * metric codecs (docs/protocol.md §14.4). Integers up to 2^53 are exact: above 2^31 the
 * arithmetic path is used, since JavaScript's bit operators are 32-bit.
 */

const TWO31 = 2 ** 31;

/** Zigzag: 0, -1, 1, -2, ... → 0, 1, 2, 3, ...; exact for |n| ≤ 2^52. */
export function zigzag(n: number): number {
  return n < 0 ? -2 * n - 1 : 2 * n;
}

export function unzigzag(z: number): number {
  return z % 2 === 1 ? -(z + 1) / 2 : z / 2;
}

/** Bytes a varint of `u` (unsigned) takes. */
export function varintLength(u: number): number {
  let n = 1;
  while (u >= 128) {
    u = Math.floor(u / 128);
    n++;
  }
  return n;
}

/** A growable byte buffer; reuse one (reset) to avoid allocation per encode. */
export class ByteWriter {
  buf: Uint8Array;
  view: DataView;
  pos = 0;

  constructor(initial = 4096) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
  }

  reset(): this {
    this.pos = 0;
    return this;
  }

  /** Room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  /** Unsigned integer 0 ≤ u ≤ 2^53. */
  uvarint(u: number): void {
    this.ensure(8);
    const buf = this.buf;
    let p = this.pos;
    if (u < TWO31) {
      while (u >= 128) {
        buf[p++] = (u & 127) | 128;
        u >>>= 7;
      }
    } else {
      while (u >= 128) {
        buf[p++] = (u % 128) | 128;
        u = Math.floor(u / 128);
      }
    }
    buf[p++] = u;
    this.pos = p;
  }

  svarint(n: number): void {
    this.uvarint(n < 0 ? -2 * n - 1 : 2 * n);
  }

  float64(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A copy of what was written (the buffer is reused). */
  take(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}

/** Reads what ByteWriter wrote; throws RangeError when the data ends early. */
export class ByteReader {
  readonly buf: Uint8Array;
  readonly view: DataView;
  pos: number;

  constructor(buf: Uint8Array, pos = 0) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = pos;
  }

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  byte(): number {
    if (this.pos >= this.buf.length) throw new RangeError("metric data ends early");
    return this.buf[this.pos++]!;
  }

  uvarint(): number {
    const buf = this.buf;
    const len = buf.length;
    let p = this.pos;
    if (p >= len) throw new RangeError("metric data ends early");
    let b = buf[p++]!;
    if (b < 128) {
      this.pos = p;
      return b;
    }
    // Up to 4 bytes (28 bits) in 32-bit integer arithmetic: the common case, and fast.
    let result = b & 127;
    for (let shift = 7; shift < 28; shift += 7) {
      if (p >= len) throw new RangeError("metric data ends early");
      b = buf[p++]!;
      result |= (b & 127) << shift;
      if (b < 128) {
        this.pos = p;
        return result;
      }
    }
    let mul = 2 ** 28;
    for (;;) {
      if (p >= len) throw new RangeError("metric data ends early");
      b = buf[p++]!;
      result += (b & 127) * mul;
      if (b < 128) break;
      mul *= 128;
      if (mul > 2 ** 56) throw new RangeError("varint too long");
    }
    this.pos = p;
    return result;
  }

  svarint(): number {
    const z = this.uvarint();
    if (z < 0x40000000) return (z >>> 1) ^ -(z & 1);
    return z % 2 === 1 ? -(z + 1) / 2 : z / 2;
  }

  float64(): number {
    if (this.pos + 8 > this.buf.length) throw new RangeError("metric data ends early");
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** Skip `n` varints (faster than decoding them). */
  skipVarints(n: number): void {
    const buf = this.buf;
    let p = this.pos;
    while (n > 0) {
      if (p >= buf.length) throw new RangeError("metric data ends early");
      if (buf[p++]! < 128) n--;
    }
    this.pos = p;
  }
}

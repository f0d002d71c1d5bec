/**
 * One accepted batch as one `metric_recent` row (docs/protocol.md §14.4): written on the
 * ingest hot path, so it favours speed over size (values as raw float64; the row lives only
 * until compaction turns it into chunks).
 *
 * Layout: [version 1][runs R] R × [zigzag(sid − previous sid)][points in run]
 *         then per point zigzag(t − previous t) (the first relative to 0),
 *         then per point the value as little-endian float64.
 * A run is a stretch of points of one series; a series may have several runs.
 */
import { ByteReader, type ByteWriter } from "./bytes.js";

const VERSION = 1;

/** The accepted points of one batch, in series order. */
export interface PointColumns {
  n: number;
  sids: Int32Array;
  times: Float64Array;
  values: Float64Array;
}

export function encodeRecent(w: ByteWriter, p: PointColumns): Buffer {
  w.reset();
  w.byte(VERSION);
  const n = p.n;
  let runs = 0;
  for (let i = 0; i < n; i++) if (i === 0 || p.sids[i] !== p.sids[i - 1]) runs++;
  w.uvarint(runs);
  let prevSid = 0;
  for (let i = 0; i < n; ) {
    const sid = p.sids[i]!;
    let j = i + 1;
    while (j < n && p.sids[j] === sid) j++;
    w.svarint(sid - prevSid);
    w.uvarint(j - i);
    prevSid = sid;
    i = j;
  }
  let prevT = 0;
  for (let i = 0; i < n; i++) {
    const t = p.times[i]!;
    w.svarint(t - prevT);
    prevT = t;
  }
  w.ensure(8 * n);
  const view = w.view;
  let pos = w.pos;
  for (let i = 0; i < n; i++) {
    view.setFloat64(pos, p.values[i]!, true);
    pos += 8;
  }
  w.pos = pos;
  return w.take();
}

/**
 * Decode a row; with `only`, just the points of those series (the others are skipped
 * without decoding their values).
 */
export function decodeRecent(data: Uint8Array, only?: ReadonlySet<number>): PointColumns {
  const r = new ByteReader(data);
  const version = r.byte();
  if (version !== VERSION) throw new RangeError(`unknown recent-row version ${version}`);
  const runs = r.uvarint();
  if (runs > data.length) throw new RangeError("bad recent row");
  const runSid = new Int32Array(runs);
  const runLen = new Int32Array(runs);
  let sid = 0;
  let total = 0;
  let wanted = 0;
  for (let i = 0; i < runs; i++) {
    sid += r.svarint();
    const len = r.uvarint();
    runSid[i] = sid;
    runLen[i] = len;
    total += len;
    if (!only || only.has(sid)) wanted += len;
  }
  if (total > data.length) throw new RangeError("bad recent row");
  const out: PointColumns = {
    n: wanted,
    sids: new Int32Array(wanted),
    times: new Float64Array(wanted),
    values: new Float64Array(wanted),
  };
  if (wanted === 0) return out;
  const valuesAt = (() => {
    // Times are varints: find where the values begin by walking them once.
    const save = r.pos;
    r.skipVarints(total);
    const at = r.pos;
    r.pos = save;
    return at;
  })();
  if (valuesAt + 8 * total > data.length) throw new RangeError("bad recent row");
  let t = 0;
  let k = 0;
  let point = 0;
  for (let i = 0; i < runs; i++) {
    const s = runSid[i]!;
    const len = runLen[i]!;
    const keep = !only || only.has(s);
    for (let j = 0; j < len; j++, point++) {
      t += r.svarint();
      if (!keep) continue;
      out.sids[k] = s;
      out.times[k] = t;
      out.values[k] = r.view.getFloat64(valuesAt + 8 * point, true);
      k++;
    }
  }
  return out;
}

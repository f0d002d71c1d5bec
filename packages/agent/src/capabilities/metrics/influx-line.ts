/**
 * InfluxDB line protocol: `measurement[,tag=v...] field=v[,field2=v2...] [timestamp]`, the
 * format Telegraf and much existing robot code emit. Escapes: `\,` `\ ` in the measurement,
 * `\,` `\=` `\ ` in tag keys, tag values and field keys; string fields are double-quoted with
 * `\"` and `\\`. Fields: floats, integers `10i`, unsigned `10u`, booleans (→ 0/1); strings
 * are not numbers and are skipped and counted (`string-field`).
 *
 * A field becomes the series `<measurement>_<field>` (`value` alone: `<measurement>`), tags
 * become labels (docs/protocol.md §14, application metrics).
 */
import type { Drops } from "./drops.js";
import { kindOf, sanitizeLabels, sanitizeMetricName } from "./names.js";
import type { Sample } from "./sample.js";

export interface InfluxPoint {
  measurement: string;
  tags: [string, string][];
  fields: [string, number | string][];
  /** As written, in the request's precision. */
  timestamp?: number;
}

export type Precision = "ns" | "us" | "ms" | "s" | "m" | "h";

/** `precision` query values (v1: n, u, ms, s, m, h; v2: ns, us, ms, s) → a Precision, or undefined. */
export function parsePrecision(p: string | null | undefined): Precision | undefined {
  if (p === null || p === undefined || p === "") return "ns";
  return ({ n: "ns", ns: "ns", u: "us", us: "us", ms: "ms", s: "s", m: "m", h: "h" } as const)[p as "ns"];
}

const TO_MS: Record<Precision, number> = { ns: 1e-6, us: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
/**
 * Device times the server accepts in a gap record (its envelope's bound, ±4e15 ms): a sample
 * beyond it, once lost, would make a gap the server refuses with every batch that carries it.
 */
const MAX_ABS_TIME = 4e15;

class LineError extends Error {}

/** Read up to an unescaped stop character; a backslash escapes only the characters in `esc`. */
function token(s: string, i: number, stops: string, esc: string): [string, number] {
  let out = "";
  while (i < s.length) {
    const c = s[i]!;
    if (c === "\\" && i + 1 < s.length && esc.includes(s[i + 1]!)) {
      out += s[i + 1];
      i += 2;
      continue;
    }
    if (stops.includes(c)) break;
    out += c;
    i++;
  }
  return [out, i];
}

function quoted(s: string, i: number): [string, number] {
  let out = "";
  i++; // the opening quote
  while (i < s.length) {
    const c = s[i]!;
    if (c === "\\" && (s[i + 1] === '"' || s[i + 1] === "\\")) {
      out += s[i + 1];
      i += 2;
      continue;
    }
    if (c === '"') return [out, i + 1];
    out += c;
    i++;
  }
  throw new LineError("unterminated string field");
}

const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const TRUE = new Set(["t", "T", "true", "True", "TRUE"]);
const FALSE = new Set(["f", "F", "false", "False", "FALSE"]);

function fieldValue(v: string): number {
  if (/^[+-]?\d+i$/.test(v) || /^\d+u$/.test(v)) return Number(v.slice(0, -1));
  if (FLOAT.test(v)) return Number(v);
  if (TRUE.has(v)) return 1;
  if (FALSE.has(v)) return 0;
  throw new LineError(`bad field value ${JSON.stringify(v.slice(0, 40))}`);
}

/** One line: a point, null for a blank line or a comment, or throws LineError. */
export function parseInfluxLine(line: string): InfluxPoint | null {
  const s = line.trim();
  if (s === "" || s.startsWith("#")) return null;
  let [measurement, i] = token(s, 0, ", ", ", ");
  if (!measurement) throw new LineError("missing measurement");
  const tags: [string, string][] = [];
  while (s[i] === ",") {
    let k: string;
    let v: string;
    [k, i] = token(s, i + 1, "=, ", ",= ");
    if (s[i] !== "=" || !k) throw new LineError("bad tag (expected key=value)");
    [v, i] = token(s, i + 1, ", ", ",= ");
    if (!v) throw new LineError(`tag ${k} has no value`);
    tags.push([k, v]);
  }
  if (s[i] !== " ") throw new LineError("missing fields");
  while (s[i] === " ") i++;
  const fields: [string, number | string][] = [];
  for (;;) {
    let k: string;
    [k, i] = token(s, i, "=, ", ",= ");
    if (s[i] !== "=" || !k) throw new LineError("bad field (expected key=value)");
    i++;
    if (s[i] === '"') {
      let str: string;
      [str, i] = quoted(s, i);
      fields.push([k, str]);
    } else {
      let raw: string;
      [raw, i] = token(s, i, ", ", "");
      fields.push([k, fieldValue(raw)]);
    }
    if (s[i] === ",") {
      i++;
      continue;
    }
    break;
  }
  while (s[i] === " ") i++;
  let timestamp: number | undefined;
  if (i < s.length) {
    const ts = s.slice(i);
    if (!/^-?\d+$/.test(ts)) throw new LineError(`bad timestamp ${JSON.stringify(ts.slice(0, 40))}`);
    timestamp = Number(ts);
  }
  return { measurement, tags, fields, timestamp };
}

export interface InfluxBadLine {
  /** 1-based line number in the request or datagram. */
  line: number;
  error: string;
  text: string;
}

/**
 * A request body or datagram to samples: good lines kept, each bad line counted as
 * `parse-error` and reported (the HTTP endpoint names the first), string fields counted as
 * `string-field`.
 */
export function influxToSamples(
  text: string,
  precision: Precision,
  now: number,
  drops: Drops,
): { samples: Sample[]; bad: InfluxBadLine[] } {
  const samples: Sample[] = [];
  const bad: InfluxBadLine[] = [];
  const lines = text.split("\n");
  for (let n = 0; n < lines.length; n++) {
    let p: InfluxPoint | null;
    try {
      p = parseInfluxLine(lines[n]!);
    } catch (err) {
      if (!(err instanceof LineError)) throw err;
      drops.add("parse-error");
      bad.push({ line: n + 1, error: err.message, text: lines[n]!.trim().slice(0, 100) });
      continue;
    }
    if (!p) continue;
    const t = p.timestamp === undefined ? now : Math.round(p.timestamp * TO_MS[precision]);
    if (!(Math.abs(t) <= MAX_ABS_TIME)) {
      drops.add("parse-error");
      bad.push({ line: n + 1, error: "timestamp out of range", text: lines[n]!.trim().slice(0, 100) });
      continue;
    }
    const labels = sanitizeLabels(p.tags);
    for (const [field, value] of p.fields) {
      if (typeof value === "string") {
        drops.add("string-field");
        continue;
      }
      const name = sanitizeMetricName(field === "value" ? p.measurement : `${p.measurement}_${field}`);
      if (!name || !Number.isFinite(value)) {
        drops.add("parse-error");
        continue;
      }
      const s: Sample = { name, value, t };
      if (labels) s.labels = labels;
      if (kindOf(name) === "counter") s.kind = "counter";
      samples.push(s);
    }
  }
  return { samples, bad };
}

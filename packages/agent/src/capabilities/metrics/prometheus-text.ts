/**
 * The Prometheus text exposition format (version 0.0.4) that local exporters serve (a ROS
 * exporter, node-style exporters): `# TYPE` lines give each family its kind, samples are
 * `name{label="value",...} value [timestamp_ms]`, label values escape `\\`, `\"` and `\n`.
 * Counters (and a histogram's or summary's _count, _sum, _bucket) become kind counter.
 * Non-finite values and garbage lines are counted, never a crash.
 */
import type { Drops } from "./drops.js";
import { kindOf, sanitizeLabels, sanitizeMetricName } from "./names.js";
import type { Sample } from "./sample.js";

class LineError extends Error {}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/;
/**
 * Device times the server accepts in a gap record (its envelope's bound, ±4e15 ms): a sample
 * beyond it, once lost, would make a gap the server refuses with every batch that carries it.
 */
const MAX_ABS_TIME = 4e15;

function parseValue(v: string): number {
  switch (v) {
    case "NaN":
      return Number.NaN;
    case "+Inf":
    case "Inf":
      return Number.POSITIVE_INFINITY;
    case "-Inf":
      return Number.NEGATIVE_INFINITY;
  }
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v))
    throw new LineError(`bad value ${JSON.stringify(v)}`);
  return Number(v);
}

export interface PromSample {
  name: string;
  labels: [string, string][];
  value: number;
  timestampMs?: number;
}

/** One sample line (not a comment); throws LineError. */
export function parsePromSampleLine(line: string): PromSample {
  const m = NAME.exec(line);
  if (!m) throw new LineError("bad metric name");
  const name = m[0];
  let i = name.length;
  const labels: [string, string][] = [];
  if (line[i] === "{") {
    i++;
    for (;;) {
      while (line[i] === " " || line[i] === "\t") i++;
      if (line[i] === "}") {
        i++;
        break;
      }
      const l = LABEL.exec(line.slice(i));
      if (!l) throw new LineError("bad label name");
      i += l[0].length;
      while (line[i] === " ") i++;
      if (line[i] !== "=" || line[i + 1] !== '"') throw new LineError(`label ${l[0]}: expected ="value"`);
      i += 2;
      let v = "";
      for (;;) {
        const c = line[i];
        if (c === undefined) throw new LineError("unterminated label value");
        if (c === "\\") {
          const e = line[i + 1];
          v += e === "n" ? "\n" : e === "\\" ? "\\" : e === '"' ? '"' : `\\${e ?? ""}`;
          i += 2;
          continue;
        }
        i++;
        if (c === '"') break;
        v += c;
      }
      labels.push([l[0], v]);
      while (line[i] === " ") i++;
      if (line[i] === ",") i++;
      else if (line[i] !== "}") throw new LineError("expected , or } after a label");
    }
  }
  // Value, optional timestamp; an OpenMetrics exemplar (` # {...} v`) is dropped.
  const rest = line
    .slice(i)
    .split(" # ")[0]!
    .trim()
    .split(/[ \t]+/);
  if (rest[0] === "" || rest.length > 2) throw new LineError("expected value [timestamp]");
  const value = parseValue(rest[0]!);
  let timestampMs: number | undefined;
  if (rest[1] !== undefined) {
    const ts = Number(rest[1]);
    if (!Number.isFinite(ts)) throw new LineError(`bad timestamp ${JSON.stringify(rest[1])}`);
    // 0.0.4 gives milliseconds; a fractional number is OpenMetrics' seconds.
    timestampMs = rest[1].includes(".") ? Math.round(ts * 1000) : ts;
    if (!(Math.abs(timestampMs) <= MAX_ABS_TIME)) throw new LineError("timestamp out of range");
  }
  return { name, labels, value, timestampMs };
}

const SUFFIXES = ["_total", "_count", "_sum", "_bucket", "_created", "_info"];

function kindFor(name: string, types: Map<string, string>): "gauge" | "counter" {
  let type = types.get(name);
  let suffix = "";
  if (type === undefined) {
    for (const s of SUFFIXES) {
      if (name.endsWith(s) && types.has(name.slice(0, -s.length))) {
        type = types.get(name.slice(0, -s.length));
        suffix = s;
        break;
      }
    }
  }
  switch (type) {
    case "counter":
      return "counter";
    case "histogram":
    case "summary":
      return suffix === "_count" || suffix === "_sum" || suffix === "_bucket" ? "counter" : "gauge";
    case undefined:
    case "untyped":
    case "unknown":
      return kindOf(name);
    default:
      return "gauge";
  }
}

/**
 * A scraped body to samples at `now` (or each sample's own timestamp), with `extra` labels
 * (the target's) set over the scraped ones. Garbage lines count as parse-error; NaN and ±Inf
 * as invalid-value.
 */
export function parsePrometheusText(
  text: string,
  now: number,
  drops: Drops,
  extra: Record<string, string> = {},
): Sample[] {
  const types = new Map<string, string>();
  const out: Sample[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "") continue;
    if (line.startsWith("#")) {
      const t = /^#\s+TYPE\s+([a-zA-Z_:][a-zA-Z0-9_:]*)\s+(\w+)/.exec(line);
      if (t) types.set(t[1]!, t[2]!.toLowerCase());
      continue;
    }
    let p: PromSample;
    try {
      p = parsePromSampleLine(line);
    } catch (err) {
      if (!(err instanceof LineError)) throw err;
      drops.add("parse-error");
      continue;
    }
    // _created is a family's start time, not a measurement (Prometheus ignores it too).
    if (p.name.endsWith("_created") && types.has(p.name.slice(0, -"_created".length))) continue;
    if (!Number.isFinite(p.value)) {
      drops.add("invalid-value");
      continue;
    }
    const name = sanitizeMetricName(p.name);
    if (!name) {
      drops.add("parse-error");
      continue;
    }
    const labels = sanitizeLabels([
      ...p.labels.filter(([k]) => !Object.hasOwn(extra, k)),
      ...Object.entries(extra),
    ]);
    const s: Sample = { name, value: p.value, t: p.timestampMs ?? now };
    if (labels) s.labels = labels;
    if (kindFor(p.name, types) === "counter") s.kind = "counter";
    out.push(s);
  }
  return out;
}

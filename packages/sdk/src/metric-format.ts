/**
 * Display helpers for metrics, shared by the CLI and the console (browser-safe, no I/O): the
 * unit a metric name implies (docs/protocol.md §14: the name suffix is the unit, Prometheus
 * style), values in that unit, statistics of a range, a terminal sparkline, gap and clock-skew
 * sentences.
 */
import type { MetricGap } from "@tether/protocol/metrics";
import { clock, fmtSpan } from "./format.js";

/** What a metric's number means, from its name's suffix. */
export type MetricUnit =
  | "bytes"
  | "percent"
  | "celsius"
  | "volts"
  | "amps"
  | "watts"
  | "seconds"
  | "dbm"
  | "battery-status"
  | "number";

const SUFFIX_UNITS: [RegExp, MetricUnit][] = [
  [/_bytes(_total)?$/, "bytes"],
  [/_percent$/, "percent"],
  [/_celsius$/, "celsius"],
  [/_volts$/, "volts"],
  [/_amps$/, "amps"],
  [/_watts$/, "watts"],
  [/_seconds(_total)?$/, "seconds"],
  [/_dbm$/, "dbm"],
];

export function metricUnit(name: string): MetricUnit {
  if (name === "battery_status") return "battery-status";
  for (const [re, unit] of SUFFIX_UNITS) if (re.test(name)) return unit;
  return "number";
}

/** Counters end in `_total` (docs/protocol.md §14.2); charts show their rate. */
export const isCounter = (name: string): boolean => name.endsWith("_total");

/** battery_status values (the agent's collector, docs/protocol.md §14.6). */
export const BATTERY_STATUS = ["unknown", "charging", "discharging", "not charging", "full"] as const;

/** The short unit text for an axis or a column ("%", "°C", "MiB/s" is chosen per value). */
export function unitSuffix(unit: MetricUnit, rate = false): string {
  const base = { percent: "%", celsius: "°C", volts: "V", amps: "A", watts: "W", dbm: "dBm" } as Record<
    string,
    string
  >;
  if (unit === "bytes") return rate ? "B/s" : "B";
  if (unit === "seconds") return rate ? "s/s" : "s";
  const s = base[unit] ?? "";
  return rate ? (s ? `${s}/s` : "/s") : s;
}

const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** 1536 → "1.5 KiB"; 3_221_225_472 → "3.0 GiB" (binary units, one decimal past bytes). */
export function fmtBytesIec(n: number): string {
  let v = Math.abs(n);
  let i = 0;
  while (v >= 1024 && i < BYTE_UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  const s = i === 0 ? String(Math.round(v)) : v.toFixed(v >= 100 ? 0 : 1);
  return `${n < 0 ? "-" : ""}${s} ${BYTE_UNITS[i]}`;
}

/** A plain number for people: "1,204", "12.5", "0.031", "-3.2". */
export function fmtNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (Number.isInteger(v) || a >= 1000) return Math.round(v).toLocaleString("en-US");
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return trim(v.toFixed(1));
  if (a >= 0.01 || a === 0) return trim(v.toFixed(2));
  return String(Number(v.toPrecision(2)));
}

const trim = (s: string): string => (s.includes(".") ? s.replace(/\.?0+$/, "") : s);

/**
 * A value in its metric's unit: "42.1%", "48.5 °C", "12.41 V", "1.5 GiB", "2.0 MiB/s" (with
 * `rate`: a counter's per-second increase), "1d 2h" (seconds), "charging" (battery_status).
 * null → "–".
 */
export function fmtMetricValue(
  name: string,
  v: number | null | undefined,
  o: { rate?: boolean } = {},
): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  const unit = metricUnit(name);
  const rate = o.rate ?? false;
  switch (unit) {
    case "bytes":
      return rate ? `${fmtBytesIec(v)}/s` : fmtBytesIec(v);
    case "percent":
      return `${trim(v.toFixed(Math.abs(v) >= 10 ? 0 : 1))}%`;
    case "celsius":
      return `${v.toFixed(1)} °C`;
    case "volts":
      return `${v.toFixed(2)} V`;
    case "amps":
      return `${v.toFixed(2)} A`;
    case "watts":
      return `${v.toFixed(1)} W`;
    case "dbm":
      return `${Math.round(v)} dBm`;
    case "seconds":
      if (rate) return `${fmtNumber(v)} s/s`;
      return v < 1 ? `${fmtNumber(v * 1000)} ms` : fmtSpan(v);
    case "battery-status":
      return BATTERY_STATUS[Math.round(v)] ?? fmtNumber(v);
    default:
      return rate ? `${fmtNumber(v)}/s` : fmtNumber(v);
  }
}

/** "mount=/,device=sda" (sorted by key), "" without labels. */
export function labelsText(labels: Record<string, string> | undefined): string {
  if (!labels) return "";
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(",");
}

export interface SeriesStats {
  min: number | null;
  avg: number | null;
  max: number | null;
  last: number | null;
  /** Steps holding a value. */
  count: number;
}

/** min/avg/max/last of a series' points (null steps skipped). */
export function seriesStats(points: readonly (readonly [number, number | null])[]): SeriesStats {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let sum = 0;
  let count = 0;
  let last: number | null = null;
  for (const [, v] of points) {
    if (v === null || !Number.isFinite(v)) continue;
    min = Math.min(min, v);
    max = Math.max(max, v);
    sum += v;
    count++;
    last = v;
  }
  return count === 0
    ? { min: null, avg: null, max: null, last: null, count: 0 }
    : { min, avg: sum / count, max, last, count };
}

const BARS = "▁▂▃▄▅▆▇█";

/**
 * Values as a terminal sparkline of at most `width` characters (▁…█; a step without data is a
 * space, so a gap shows as a gap). More values than `width` are averaged per character; a
 * character most of whose values are missing is a gap. `range` fixes the scale (e.g. 0–100
 * for percentages); by default it is the values' own min–max. Empty when there are no values.
 */
export function sparkline(
  values: readonly (number | null)[],
  o: { width?: number; range?: { min: number; max: number } } = {},
): string {
  const width = Math.max(1, Math.floor(o.width ?? 40));
  const cols = resample(values, width);
  const seen = cols.filter((v): v is number => v !== null);
  if (seen.length === 0) return "";
  const lo = o.range?.min ?? Math.min(...seen);
  const hi = o.range?.max ?? Math.max(...seen);
  const span = hi - lo;
  return cols
    .map((v) => {
      if (v === null) return " ";
      // A flat line sits at the bottom when it is the minimum of a fixed range, else mid-height.
      if (span <= 0) return o.range ? BARS[0] : BARS[3];
      const i = Math.round(((Math.min(hi, Math.max(lo, v)) - lo) / span) * (BARS.length - 1));
      return BARS[i];
    })
    .join("");
}

/** Average `values` into at most `width` buckets; a bucket mostly without values is null. */
export function resample(values: readonly (number | null)[], width: number): (number | null)[] {
  if (values.length <= width) return values.map((v) => (v === null || !Number.isFinite(v) ? null : v));
  const out: (number | null)[] = [];
  for (let c = 0; c < width; c++) {
    const a = Math.floor((c * values.length) / width);
    const b = Math.floor(((c + 1) * values.length) / width);
    let sum = 0;
    let n = 0;
    for (let i = a; i < b; i++) {
      const v = values[i];
      if (v !== null && Number.isFinite(v)) {
        sum += v;
        n++;
      }
    }
    out.push(n * 2 >= b - a && n > 0 ? sum / n : null);
  }
  return out;
}

const REASONS: Record<string, string> = {
  "buffer-full": "buffer full",
  "disk-full": "disk full",
  "series-limit": "series limit",
  "rate-limit": "rate limit",
  rejected: "rejected by the server",
};

/** "1,204 samples lost (buffer full) 10:02–10:05". */
export function gapText(g: Pick<MetricGap, "from" | "to" | "count" | "reason">, now = Date.now()): string {
  const why = REASONS[g.reason] ?? g.reason.replace(/-/g, " ");
  const what = `${g.count.toLocaleString("en-US")} ${g.count === 1 ? "sample" : "samples"} lost`;
  const from = clock(g.from, now);
  let to = clock(g.to, now);
  // "2026-05-01 10:02–10:05": the date once when both ends share it.
  if (to.length > 5 && to.slice(0, 11) === from.slice(0, 11)) to = to.slice(11);
  const when = from === to ? from : `${from}–${to}`;
  return `${what} (${why}) ${when}`;
}

/** How far off the device's clock is, when it is enough to matter (more than `thresholdMs`, 2 s). */
export function skewText(skewMs: number | null | undefined, thresholdMs = 2000): string | null {
  if (skewMs === null || skewMs === undefined || !Number.isFinite(skewMs)) return null;
  if (Math.abs(skewMs) <= thresholdMs) return null;
  const span = fmtSpan(Math.abs(skewMs) / 1000);
  // skewMs is the server's receive time minus the device's send time (docs/protocol.md §14.2):
  // positive when the device clock is behind.
  return `device clock ${span} ${skewMs > 0 ? "behind" : "ahead of"} the server`;
}

/** "12s ago" from a server time in ms; "never" for null. */
export function ageText(at: number | null | undefined, now = Date.now()): string {
  if (at === null || at === undefined) return "never";
  const s = Math.round((now - at) / 1000);
  if (s < 0) return `in ${fmtSpan(-s)}`;
  if (s < 5) return "just now";
  return `${fmtSpan(s)} ago`;
}

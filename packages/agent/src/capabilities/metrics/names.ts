/**
 * Application metric names and labels made to fit the wire rules (docs/protocol.md §14.2:
 * METRIC_NAME, LABEL_NAME, RESERVED_LABELS, value lengths), the way Prometheus's StatsD and
 * Influx bridges do: dots, dashes and other characters become `_`; a reserved label name
 * (`device`, `job`, ...) is kept as `exported_<name>`, since the server sets those itself.
 */
import { RESERVED_LABELS, TELEMETRY_LIMITS } from "@tether/protocol";

const reserved = new Set<string>(RESERVED_LABELS);

/** A usable metric name, or null when nothing usable is left. */
export function sanitizeMetricName(raw: string): string | null {
  let n = raw.replace(/[^a-zA-Z0-9_:]/g, "_");
  if (!n || /^_+$/.test(n)) return null;
  if (/^[0-9]/.test(n)) n = `_${n}`;
  return n.slice(0, 128);
}

export function sanitizeLabelName(raw: string): string | null {
  let n = raw.replace(/[^a-zA-Z0-9_]/g, "_");
  if (!n || /^_+$/.test(n)) return null;
  if (/^[0-9]/.test(n)) n = `_${n}`;
  if (reserved.has(n) || n.startsWith("__")) n = `exported_${n}`;
  return n.slice(0, 64);
}

/**
 * Labels fit for the wire: names sanitised, empty values dropped (Prometheus: an empty label
 * is no label), values cut to the limit, at most TELEMETRY_LIMITS.maxLabels (sorted by name).
 */
export function sanitizeLabels(raw: Iterable<[string, string]>): Record<string, string> | undefined {
  const entries: [string, string][] = [];
  for (const [k, v] of raw) {
    const n = sanitizeLabelName(k);
    if (n === null || v === "") continue;
    entries.push([n, v.slice(0, TELEMETRY_LIMITS.maxLabelValue)]);
  }
  if (entries.length === 0) return undefined;
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: Record<string, string> = {};
  for (const [k, v] of entries.slice(0, TELEMETRY_LIMITS.maxLabels)) out[k] = v;
  return out;
}

/** The brief's rule: names ending `_total` are counters, the rest gauges. */
export const kindOf = (name: string): "gauge" | "counter" => (name.endsWith("_total") ? "counter" : "gauge");

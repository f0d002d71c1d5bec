/**
 * What the store accepts from a device (docs/protocol.md §14.2 "Names and limits"): series
 * names and labels by Prometheus's rules, and plausible times. What fails is dropped and
 * counted by reason, never stored, never an error for the whole batch.
 */
import { LABEL_NAME, METRIC_NAME, RESERVED_LABELS, TELEMETRY_LIMITS } from "@tether/protocol";
import type { Labels } from "./types.js";

const metricName = new RegExp(METRIC_NAME);
const labelName = new RegExp(LABEL_NAME);
const reserved = new Set<string>(RESERVED_LABELS);

export type SeriesVerdict = "ok" | "bad-name" | "bad-label";

/** Check a series' name and labels; on "ok", `canonical` is its labels as sorted-key JSON. */
export function checkSeries(name: unknown, labels: unknown): { verdict: SeriesVerdict; canonical: string } {
  if (typeof name !== "string" || !metricName.test(name)) return { verdict: "bad-name", canonical: "" };
  if (labels === undefined || labels === null) return { verdict: "ok", canonical: "{}" };
  if (typeof labels !== "object" || Array.isArray(labels)) return { verdict: "bad-label", canonical: "" };
  const keys = Object.keys(labels);
  if (keys.length > TELEMETRY_LIMITS.maxLabels) return { verdict: "bad-label", canonical: "" };
  keys.sort();
  const sorted: Labels = {};
  for (const k of keys) {
    const v = (labels as Record<string, unknown>)[k];
    if (!labelName.test(k) || k.startsWith("__") || reserved.has(k))
      return { verdict: "bad-label", canonical: "" };
    if (typeof v !== "string" || v.length > TELEMETRY_LIMITS.maxLabelValue) {
      return { verdict: "bad-label", canonical: "" };
    }
    sorted[k] = v;
  }
  return { verdict: "ok", canonical: JSON.stringify(sorted) };
}

/**
 * Server time of a sample (docs/protocol.md §14.3 "Clocks"): the device time when plausible
 * (after 2000 and not far ahead of the server's clock), else the device time corrected by
 * the batch's clock skew when that is plausible, else NaN (dropped as "bad-time").
 */
export function serverTime(t: unknown, receivedAt: number, skewMs: number): number {
  if (typeof t !== "number" || !Number.isFinite(t)) return Number.NaN;
  const max = receivedAt + TELEMETRY_LIMITS.maxFutureMs;
  const min = TELEMETRY_LIMITS.minTime;
  if (t >= min && t <= max) return Math.round(t);
  const c = t + skewMs;
  if (c >= min && c <= max) return Math.round(c);
  return Number.NaN;
}

/** Whether two label sets match: every label of `want` is in `have` with the same value. */
export function labelsMatch(have: Labels, want: Labels | undefined): boolean {
  if (!want) return true;
  for (const k in want) if (have[k] !== want[k]) return false;
  return true;
}

/**
 * A range query's time window and step (docs/protocol.md §14.5): `since`/`until` are a
 * duration back from now (`1h`, `7d`) or an ISO time; the step defaults to the range / 120
 * rounded up to 10 s, 1 min, 5 min or whole hours, and a series never has more than
 * MAX_POINTS points (a step too small is refused with the smallest one allowed).
 */
import { parseDurationMs, TetherError } from "@tether/protocol";

export const MAX_POINTS = 11_000;
export const DEFAULT_RANGE_MS = 3_600_000;
/** Default steps: the range / 120 rounded up to one of these (or to whole hours beyond). */
const STEPS = [10_000, 60_000, 300_000, 3_600_000];
const MIN_STEP_MS = 1000;

export interface TimeRange {
  from: number;
  to: number;
  stepMs: number;
}

function bad(message: string): TetherError {
  return new TetherError("TETHER_ERR_BAD_REQUEST", message);
}

/** A duration back from `now`, or an ISO 8601 time (with a date). */
export function parseTime(s: string, now: number, what: string): number {
  const d = parseDurationMs(s);
  if (d !== undefined) return now - d;
  const t = /^\d{4}-\d{2}-\d{2}/.test(s.trim()) ? Date.parse(s) : Number.NaN;
  if (Number.isNaN(t))
    throw bad(`${what} ${JSON.stringify(s)} is neither a duration (30m, 1h, 7d) nor an ISO time`);
  return t;
}

/** `90000` → `1m30s`: a step people can type back. */
export function formatDuration(ms: number): string {
  const parts: string[] = [];
  let rest = Math.round(ms / 1000);
  for (const [unit, n] of [
    ["d", 86_400],
    ["h", 3600],
    ["m", 60],
    ["s", 1],
  ] as const) {
    if (rest >= n) {
      parts.push(`${Math.floor(rest / n)}${unit}`);
      rest %= n;
    }
  }
  return parts.join("") || "1s";
}

export function defaultStep(rangeMs: number): number {
  const raw = rangeMs / 120;
  for (const s of STEPS) if (raw <= s) return s;
  return Math.ceil(raw / 3_600_000) * 3_600_000;
}

/** The smallest step (whole seconds) that keeps a series within MAX_POINTS, alignment included. */
export function smallestStep(rangeMs: number): number {
  return Math.max(MIN_STEP_MS, Math.ceil(rangeMs / (MAX_POINTS - 1) / 1000) * 1000);
}

/**
 * The window [from, to) and step. `from` is aligned down to the step, so points fall on the
 * same boundaries as the 1 min / 1 h rollups and a chart does not shift as time passes.
 */
export function resolveRange(q: { since?: string; until?: string; step?: string }, now: number): TimeRange {
  const to = q.until ? parseTime(q.until, now, "until") : now;
  const since = q.since ? parseTime(q.since, now, "since") : to - DEFAULT_RANGE_MS;
  if (since >= to) throw bad("since must be before until");
  const range = to - since;
  let stepMs: number;
  if (q.step) {
    const s = parseDurationMs(q.step);
    if (s === undefined) throw bad(`step ${JSON.stringify(q.step)} is not a duration (10s, 1m, 1h)`);
    if (s < MIN_STEP_MS) throw bad("the step must be at least 1s");
    stepMs = s;
  } else stepMs = defaultStep(range);
  const from = Math.floor(since / stepMs) * stepMs;
  const points = Math.ceil((to - from) / stepMs);
  if (points > MAX_POINTS) {
    const least = smallestStep(range);
    throw bad(
      `step ${formatDuration(stepMs)} gives ${points} points per series over this range; at most ${MAX_POINTS} are allowed: the smallest step allowed is ${formatDuration(least)}`,
    );
  }
  return { from, to, stepMs };
}

/** `k=v,k2=v2` → labels (a series label filter, not a device selector). */
export function parseLabelFilter(s: string | undefined): Record<string, string> | undefined {
  if (s === undefined || s.trim() === "") return undefined;
  const out: Record<string, string> = {};
  for (const part of s.split(",")) {
    const eq = part.indexOf("=");
    const k = part.slice(0, eq).trim();
    if (eq <= 0 || !/^[a-zA-Z_][a-zA-Z0-9_]{0,63}$/.test(k))
      throw bad(`labels ${JSON.stringify(s)}: each filter is name=value, separated by commas (e.g. mount=/)`);
    out[k] = part.slice(eq + 1).trim();
  }
  return out;
}

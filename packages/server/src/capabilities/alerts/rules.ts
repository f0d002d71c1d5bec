/**
 * Alert rules: the checks on POST /api/v1/alerts/rules (exactly one kind, a selector that
 * parses, a label filter, a log pattern that is safe, a metric the project has reported,
 * webhooks that exist) and the lines people read (the condition, an alert's summary).
 */
import {
  type AlertKind,
  type AlertOp,
  type AlertRuleCreate,
  parseSelector,
  type SelectorTerm,
  TetherError,
} from "@tether/protocol";
import { parseLabelFilter } from "../../query/time-range.js";
import { compilePattern, type LogMatcher } from "./pattern.js";

export type Labels = Record<string, string>;

/** A rule as stored (`spec` column) and held in memory. */
export interface RuleSpec {
  kind: AlertKind;
  metric: string | null;
  labels: string | null;
  op: AlertOp | null;
  value: number | null;
  forMs: number;
  offlineMs: number | null;
  logPattern: string | null;
  count: number | null;
  withinMs: number | null;
  selector: string | null;
  severity: "info" | "warning" | "critical";
  description: string | null;
}

/** What a rule needs at evaluation time, compiled once. */
export interface CompiledRule {
  terms: SelectorTerm[];
  labels: Labels | undefined;
  matcher: LogMatcher | undefined;
}

export const DEFAULT_LOG_WITHIN_MS = 60_000;

const invalid = (m: string) => new TetherError("TETHER_ERR_RULE_INVALID", m);

/** Exactly one kind, and the fields that kind needs; TETHER_ERR_* errors with a sentence. */
export function normalizeRule(b: AlertRuleCreate): RuleSpec {
  const metricish =
    b.metric !== undefined || b.op !== undefined || b.value !== undefined || b.labels !== undefined;
  const offline = b.offlineMs !== undefined;
  const logish = b.logPattern !== undefined || b.count !== undefined || b.withinMs !== undefined;
  const kinds = [
    metricish && "a metric (metric, op, value)",
    offline && "offlineMs",
    logish && "a log pattern (logPattern, count, withinMs)",
  ].filter(Boolean) as string[];
  if (kinds.length !== 1)
    throw invalid(
      kinds.length === 0
        ? "a rule needs exactly one kind: metric with op and value, or offlineMs, or logPattern (with count and withinMs)"
        : `a rule has exactly one kind, this one gives ${kinds.join(" and ")}`,
    );
  const base = {
    metric: null,
    labels: null,
    op: null,
    value: null,
    offlineMs: null,
    logPattern: null,
    count: null,
    withinMs: null,
    selector: b.selector ?? null,
    severity: b.severity ?? "warning",
    description: b.description ?? null,
  } as const;
  if (b.selector !== undefined) parseSelector(b.selector);
  if (metricish) {
    if (b.metric === undefined) throw invalid("a metric rule needs metric (the metric's name)");
    if (b.op === undefined || b.value === undefined)
      throw invalid(`a metric rule needs op and value (e.g. ${b.metric} < 15)`);
    if (!Number.isFinite(b.value)) throw invalid("value must be a finite number");
    if (b.labels !== undefined) parseRuleLabels(b.labels);
    return {
      ...base,
      kind: "metric",
      metric: b.metric,
      labels: b.labels?.trim() ? b.labels.trim() : null,
      op: b.op,
      value: b.value,
      forMs: b.forMs ?? 0,
    };
  }
  if (offline) {
    if (b.forMs)
      throw invalid(
        "forMs does not apply to an offline rule: offlineMs is how long the device must be offline",
      );
    return { ...base, kind: "offline", offlineMs: b.offlineMs!, forMs: 0 };
  }
  if (b.logPattern === undefined)
    throw invalid("a log rule needs logPattern (count and withinMs are optional)");
  compilePattern(b.logPattern);
  return {
    ...base,
    kind: "log",
    logPattern: b.logPattern,
    count: b.count ?? 1,
    withinMs: b.withinMs ?? DEFAULT_LOG_WITHIN_MS,
    forMs: b.forMs ?? 0,
  };
}

export function parseRuleLabels(s: string): Labels | undefined {
  try {
    return parseLabelFilter(s);
  } catch (err) {
    throw invalid((err as Error).message);
  }
}

export function compileRule(s: RuleSpec): CompiledRule {
  return {
    terms: s.selector ? parseSelector(s.selector) : [],
    labels: s.labels ? parseRuleLabels(s.labels) : undefined,
    matcher: s.logPattern ? compilePattern(s.logPattern) : undefined,
  };
}

export function compare(op: AlertOp, a: number, b: number): boolean {
  if (Number.isNaN(a)) return false;
  switch (op) {
    case "<":
      return a < b;
    case "<=":
      return a <= b;
    case ">":
      return a > b;
    case ">=":
      return a >= b;
    case "==":
      return a === b;
    case "!=":
      return a !== b;
  }
}

/** 90 000 → "1m30s"; 500 → "500ms". */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  let s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86_400);
  s -= d * 86_400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const parts = [d && `${d}d`, h && `${h}h`, m && `${m}m`, s && `${s}s`].filter(Boolean);
  return parts.slice(0, 2).join("") || "0s";
}

const num = (v: number) => (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6))));

/** "battery_percent < 15 for 2m at site=tokyo" */
export function conditionText(s: RuleSpec): string {
  const at = s.selector ? ` at ${s.selector}` : "";
  const held = s.forMs ? ` for ${duration(s.forMs)}` : "";
  if (s.kind === "metric")
    return `${s.metric}${s.labels ? `{${s.labels}}` : ""} ${s.op} ${num(s.value!)}${held}${at}`;
  if (s.kind === "offline") return `offline for ${duration(s.offlineMs!)}${at}`;
  return `/${s.logPattern}/ seen ${s.count} time${s.count === 1 ? "" : "s"} within ${duration(s.withinMs!)}${held}${at}`;
}

/** "battery_percent is 12 (< 15) for 2m" */
export function summaryText(s: RuleSpec, value: number | null, heldMs: number): string {
  const held = duration(heldMs);
  if (s.kind === "metric")
    return `${s.metric} is ${value === null ? "unknown" : num(value)} (${s.op} ${num(s.value!)}) for ${held}`;
  if (s.kind === "offline") return `offline for ${held}`;
  return `/${s.logPattern}/ seen ${value ?? 0} time${value === 1 ? "" : "s"} in the last ${duration(s.withinMs!)}`;
}

/** A resolved alert: "battery_percent is 40 (no longer < 15), held 3m". */
export function resolvedText(s: RuleSpec, value: number | null, heldMs: number): string {
  const held = duration(heldMs);
  if (s.kind === "metric")
    return value === null
      ? `${s.metric} has no recent value (held ${s.op} ${num(s.value!)} for ${held})`
      : `${s.metric} is ${num(value)} (no longer ${s.op} ${num(s.value!)}), held for ${held}`;
  if (s.kind === "offline") return `back online after ${held} offline`;
  return `/${s.logPattern}/ seen ${value ?? 0} time${value === 1 ? "" : "s"} in the last ${duration(s.withinMs!)}, below ${s.count}`;
}

/** Series labels include every label of the filter. */
export function labelsInclude(have: Labels, want: Labels | undefined): boolean {
  if (!want) return true;
  for (const [k, v] of Object.entries(want)) if (have[k] !== v) return false;
  return true;
}

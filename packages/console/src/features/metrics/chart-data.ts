/**
 * Pure helpers of the device charts (no React, no uPlot): the time ranges, which charts a
 * device gets and what each queries, and range answers laid on one time grid for uPlot with
 * null where a step holds no sample, so a gap is drawn as a gap (docs/protocol.md §14.5).
 */
import {
  isCounter,
  isSystemMetric,
  labelsText,
  type MetricAgg,
  type MetricGap,
  type MetricRangeResult,
} from "@tether/sdk";

/** The range picker: label, span and a step giving 90–180 points (the agent samples every 10 s). */
export const RANGES = [
  { id: "15m", ms: 15 * 60_000, stepMs: 10_000 },
  { id: "1h", ms: 3_600_000, stepMs: 30_000 },
  { id: "6h", ms: 6 * 3_600_000, stepMs: 180_000 },
  { id: "24h", ms: 86_400_000, stepMs: 600_000 },
  { id: "7d", ms: 7 * 86_400_000, stepMs: 3_600_000 },
] as const;
export type RangeId = (typeof RANGES)[number]["id"];
export const DEFAULT_RANGE: RangeId = "1h";

export function rangeOf(id: string | null): (typeof RANGES)[number] {
  return RANGES.find((r) => r.id === id) ?? RANGES.find((r) => r.id === DEFAULT_RANGE)!;
}

/**
 * The window every chart of one refresh shares: its end on a step boundary (so each query's
 * steps are the same) and its start one range before.
 */
export function windowFor(range: (typeof RANGES)[number], now: number): { from: number; to: number } {
  const to = Math.ceil(now / range.stepMs) * range.stepMs;
  return { from: to - range.ms, to };
}

/** One query of a chart and how its series are named in the legend. */
export interface ChartQuery {
  metric: string;
  agg: MetricAgg;
  /** The legend name of a series from its labels. */
  name: (labels: Record<string, string>) => string;
  /** 0: the left axis; 1: the right one. */
  axis?: 0 | 1;
}

export interface ChartDef {
  id: string;
  title: string;
  queries: ChartQuery[];
  /** A metric whose unit labels the left (and right) axis; `rate` when it is a counter's rate. */
  unit: { metric: string; rate?: boolean };
  unit2?: { metric: string; rate?: boolean };
  /** A fixed left-axis range (percentages). */
  range?: [number, number];
  /**
   * What the chart's header shows: the first line's newest value (default), or the highest
   * newest value with its line's name (the hottest sensor, the fullest disk).
   */
  headline?: "first" | "max";
}

const by =
  (key: string, suffix = "") =>
  (l: Record<string, string>) =>
    `${l[key] ?? labelsText(l)}${suffix}` || "(all)";

/** The system charts, in page order. A device gets those whose metrics it has sent. */
export const SYSTEM_CHARTS: readonly ChartDef[] = [
  {
    id: "cpu",
    title: "CPU",
    queries: [
      { metric: "cpu_usage_percent", agg: "avg", name: () => "total" },
      { metric: "cpu_core_usage_percent", agg: "avg", name: (l) => `core ${l.cpu ?? "?"}` },
    ],
    unit: { metric: "cpu_usage_percent" },
    range: [0, 100],
  },
  {
    id: "memory",
    title: "Memory used",
    queries: [{ metric: "memory_used_percent", agg: "avg", name: () => "used" }],
    unit: { metric: "memory_used_percent" },
    range: [0, 100],
  },
  {
    id: "disk",
    title: "Disk used",
    queries: [{ metric: "disk_used_percent", agg: "last", name: by("mount") }],
    unit: { metric: "disk_used_percent" },
    range: [0, 100],
    headline: "max",
  },
  {
    id: "network",
    title: "Network",
    queries: [
      { metric: "net_rx_bytes_total", agg: "rate", name: by("interface", " rx") },
      { metric: "net_tx_bytes_total", agg: "rate", name: by("interface", " tx") },
    ],
    unit: { metric: "net_rx_bytes_total", rate: true },
  },
  {
    id: "temperature",
    title: "Temperature",
    queries: [{ metric: "temperature_celsius", agg: "avg", name: by("sensor") }],
    unit: { metric: "temperature_celsius" },
    headline: "max",
  },
  {
    id: "battery",
    title: "Battery",
    queries: [
      { metric: "battery_capacity_percent", agg: "last", name: by("battery", " charge") },
      { metric: "battery_voltage_volts", agg: "avg", name: by("battery", " voltage"), axis: 1 },
    ],
    unit: { metric: "battery_capacity_percent" },
    unit2: { metric: "battery_voltage_volts" },
    range: [0, 100],
  },
];

/** A chart of one custom metric: a counter as its rate. */
export function customChart(metric: string): ChartDef {
  const rate = isCounter(metric);
  return {
    id: `custom:${metric}`,
    title: metric,
    queries: [{ metric, agg: rate ? "rate" : "avg", name: (l) => labelsText(l) || metric }],
    unit: { metric, rate },
  };
}

/** The charts a device gets: system charts with at least one of their metrics sent. */
export function chartsFor(names: ReadonlySet<string>): ChartDef[] {
  return SYSTEM_CHARTS.map((c) => ({ ...c, queries: c.queries.filter((q) => names.has(q.metric)) })).filter(
    (c) => c.queries.length > 0,
  );
}

/** Metric names that are not the agent's own collectors', sorted. */
export function customMetrics(names: Iterable<string>): string[] {
  return [...new Set(names)].filter((n) => !isSystemMetric(n)).sort();
}

export interface ChartLine {
  label: string;
  axis: 0 | 1;
  metric: string;
}

/** uPlot's data: x (ms) then one array per line, null where the step has no sample. */
export interface ChartData {
  lines: ChartLine[];
  data: [number[], ...(number | null)[][]];
  /** Gap records inside the window (each once). */
  gaps: MetricGap[];
  /** Steps of all lines together that hold a value, and that do not. */
  filled: number;
  empty: number;
}

/**
 * Lay the answers of a chart's queries (`results[i]` for `def.queries[i]`) on the window's step
 * grid. A point off the grid goes to its nearest step; a step with no point stays null.
 */
export function toChartData(
  def: ChartDef,
  results: MetricRangeResult[],
  win: { from: number; to: number },
  stepMs: number,
): ChartData {
  const n = Math.max(1, Math.round((win.to - win.from) / stepMs));
  const xs = Array.from({ length: n }, (_, i) => win.from + i * stepMs);
  const lines: ChartLine[] = [];
  const ys: (number | null)[][] = [];
  const gaps = new Map<string, MetricGap>();
  let filled = 0;
  results.forEach((r, qi) => {
    const q = def.queries[qi];
    for (const g of r.gaps)
      if (g.to >= win.from && g.from <= win.to) gaps.set(`${g.deviceId} ${g.from} ${g.to} ${g.reason}`, g);
    const series = [...r.series].sort((a, b) =>
      labelsText(a.labels).localeCompare(labelsText(b.labels), undefined, { numeric: true }),
    );
    for (const s of series) {
      const y: (number | null)[] = new Array(n).fill(null);
      for (const [t, v] of s.points) {
        const i = Math.round((t - win.from) / stepMs);
        if (i < 0 || i >= n || v === null || !Number.isFinite(v)) continue;
        if (y[i] === null) filled++;
        y[i] = v;
      }
      lines.push({ label: q.name(s.labels), axis: q.axis ?? 0, metric: s.name });
      ys.push(y);
    }
  });
  return {
    lines,
    data: [xs, ...ys],
    gaps: [...gaps.values()].sort((a, b) => a.from - b.from),
    filled,
    empty: n * ys.length - filled,
  };
}

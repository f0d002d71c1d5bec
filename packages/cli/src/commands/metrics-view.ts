/**
 * What `tether metrics` prints (pure, unit-tested): the device overview table, one metric's
 * series, names, top-N, and the gap and clock-skew lines under them (docs/protocol.md §14.5).
 */
import {
  ageText,
  type DeviceMetricNames,
  fmtMetricValue,
  gapText,
  labelsText,
  type MetricGap,
  type MetricRangeResult,
  type MetricTopResult,
  metricUnit,
  type OverviewMetric,
  seriesStats,
  skewText,
  sparkline,
} from "@tether/sdk";
import { type Cell, table } from "../table.js";

/** Characters of a sparkline in the overview table and in one metric's table. */
export const OVERVIEW_WIDTH = 30;
export const SERIES_WIDTH = 40;

const pct = { min: 0, max: 100 };

/** One row per series: figure, series labels, last / min / avg / max, and the trend. */
export function overviewTable(
  parts: { def: OverviewMetric; result: MetricRangeResult }[],
  trendTitle: string,
): string {
  const rows: Cell[][] = [];
  for (const { def, result } of parts) {
    const rate = result.agg === "rate";
    for (const s of result.series) {
      const st = seriesStats(s.points);
      const f = (v: number | null) => fmtMetricValue(s.name, v, { rate });
      const by = def.by ? s.labels[def.by] : undefined;
      rows.push([
        def.title,
        by !== undefined ? `${def.by}=${by}` : labelsText(s.labels),
        f(st.last),
        f(st.min),
        f(st.avg),
        f(st.max),
        sparkline(
          s.points.map((p) => p[1]),
          { width: OVERVIEW_WIDTH, ...(def.range ? { range: def.range } : {}) },
        ),
      ]);
    }
  }
  return table(["metric", "series", "last", "min", "avg", "max", trendTitle], rows);
}

/** Every series of one metric: its labels, min / avg / max / last, and the trend. */
export function seriesTable(result: MetricRangeResult, trendTitle: string): string {
  const rate = result.agg === "rate";
  const range = metricUnit(result.metric) === "percent" ? pct : undefined;
  const rows = result.series.map((s): Cell[] => {
    const st = seriesStats(s.points);
    const f = (v: number | null) => fmtMetricValue(s.name, v, { rate });
    return [
      labelsText(s.labels) || "(no labels)",
      f(st.min),
      f(st.avg),
      f(st.max),
      f(st.last),
      sparkline(
        s.points.map((p) => p[1]),
        { width: SERIES_WIDTH, ...(range ? { range } : {}) },
      ),
    ];
  });
  return table(["series", "min", "avg", "max", "last", trendTitle], rows);
}

/** `metrics names`: each series, its labels, kind, last value and how old it is. */
export function namesTable(n: DeviceMetricNames, now = Date.now()): string {
  const series = [...n.series].sort(
    (a, b) => a.name.localeCompare(b.name) || labelsText(a.labels).localeCompare(labelsText(b.labels)),
  );
  return table(
    ["name", "labels", "kind", "last", "age"],
    series.map((s) => [
      s.name,
      labelsText(s.labels),
      s.kind,
      fmtMetricValue(s.name, s.lastValue),
      ageText(s.lastAt, now),
    ]),
  );
}

/** `metrics top`: device, labels, value with its unit, age. */
export function topTable(r: MetricTopResult, now = Date.now()): string {
  return table(
    ["device", "labels", "value", "age"],
    r.rows.map((x) => [
      x.device,
      labelsText(x.labels),
      fmtMetricValue(r.metric, x.value),
      ageText(x.at, now),
    ]),
  );
}

/** The same gap reported by several queries once, oldest first. */
export function uniqueGaps(results: MetricRangeResult[]): MetricGap[] {
  const seen = new Map<string, MetricGap>();
  for (const r of results)
    for (const g of r.gaps) seen.set(`${g.deviceId} ${g.from} ${g.to} ${g.reason} ${g.count}`, g);
  return [...seen.values()].sort((a, b) => a.from - b.from);
}

/** The lines under a table: each gap, and the clock skew when it is over 2 s. */
export function footLines(gaps: MetricGap[], skewMs: number | null, now = Date.now()): string {
  const lines = gaps.map((g) => `gap: ${gapText(g, now)}`);
  const skew = skewText(skewMs);
  if (skew) lines.push(`clock: ${skew} (times shown are the server's)`);
  return lines.length ? `${lines.join("\n")}\n` : "";
}

/** "robot-7 · last upload 12s ago · last 1h at 1m steps (raw samples)". */
export function headLine(
  n: Pick<DeviceMetricNames, "device" | "lastUploadAt">,
  r: Pick<MetricRangeResult, "stepMs" | "resolution"> | undefined,
  since: string,
  now = Date.now(),
): string {
  const up = n.lastUploadAt ? Date.parse(n.lastUploadAt) : null;
  const parts = [n.device, `last upload ${ageText(up, now)}`];
  const range = /^\d{4}-/.test(since) ? `since ${since}` : `last ${since}`;
  if (r) parts.push(`${range} at ${span(r.stepMs)} steps (${resolutionText(r.resolution)})`);
  return `${parts.join(" · ")}\n`;
}

// Steps of 1 min or more read raw samples while they are kept and rollups after (§14.5): the
// server names the resolution, not where each point came from.
const resolutionText = (r: string): string => (r === "raw" ? "raw samples" : `${r} resolution`);

/** 3_600_000 → "1h", 90_000 → "1m 30s". */
function span(ms: number): string {
  const s = Math.round(ms / 1000);
  const units: [number, string][] = [
    [86400, "d"],
    [3600, "h"],
    [60, "m"],
    [1, "s"],
  ];
  const out: string[] = [];
  let rest = s;
  for (const [n, u] of units) {
    if (rest >= n && out.length < 2) {
      out.push(`${Math.floor(rest / n)}${u}`);
      rest %= n;
    }
  }
  return out.join(" ") || `${ms}ms`;
}

/**
 * The metrics REST API's shapes (docs/protocol.md §14.5): what the server answers, the CLI
 * prints and the console charts. Browser-safe (`@tether/protocol/metrics`).
 */
import { type Static, Type } from "typebox";

/** Aggregations a range query can apply per step. `rate`: per-second increase of a counter. */
export const METRIC_AGGS = ["avg", "min", "max", "last", "sum", "count", "rate"] as const;
export type MetricAgg = (typeof METRIC_AGGS)[number];

export const MetricLabels = Type.Record(Type.String(), Type.String());

/**
 * A value or null (no sample in the step), as one JSON-schema type list: fast-json-stringify
 * cannot serialise an anyOf inside tuple items.
 */
const NumberOrNull = Type.Unsafe<number | null>({ type: ["number", "null"] });

/** One series a device has reported (`GET /devices/{ref}/metrics`). */
export const MetricSeriesInfo = Type.Object({
  name: Type.String(),
  labels: MetricLabels,
  kind: Type.Union([Type.Literal("gauge"), Type.Literal("counter")]),
  /** Server-corrected milliseconds of the newest sample, and its value. */
  lastAt: Type.Union([Type.Number(), Type.Null()]),
  lastValue: Type.Union([Type.Number(), Type.Null()]),
});
export type MetricSeriesInfo = Static<typeof MetricSeriesInfo>;

export const DeviceMetricNames = Type.Object({
  device: Type.String(),
  deviceId: Type.String(),
  series: Type.Array(MetricSeriesInfo),
  /**
   * Server receive time minus the device's send time at the last upload, in ms (positive:
   * the device clock is behind; docs/protocol.md §14.2); null before the first upload.
   */
  skewMs: Type.Union([Type.Number(), Type.Null()]),
  /** Server time of the last accepted upload. */
  lastUploadAt: Type.Union([Type.String(), Type.Null()]),
});
export type DeviceMetricNames = Static<typeof DeviceMetricNames>;

/** A gap: samples a device lost (buffer full, limits) or a span with no data. */
export const MetricGap = Type.Object({
  device: Type.String(),
  deviceId: Type.String(),
  from: Type.Number(),
  to: Type.Number(),
  count: Type.Integer(),
  reason: Type.String(),
  detail: Type.Optional(Type.String()),
});
export type MetricGap = Static<typeof MetricGap>;

export const MetricRangeQuery = Type.Object({
  /** One device (name or id) ... */
  device: Type.Optional(Type.String({ maxLength: 128 })),
  /** ... or a label selector (`site=tokyo,model=amr2`); neither: every device of the project. */
  selector: Type.Optional(Type.String({ maxLength: 512 })),
  metric: Type.String({ minLength: 1, maxLength: 128 }),
  /** Series label filter, `k=v,k2=v2` (e.g. `mount=/`). */
  labels: Type.Optional(Type.String({ maxLength: 512 })),
  /** Duration back from now (`1h`, `30m`, `7d`) or an ISO time; default 1h. */
  since: Type.Optional(Type.String({ maxLength: 64 })),
  /** ISO time or duration back from now; default now. */
  until: Type.Optional(Type.String({ maxLength: 64 })),
  /** Step (`10s`, `1m`, `1h`); default: the range / 120, rounded up to a whole resolution. */
  step: Type.Optional(Type.String({ maxLength: 16 })),
  agg: Type.Optional(
    Type.Union([
      Type.Literal("avg"),
      Type.Literal("min"),
      Type.Literal("max"),
      Type.Literal("last"),
      Type.Literal("sum"),
      Type.Literal("count"),
      Type.Literal("rate"),
    ]),
  ),
  /** Most series returned (default 100, at most 1000). */
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
});
export type MetricRangeQuery = Static<typeof MetricRangeQuery>;

export const MetricRangeSeries = Type.Object({
  device: Type.String(),
  deviceId: Type.String(),
  name: Type.String(),
  labels: MetricLabels,
  /** `[t, v]` per step, t the step's start in ms; v null where the step holds no sample. */
  points: Type.Array(Type.Tuple([Type.Number(), NumberOrNull])),
});
export type MetricRangeSeries = Static<typeof MetricRangeSeries>;

export const MetricRangeResult = Type.Object({
  metric: Type.String(),
  from: Type.Number(),
  to: Type.Number(),
  stepMs: Type.Integer(),
  agg: Type.String(),
  /** Where the points came from: raw samples or a rollup resolution ("raw", "1m", "1h"). */
  resolution: Type.String(),
  series: Type.Array(MetricRangeSeries),
  gaps: Type.Array(MetricGap),
  /** True when more series matched than `limit`. */
  truncated: Type.Boolean(),
});
export type MetricRangeResult = Static<typeof MetricRangeResult>;

export const MetricTopQuery = Type.Object({
  metric: Type.String({ minLength: 1, maxLength: 128 }),
  selector: Type.Optional(Type.String({ maxLength: 512 })),
  labels: Type.Optional(Type.String({ maxLength: 512 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  /** "desc" (default: highest first) or "asc" (e.g. the emptiest battery first). */
  order: Type.Optional(Type.Union([Type.Literal("desc"), Type.Literal("asc")])),
});
export type MetricTopQuery = Static<typeof MetricTopQuery>;

export const MetricTopRow = Type.Object({
  device: Type.String(),
  deviceId: Type.String(),
  labels: MetricLabels,
  value: Type.Number(),
  at: Type.Number(),
});
export const MetricTopResult = Type.Object({
  metric: Type.String(),
  rows: Type.Array(MetricTopRow),
});
export type MetricTopResult = Static<typeof MetricTopResult>;

/** The key figures of the fleet summary, by short name → metric (and how series combine). */
export const KEY_FIGURES = {
  cpu: { metric: "cpu_usage_percent", combine: "max", unit: "%" },
  memory: { metric: "memory_used_percent", combine: "max", unit: "%" },
  disk: { metric: "disk_used_percent", combine: "max", unit: "%" },
  temperature: { metric: "temperature_celsius", combine: "max", unit: "°C" },
  battery: { metric: "battery_capacity_percent", combine: "min", unit: "%" },
} as const;
export type KeyFigure = keyof typeof KEY_FIGURES;

export const FleetSummaryRow = Type.Object({
  device: Type.String(),
  deviceId: Type.String(),
  /** Server time (ms) of the newest sample, null when the device never sent metrics. */
  at: Type.Union([Type.Number(), Type.Null()]),
  /** As DeviceMetricNames.skewMs. */
  skewMs: Type.Union([Type.Number(), Type.Null()]),
  /** Latest value per key figure (null when the device has no such metric). */
  figures: Type.Record(Type.String(), Type.Union([Type.Number(), Type.Null()])),
  /** The last hour of cpu, at 1 min step, for a sparkline (null where no sample). */
  spark: Type.Array(NumberOrNull),
});
export type FleetSummaryRow = Static<typeof FleetSummaryRow>;
export const FleetSummary = Type.Object({
  devices: Type.Array(FleetSummaryRow),
});
export type FleetSummary = Static<typeof FleetSummary>;

/** One event of the live stream (`GET /metrics/stream`, SSE event `samples`). */
export const LiveSamples = Type.Object({
  device: Type.String(),
  deviceId: Type.String(),
  series: Type.Array(
    Type.Object({
      name: Type.String(),
      labels: MetricLabels,
      points: Type.Array(Type.Tuple([Type.Number(), Type.Number()])),
    }),
  ),
  gaps: Type.Array(MetricGap),
});
export type LiveSamples = Static<typeof LiveSamples>;

/** `10s`, `5m`, `2h`, `7d` → milliseconds; undefined when it is not a duration. */
export function parseDurationMs(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(s.trim());
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2]!]!;
  const v = Number(m[1]) * unit;
  return Number.isFinite(v) && v > 0 ? Math.round(v) : undefined;
}

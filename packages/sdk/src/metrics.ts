/**
 * The metrics REST API (docs/protocol.md §14.5) over a TetherClient: a device's series, range
 * queries, the top-N of a metric across devices, the fleet summary. Every answer is checked
 * against its @tether/protocol/metrics schema. `metricsApi(client)` keeps TetherClient itself
 * free of this capability's routes.
 */
import {
  DeviceMetricNames,
  FleetSummary,
  type MetricAgg,
  type MetricRangeQuery,
  MetricRangeResult,
  type MetricTopQuery,
  MetricTopResult,
} from "@tether/protocol/metrics";
import { type Validator, validator } from "@tether/protocol/validate";
import { checkedCall, lazy, type Query } from "./checked.js";
import type { TetherClient } from "./client.js";

const checkNames = lazy(() => validator(DeviceMetricNames));
const checkRange = lazy(() => validator(MetricRangeResult));
const checkTop = lazy(() => validator(MetricTopResult));
const checkSummary = lazy(() => validator(FleetSummary));

/** A range query (`GET /metrics/query`). */
export type MetricQuery = MetricRangeQuery;

export interface MetricsApi {
  /** Every series a device has reported, with its newest value, the clock skew and last upload. */
  names(device: string): Promise<DeviceMetricNames>;
  /** A range query for one device (`device`), a selector, or the whole project. */
  query(q: MetricQuery): Promise<MetricRangeResult>;
  /** The latest value of a metric per device and series, highest first (`order: "asc"`: lowest). */
  top(q: MetricTopQuery): Promise<MetricTopResult>;
  /** Each device's key figures and a CPU sparkline (`selector` narrows the devices). */
  summary(selector?: string): Promise<FleetSummary>;
  /** The live stream's path (`GET`, Server-Sent Events `samples`), for EventSource or a stream. */
  streamPath(device: string): string;
}

export function metricsApi(c: TetherClient): MetricsApi {
  const call = checkedCall(c);
  const get = <T>(v: () => Validator<T>, path: string, query?: Query) =>
    call(v, "GET", path, undefined, query);
  return {
    names: (device) => get(checkNames, `/api/v1/devices/${encodeURIComponent(device)}/metrics`),
    query: (q) =>
      get(checkRange, "/api/v1/metrics/query", {
        device: q.device,
        selector: q.selector,
        metric: q.metric,
        labels: q.labels,
        since: q.since,
        until: q.until,
        step: q.step,
        agg: q.agg,
        limit: q.limit,
      }),
    top: (q) =>
      get(checkTop, "/api/v1/metrics/top", {
        metric: q.metric,
        selector: q.selector,
        labels: q.labels,
        limit: q.limit,
        order: q.order,
      }),
    summary: (selector) => get(checkSummary, "/api/v1/metrics/summary", { selector }),
    streamPath: (device) => `/api/v1/metrics/stream?device=${encodeURIComponent(device)}`,
  };
}

/**
 * What a device's overview shows, in order (the CLI's `metrics get` table, the console's
 * charts): the metric, the aggregation that reads it right (counters as a rate), the label
 * that tells its series apart, and a fixed scale where one is natural.
 */
export interface OverviewMetric {
  key: string;
  title: string;
  metric: string;
  agg: MetricAgg;
  /** The label naming each series ("mount", "sensor"); none for one-series metrics. */
  by?: string;
  /** A fixed value range for sparklines and axes (percentages: 0–100). */
  range?: { min: number; max: number };
}

export const DEVICE_OVERVIEW: readonly OverviewMetric[] = [
  { key: "cpu", title: "CPU", metric: "cpu_usage_percent", agg: "avg", range: { min: 0, max: 100 } },
  { key: "memory", title: "memory", metric: "memory_used_percent", agg: "avg", range: { min: 0, max: 100 } },
  {
    key: "disk",
    title: "disk",
    metric: "disk_used_percent",
    agg: "last",
    by: "mount",
    range: { min: 0, max: 100 },
  },
  { key: "temperature", title: "temperature", metric: "temperature_celsius", agg: "avg", by: "sensor" },
  {
    key: "battery",
    title: "battery",
    metric: "battery_capacity_percent",
    agg: "last",
    by: "battery",
    range: { min: 0, max: 100 },
  },
  { key: "net-rx", title: "net rx", metric: "net_rx_bytes_total", agg: "rate", by: "interface" },
  { key: "net-tx", title: "net tx", metric: "net_tx_bytes_total", agg: "rate", by: "interface" },
  { key: "uptime", title: "uptime", metric: "uptime_seconds", agg: "last" },
];

/** The agent's own collectors' metrics (docs/protocol.md §14.6); anything else is custom. */
export const SYSTEM_METRICS: ReadonlySet<string> = new Set([
  "cpu_usage_percent",
  "cpu_core_usage_percent",
  "load1",
  "load5",
  "load15",
  "memory_total_bytes",
  "memory_available_bytes",
  "memory_used_bytes",
  "memory_used_percent",
  "swap_total_bytes",
  "swap_used_bytes",
  "disk_total_bytes",
  "disk_used_bytes",
  "disk_used_percent",
  "disk_read_bytes_total",
  "disk_written_bytes_total",
  "disk_reads_total",
  "disk_writes_total",
  "net_rx_bytes_total",
  "net_tx_bytes_total",
  "net_rx_packets_total",
  "net_tx_packets_total",
  "net_rx_errors_total",
  "net_tx_errors_total",
  "wireless_signal_dbm",
  "wireless_link_quality",
  "temperature_celsius",
  "battery_capacity_percent",
  "battery_voltage_volts",
  "battery_current_amps",
  "battery_power_watts",
  "battery_status",
  "uptime_seconds",
  "processes",
  "agent_rss_bytes",
  "agent_cpu_seconds_total",
  "agent_buffer_bytes",
  "agent_buffer_used_percent",
  "agent_last_upload_age_seconds",
  "agent_dropped_samples_total",
]);

export const isSystemMetric = (name: string): boolean => SYSTEM_METRICS.has(name);

/**
 * Metrics (docs/protocol.md §14): system collectors over /proc and /sys, application metrics
 * from the device (StatsD, InfluxDB line protocol, Prometheus scraping) and the agent's own
 * health, sealed into the telemetry layer's "metrics" stream once per collection interval.
 * It handles no downstream message; collection runs from agent start, also while offline.
 */
import type { CapabilityModule } from "../../capability.js";
import { type MetricsOptions, MetricsRuntime } from "./runtime.js";

export type { Collector, FsStats, Statfs } from "./collectors/index.js";
export { type MetricsOptions, MetricsRuntime } from "./runtime.js";
export { metricsSettingsMarkdown } from "./settings-doc.js";
export { type LoadedMetricsSettings, loadMetricsSettings, type MetricsSources } from "./settings-load.js";
export {
  DEFAULT_METRICS_SETTINGS,
  METRICS_SETTING_KEYS,
  type MetricsFlags,
  type MetricsSettingKey,
  MetricsSettingsError,
  type ResolvedMetricsSettings,
  type ScrapeTarget,
} from "./settings.js";

export const metrics: CapabilityModule<"metrics", never, MetricsRuntime, MetricsOptions> = {
  name: "metrics",
  create: ({ log }, options) => new MetricsRuntime(log.child({ part: "metrics" }), options),
  handlers: {},
  start: (rt) => rt.start(),
  onStopping: (rt) => {
    void rt.stop();
  },
  applySettings: (rt, settings) => rt.applySettings(settings),
};

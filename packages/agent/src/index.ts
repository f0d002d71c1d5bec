export * from "./agent.js";
export * from "./backoff.js";
export type { AnyCapability, CapabilityModule, CapabilityPorts } from "./capability.js";
export { capabilities } from "./capabilities.js";
export type { ExecOptions } from "./capabilities/exec/index.js";
export {
  loadMetricsSettings,
  METRICS_SETTING_KEYS,
  type MetricsFlags,
  MetricsSettingsError,
  type MetricsSources,
  metricsSettingsMarkdown,
} from "./capabilities/metrics/index.js";
export * from "./control-client.js";
export type { Link } from "./control/link.js";
export * from "./enroll.js";
export * from "./facts.js";
export * from "./identity.js";
export * from "./journal.js";
export { AGENT_VERSION } from "./version.js";

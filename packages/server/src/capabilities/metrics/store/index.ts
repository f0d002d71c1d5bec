/**
 * The metric store (docs/protocol.md §14.4): what the metrics capability, the benchmark and the
 * tests import. The contract is ./types.ts.
 */
export { decodeChunk, decodeRollup, encodeChunk, encodeRollup } from "./codec.js";
export { createMetricStore, DEFAULT_RETENTION, MAX_STEPS, type MetricStoreOptions } from "./metric-store.js";
export { metricsTelemetryMigrations } from "./migrations.js";
export * from "./types.js";

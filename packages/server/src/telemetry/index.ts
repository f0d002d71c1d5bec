/**
 * The telemetry channel layer, server side (docs/protocol.md §14): the only entry point for
 * code outside this folder (capabilities import nothing else of it). The contract is in
 * ./types.ts.
 */
export type * from "./types.js";
export { openTelemetryDb, TELEMETRY_MIGRATION_TABLE, telemetryDbUrl } from "./db.js";
export { isTls, requireTls } from "./tls-check.js";
export { INGEST_PATH } from "./ingest-route.js";
export {
  createTelemetryLayer,
  DEFAULT_SWEEP_MS,
  DEFAULT_TOKEN_ROTATE_DAYS,
  type TelemetryLayerDeps,
  type TelemetryLayerImpl,
} from "./layer.js";
export { telemetryLayerMigrations } from "./migrations.js";
export { Mutex } from "./mutex.js";
export { GAPS_KEPT } from "./seq-claim.js";
export { telemetryTokenMigrations } from "./token-migrations.js";

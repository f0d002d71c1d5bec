/**
 * The telemetry channel layer, agent side (docs/protocol.md §14): the only entry point for
 * code outside this folder (capabilities import nothing else of it). The contract is in
 * ./types.ts.
 */
export type * from "./types.js";
export { createTelemetry, DEFAULT_BUFFER_BYTES, ingestUrl } from "./telemetry-layer.js";
export { DownloadError } from "./blob-download.js";

/**
 * @tether/sdk: a typed client for the Tether REST API (browser and Node).
 * Node callers that must trust a private CA: `nodeTransport(pem)` from "@tether/sdk/node".
 * Also re-exports the REST shapes and constants of @tether/protocol (its browser-safe part).
 */
export * from "./alerts.js";
export * from "./audit-text.js";
export * from "./client.js";
export * from "./config.js";
export * from "./errors.js";
export * from "./format.js";
export * from "./logs.js";
export * from "./metric-format.js";
export * from "./metrics.js";
export * from "./ssh-keys.js";
export * from "./sessions.js";
export * from "./transport.js";
export * from "./tunnel-error.js";
export * from "@tether/protocol/api";
export * from "@tether/protocol/metrics";
export * from "@tether/protocol/logs";
export * from "@tether/protocol/alerts";
export * from "@tether/protocol/config";
export * from "@tether/protocol/tunnel";
export {
  base64ToBytes,
  bytesToBase64,
  OutputAssembler,
  type OutputCursor,
  type OutputStreamName,
  outputKey,
} from "@tether/protocol/output";
export type { ErrorCode } from "@tether/protocol";
export { isSelector, parseSelector, SELECTOR_RULE, type SelectorTerm } from "@tether/protocol/selector";

/**
 * @tether/sdk: a typed client for the Tether REST API (browser and Node).
 * Node callers that must trust a private CA: `nodeTransport(pem)` from "@tether/sdk/node".
 */
export * from "./client.js";
export * from "./errors.js";
export * from "./transport.js";
export type {
  ApiToken,
  AuditEntry,
  Command,
  CommandEvent,
  CommandRun,
  CommandSummary,
  Connection,
  CreateCommand,
  CreatedEnrollmentToken,
  Device,
  EchoResult,
  EnrollmentToken,
  Labels,
  Me,
  PingResult,
  Project,
  Role,
  User,
} from "@tether/protocol";

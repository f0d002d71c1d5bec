/**
 * REST shapes, taken from @tether/protocol as types only (erased at build time, so the
 * console bundle does not pull in the protocol package or typebox).
 */
export type {
  AuditEntry,
  Command,
  CommandEvent,
  CommandRun,
  CommandSummary,
  Connection,
  CreateCommand,
  CreatedEnrollmentToken,
  Device,
  EnrollmentToken,
  Labels,
  Me,
  PingResult,
  Role,
  RunStatus,
} from "@tether/protocol";

export type DeviceState = "pending" | "accepted" | "rejected" | "revoked";

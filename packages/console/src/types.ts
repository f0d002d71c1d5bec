/**
 * REST shapes, taken from @tether/protocol as types only (erased at build time, so the
 * console bundle does not pull in the protocol package or typebox).
 */
export type {
  AuditEntry,
  Connection,
  CreatedEnrollmentToken,
  Device,
  EnrollmentToken,
  Labels,
  Me,
  PingResult,
  Role,
} from "@tether/protocol";

export type DeviceState = "pending" | "accepted" | "rejected" | "revoked";

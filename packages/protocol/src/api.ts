/**
 * REST API shapes (docs/api in the OpenAPI document at /api/docs). The server's route
 * schemas and the SDK's types both come from here, so they cannot drift.
 */
import { type Static, Type } from "typebox";
import { DeviceState } from "./enrollment.js";
import { Facts } from "./messages.js";

export const Role = Type.Union([Type.Literal("viewer"), Type.Literal("operator"), Type.Literal("admin")]);
export type Role = Static<typeof Role>;
export const ROLE_RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

export const LABEL_KEY = "^[A-Za-z0-9._/-]{1,63}$";
export const Labels = Type.Record(Type.String({ pattern: LABEL_KEY }), Type.String({ maxLength: 256 }), {
  additionalProperties: false,
});
export type Labels = Static<typeof Labels>;

export const ErrorResponse = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String() }),
});

export const Device = Type.Object({
  id: Type.String(),
  name: Type.String(),
  project: Type.String(),
  state: DeviceState,
  online: Type.Boolean(),
  labels: Labels,
  facts: Type.Union([Facts, Type.Null()]),
  lastSeenAt: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  fingerprint: Type.String(),
  hostname: Type.String(),
  sourceAddress: Type.String(),
  shard: Type.Integer(),
});
export type Device = Static<typeof Device>;

export const Connection = Type.Object({
  connId: Type.String(),
  connectedAt: Type.String(),
  disconnectedAt: Type.Union([Type.String(), Type.Null()]),
  reason: Type.Union([Type.String(), Type.Null()]),
});
export type Connection = Static<typeof Connection>;

export const User = Type.Object({
  id: Type.Integer(),
  username: Type.String(),
  createdAt: Type.String(),
  roles: Type.Record(Type.String(), Role),
});
export type User = Static<typeof User>;

export const Project = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  createdAt: Type.String(),
  role: Type.Optional(Role),
});
export type Project = Static<typeof Project>;

export const ApiToken = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  username: Type.String(),
  project: Type.String(),
  createdAt: Type.String(),
  lastUsedAt: Type.Union([Type.String(), Type.Null()]),
});
export type ApiToken = Static<typeof ApiToken>;

export const EnrollmentToken = Type.Object({
  id: Type.Integer(),
  project: Type.String(),
  labels: Labels,
  usesLeft: Type.Integer(),
  uses: Type.Integer(),
  autoAccept: Type.Boolean(),
  expiresAt: Type.String(),
  createdAt: Type.String(),
  createdBy: Type.String(),
});
export type EnrollmentToken = Static<typeof EnrollmentToken>;

export const CreatedEnrollmentToken = Type.Object({
  id: Type.Integer(),
  token: Type.String(),
  command: Type.String(),
  expiresAt: Type.String(),
});
export type CreatedEnrollmentToken = Static<typeof CreatedEnrollmentToken>;

export const AuditEntry = Type.Object({
  id: Type.Integer(),
  at: Type.String(),
  actor: Type.String(),
  action: Type.String(),
  project: Type.String(),
  deviceId: Type.Union([Type.String(), Type.Null()]),
  detail: Type.Record(Type.String(), Type.Unknown()),
});
export type AuditEntry = Static<typeof AuditEntry>;

export const Me = Type.Object({
  username: Type.String(),
  project: Type.String(),
  role: Role,
  projects: Type.Array(Type.Object({ name: Type.String(), role: Role })),
});
export type Me = Static<typeof Me>;

export const PingResult = Type.Object({
  device: Type.String(),
  seq: Type.Integer(),
  rttMs: Type.Number(),
});
export type PingResult = Static<typeof PingResult>;

export const EchoResult = Type.Object({ ref: Type.String(), data: Type.String() });
export type EchoResult = Static<typeof EchoResult>;

/** Header that selects the project for a request authenticated by a session or token. */
export const PROJECT_HEADER = "x-tether-project";
export const SESSION_COOKIE = "tether_session";

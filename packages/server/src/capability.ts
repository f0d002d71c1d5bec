/**
 * The shape of a server capability module (docs/architecture.md §7). A capability lives in
 * its own folder under ./capabilities/, is listed once in ./capabilities.ts, and reaches the
 * control channel only through the ControlLink it is given.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { UpType } from "@tether/protocol";
import type { FastifyInstance } from "fastify";
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import type { Accounts } from "./accounts.js";
import type { Audit } from "./audit.js";
import type { ServerConfig } from "./config.js";
import type { ControlLink, DeliveredHandlers, UpHandlerMap } from "./control/link.js";
import type { DeviceRow, Devices } from "./devices.js";
import type { Dialect, MigrationSet } from "./store/db.js";
import type { DB } from "./store/schema.js";
import type { TelemetryLayer } from "./telemetry/index.js";
import type { TunnelLayer } from "./tunnels/index.js";

/** What the server gives each capability when it creates it. */
export interface CapabilityContext {
  db: Kysely<DB>;
  dialect: Dialect;
  devices: Devices;
  accounts: Accounts;
  audit: Audit;
  /** The control channel port (docs/architecture.md §7). */
  link: ControlLink;
  /** The telemetry channel (docs/protocol.md §14): tokens, ingest, the telemetry database. */
  telemetry: TelemetryLayer;
  /** The tunnel layer (docs/protocol.md §17): sessions for terminals, SSH and port forwarding. */
  tunnels: TunnelLayer;
  /** Broker-side operations a capability may need (today: apply a rotated broker secret). */
  broker: BrokerPort;
  log: Logger;
  dataDir: string;
  config: ServerConfig;
}

export interface BrokerPort {
  /** Make the broker accept this secret for the device (and only it), then reconnect the device. */
  applySecret(device: DeviceRow, password: string): Promise<void>;
}

/** A WebSocket endpoint of a capability, on the server's HTTPS port. */
export type WebSocketHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/**
 * A user lost access: removed, role changed, an API token revoked, or all sign-ins and
 * tokens ended (password reset, `tether users revoke-access`).
 */
export interface UserChange {
  userId: number;
  /** The project whose role changed; undefined when the change covers every project. */
  projectId?: number;
  kind: "removed" | "role-changed" | "token-revoked" | "access-revoked";
}

/** A running capability. `U` is the set of upstream message types it handles. */
export interface ServerCapability<U extends UpType = never> {
  name: string;
  /** One handler per upstream message type it owns (checked for completeness at compile time). */
  up: UpHandlerMap<U>;
  /** Called once the agent acknowledged one of its durable downstream messages. */
  delivered?: DeliveredHandlers;
  /** Its HTTP routes, registered as one Fastify plugin. */
  routes?: (app: FastifyInstance) => Promise<void> | void;
  /** Its WebSocket endpoints by path (e.g. "/api/v1/terminal"). */
  websockets?: Record<string, WebSocketHandler>;
  /** Its step of device revocation (docs/security.md, "Revocation is one operation"). */
  revokeDevice?: { step: string; run(device: DeviceRow): Promise<void> };
  /** A device was accepted (by an operator, or at its first credential when auto-accepted); may run more than once. */
  deviceAccepted?(device: DeviceRow): Promise<void> | void;
  /** A device's labels changed (by `actor`): re-target what selects devices by label (configuration groups). */
  deviceLabelsChanged?(device: DeviceRow, actor: string): Promise<void> | void;
  /** A device was deleted: forget what the capability keeps about it outside the main database. */
  deviceDeleted?(deviceId: string): Promise<void> | void;
  /** Its step when a user loses access (close what the user holds open). */
  userChanged?(change: UserChange): Promise<void> | void;
  /** Once the HTTPS port listens: start the capability's own listeners; fields merged into server.json. */
  listen?(): Promise<{ sshPort?: number; sshFingerprint?: string } | undefined>;
  /** After the broker is attached: resume work (runs after a restart too). */
  start?(): Promise<void>;
  /** Server shutdown: stop timers, flush, release files. */
  close?(): Promise<void>;
}

/** A capability module as listed in ./capabilities.ts. */
export interface CapabilityModule<U extends UpType = never, A = unknown> {
  name: string;
  /** Its migrations (global, permanent names), or none if it keeps no tables. */
  migrations?: MigrationSet;
  /** Its tables in the telemetry database (docs/protocol.md §14.3; names global there). */
  telemetryMigrations?: MigrationSet;
  create(ctx: CapabilityContext): ServerCapability<U> & { api: A };
}

/** The upstream types a module handles. */
export type UpTypesOf<M> = M extends CapabilityModule<infer U, unknown> ? U : never;

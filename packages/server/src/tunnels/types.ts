/**
 * The server's tunnel layer (docs/protocol.md §17): the shared channel layer beside control/
 * that terminals, the SSH gateway and port forwarding open sessions through. Capabilities
 * import it only through ./index.ts.
 */
import type { EventEmitter } from "node:events";
import type { IncomingMessage } from "node:http";
import type { Duplex, Readable } from "node:stream";
import type { SessionKind, SessionView, TunnelSettings, TunnelSignal } from "@tether/protocol";
import type { Principal } from "../accounts.js";
import type { DeviceRow } from "../devices.js";

// capability.ts's WebSocketHandler and UserChange, restated here because capability.ts imports
// this folder (CapabilityContext.tunnels): importing them back would be a cycle.
/** An upgrade handler mounted at a path of the HTTPS port. */
export type WebSocketHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
/** A user lost access (capability.ts UserChange). */
export interface UserChange {
  userId: number;
  projectId?: number;
  kind: "removed" | "role-changed" | "token-revoked" | "access-revoked";
}

export interface ShellSpec {
  /** A PTY of this size (clamped to 1..1000), or null for pipes (stdout and stderr apart). */
  pty: { cols: number; rows: number; term?: string } | null;
  /** Run as this user: must be on the project's exec-users list (TETHER_ERR_EXEC_USER_NOT_ALLOWED). */
  user?: string;
  /** A command as argv (no shell); or `command` run by the user's shell; neither: the login shell. */
  argv?: string[];
  command?: string;
}

export interface OpenRequest {
  principal: Principal;
  device: DeviceRow;
  /** Where the user is: shown in participants, sessions and the audit log. */
  via: "console" | "cli" | "ssh";
  spec: { kind: "shell"; shell: ShellSpec } | { kind: "tcp"; host: string; port: number };
}

/** How a session ended (sessions list, audit). */
export type EndReason =
  | "exited"
  | "closed"
  | "device-gone"
  | "revoked"
  | "idle"
  | "max-length"
  | "server-stopped"
  | "failed";

export interface SessionEnd {
  reason: EndReason;
  /** A sentence for the user: "the device went offline", "idle for 30 minutes". */
  message: string;
  /** The error code the user leg reports (TETHER_ERR_TUNNEL_CLOSED…); absent when the process exited. */
  code?: string;
  exitCode: number | null;
  signal: string | null;
}

/**
 * One channel of a tunnel, as a Node stream with backpressure end to end: the readable side is
 * the device's output (PTY or stdout; for tcp, the bytes from the destination), the writable
 * side goes to the device (input; for tcp, towards the destination). Window credit is returned
 * to the agent only as the reader consumes, so a consumer that stops reading stops the device
 * within one window (TUNNEL_LIMITS.window); write() returns false once the agent's window is used.
 */
export interface TunnelChannel extends Duplex {
  readonly id: number;
  /** stderr of a session without a PTY (empty otherwise). */
  readonly stderr: Readable;
  /** PTY sessions: set the terminal size (clamped). */
  resize(cols: number, rows: number): void;
  signal(name: TunnelSignal): void;
  on(event: "exit", listener: (code: number | null, signal: string | null) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

export interface TunnelSession extends EventEmitter {
  readonly id: string;
  readonly projectId: number;
  readonly device: { id: string; name: string };
  /** The user who opened it. */
  readonly owner: { userId: number; username: string };
  readonly kind: SessionKind;
  readonly via: string;
  readonly recorded: boolean;
  readonly startedAt: Date;
  /** PTY size now (shell sessions with a PTY), kept up to date by resize(). */
  readonly pty: { cols: number; rows: number } | null;
  /** Shell sessions: the process (channel 0), open once `open` resolved. Null for tcp sessions. */
  readonly main: TunnelChannel | null;
  /**
   * Tcp sessions: a new channel to `host:port` (SSH -L may ask for several destinations; each is
   * checked against the project's allow-list). Rejects with TETHER_ERR_FORWARD_NOT_ALLOWED or
   * TETHER_ERR_FORWARD_FAILED (the device's connect failed, its message included).
   */
  openChannel(host: string, port: number): Promise<TunnelChannel>;
  /** End the session (closes the agent's WebSocket, which kills the process on the device). */
  close(reason: EndReason, message?: string): void;
  readonly ended: SessionEnd | null;
  on(event: "end", listener: (end: SessionEnd) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

export interface TunnelLayer {
  /**
   * Open a session: checks the role (operator), the run-as user (exec-users), the forward
   * allow-list (tcp), the per-device and per-user limits, records the session, sends
   * `tunnel.open` over the control channel and waits for the dial-back (and, for a shell, the
   * process start). Rejects with a TetherError: DEVICE_OFFLINE, TUNNEL_TIMEOUT, TUNNEL_LIMIT,
   * EXEC_USER_NOT_ALLOWED, FORWARD_NOT_ALLOWED, SPAWN_FAILED, FORBIDDEN, DEVICE_STATE.
   */
  open(req: OpenRequest): Promise<TunnelSession>;
  /** A live session of the project, or undefined (ended, or another project's). */
  live(projectId: number, sessionId: string): TunnelSession | undefined;
  /** Sessions of the project, newest first (live and ended). */
  list(projectId: number, q: { device?: string; limit?: number; before?: string }): Promise<SessionView[]>;
  get(projectId: number, sessionId: string): Promise<SessionView | undefined>;
  /** The asciicast v2 recording as a stream, or undefined if not recorded. */
  recording(projectId: number, sessionId: string): Promise<Readable | undefined>;
  settings: {
    get(projectId: number): Promise<TunnelSettings>;
    /** Admin only; audited. */
    set(p: Principal, patch: Partial<TunnelSettings>): Promise<TunnelSettings>;
  };
  /** The agent's dial-back endpoint, mounted at TUNNEL_AGENT_PATH. */
  websocket: WebSocketHandler;
  /** Close every session of the device at once (a revocation step). */
  revokeDevice(device: DeviceRow): Promise<void>;
  /** Close the sessions the user opened (removed, lost the role, access revoked). */
  userChanged(change: UserChange): Promise<void>;
  /** Server shutdown: end every session (reason server-stopped). */
  close(): Promise<void>;
  /** Numbers for /metrics. */
  stats(): { live: number; opened: number; refusedTokens: number };
}

export interface TunnelLimits {
  perDevice: number;
  perUser: number;
  idleMs: number;
  maxMs: number;
  dialTimeoutMs: number;
  recordingMaxBytes: number;
  recordingsPerProjectBytes: number;
}

export const DEFAULT_TUNNEL_LIMITS: TunnelLimits = {
  perDevice: 8,
  perUser: 16,
  idleMs: 30 * 60_000,
  maxMs: 12 * 3600_000,
  dialTimeoutMs: 10_000,
  recordingMaxBytes: 64 * 1024 * 1024,
  recordingsPerProjectBytes: 1024 * 1024 * 1024,
};

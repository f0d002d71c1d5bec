/**
 * The agent's tunnel layer (docs/protocol.md §17): dials the server back on `tunnel.open`
 * (WSS, the server's CA pinned as for enrollment and telemetry), carries the frames with flow
 * control, and hands each session to the capability that registered its kind. Capabilities
 * import it only through ./index.ts.
 */
import type { Duplex, Writable } from "node:stream";
import type { DownBody, TunnelSignal } from "@tether/protocol";

export type TunnelOpen = DownBody<"tunnel.open">;
export type ShellOpen = NonNullable<TunnelOpen["shell"]>;

/**
 * One channel as a Node stream with backpressure: the readable side is what the server sends
 * (input for a process; bytes for a TCP destination), the writable side goes to the server
 * (PTY/stdout output; bytes from the destination). write() returns false once the server's
 * window is used up and 'drain' follows its WINDOW grant, so pipe() pauses a flooding PTY.
 * Window credit for the readable side goes back to the server only as the data is read.
 */
export interface AgentChannel extends Duplex {
  readonly id: number;
  /** stderr towards the server (sessions without a PTY): DATA_ERR frames, same window. */
  readonly stderr: Writable;
  /** Shell: the process started. Tcp: connected. Sends OPEN_OK. */
  ready(): void;
  /** Could not start or connect: OPEN_FAIL with a code (TETHER_ERR_SPAWN_FAILED…) and a sentence; the channel closes. */
  fail(code: string, message: string): void;
  /** The process ended: after every output byte was sent, EXIT then CLOSE. */
  exit(code: number | null, signal: string | null): void;
  on(event: "resize", listener: (cols: number, rows: number) => void): this;
  on(event: "signal", listener: (name: TunnelSignal) => void): this;
  /** The server closed the channel or the tunnel dropped: kill what it carries. */
  on(event: "close", listener: () => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

export interface ShellSession {
  /** Session id (ses_…). */
  readonly id: string;
  readonly spec: ShellOpen;
  /** Channel 0: the process. */
  readonly channel: AgentChannel;
}

export interface TcpSession {
  readonly id: string;
  /** Destinations the server allows (checked again here: destinationAllowed). */
  readonly allow: readonly string[];
}

export type ShellHandler = (s: ShellSession) => void;
/** A new channel of a tcp session towards host:port (the layer already checked the allow-list). */
export type TcpHandler = (s: TcpSession, ch: AgentChannel, dest: { host: string; port: number }) => void;

export interface AgentTunnels {
  onShell(h: ShellHandler): void;
  onTcp(h: TcpHandler): void;
  /** `tunnel.open` arrived: dial back now. Never throws; a failure is logged (the user sees a timeout). */
  dial(open: TunnelOpen): void;
  /** Open tunnels right now. */
  count(): number;
  /** Agent stopping: close every tunnel (their processes are killed by their handlers). */
  closeAll(): void;
}

export interface AgentTunnelsOptions {
  /** The server's API URL (https://…); the tunnel URL is its wss:// form + TUNNEL_AGENT_PATH. */
  apiUrl: string;
  /** The pinned CA (PEM). */
  caCert: string;
  deviceId: string;
  log: import("pino").Logger;
  /** Most tunnels open at once on this device (default 32); more are refused. */
  maxTunnels?: number;
}

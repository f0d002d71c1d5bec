/**
 * One tunnel session on the server (docs/protocol.md §17.1, §17.2): waits for the agent's
 * dial-back, carries the frames over it with a TunnelMux, and ends exactly once — when the
 * process exits, the device goes away, the user or an admin closes it, or a time limit bites.
 * Persistence, audit and limits are the layer's (./layer.ts); this file is the live object.
 */
import { EventEmitter } from "node:events";
import {
  ERRORS,
  type ErrorCode,
  FrameError,
  type SessionKind,
  TetherError,
  TUNNEL_CLOSE,
} from "@tether/protocol";
import { type MuxChannel, OpenFailed, TunnelMux } from "@tether/protocol/tunnel-mux";
import type { Logger } from "pino";
import type { WebSocket } from "ws";
import type { Recorder } from "./recorder.js";
import type { EndReason, SessionEnd, TunnelChannel, TunnelSession } from "./types.js";

export interface SessionInit {
  id: string;
  projectId: number;
  device: { id: string; name: string };
  owner: { userId: number; username: string };
  /** How the owner signed in: sessions opened with an API token end when the user's tokens are revoked. */
  ownerAuth: "token" | "session";
  kind: SessionKind;
  /** What the agent runs: a shell on channel 0, or tcp channels on demand. */
  tunnelKind: "shell" | "tcp";
  via: string;
  recorded: boolean;
  startedAt: Date;
  pty: { cols: number; rows: number } | null;
  idleMs: number;
  maxMs: number;
  clock: () => number;
  log: Logger;
  /** Throws TETHER_ERR_FORWARD_NOT_ALLOWED unless host:port is on the project's list now. */
  checkDestination(host: string, port: number): Promise<void>;
  /** Started synchronously when the shell is up, so the first output is recorded. */
  startRecorder?: () => Recorder;
}

/** Agent OPEN_FAIL codes passed on to the user as they are; anything else is the generic one. */
const AGENT_CODES = new Set<string>([
  "TETHER_ERR_SPAWN_FAILED",
  "TETHER_ERR_EXEC_USER_NOT_ALLOWED",
  "TETHER_ERR_FORWARD_NOT_ALLOWED",
  "TETHER_ERR_FORWARD_FAILED",
  "TETHER_ERR_TUNNEL_LIMIT",
]);

export function agentError(code: string, message: string, fallback: ErrorCode): TetherError {
  const c = AGENT_CODES.has(code) && code in ERRORS ? (code as ErrorCode) : fallback;
  return new TetherError(c, message);
}

/** A dead agent connection is noticed within two of these (ws ping, the agent's ws answers). */
const HEARTBEAT_MS = 30_000;

const words = (ms: number): string => {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} hour${ms === 3_600_000 ? "" : "s"}`;
  if (ms % 60_000 === 0) return `${ms / 60_000} minute${ms === 60_000 ? "" : "s"}`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
};

export class Session extends EventEmitter implements TunnelSession {
  readonly id: string;
  readonly projectId: number;
  readonly device: { id: string; name: string };
  readonly owner: { userId: number; username: string };
  readonly ownerAuth: "token" | "session";
  readonly kind: SessionKind;
  readonly via: string;
  readonly recorded: boolean;
  readonly startedAt: Date;
  pty: { cols: number; rows: number } | null;
  main: MuxChannel | null = null;
  ended: SessionEnd | null = null;
  /** Open resolved: the session counts as opened (audit, list). */
  live = false;

  private ws: WebSocket | null = null;
  private mux: TunnelMux | null = null;
  private nextChannel = 1;
  private exitInfo: { code: number | null; signal: string | null } | null = null;
  private recorder: Recorder | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastBytes = 0;
  private lastActive: number;
  private awaitingPong = false;

  constructor(private readonly o: SessionInit) {
    super();
    this.id = o.id;
    this.projectId = o.projectId;
    this.device = o.device;
    this.owner = o.owner;
    this.ownerAuth = o.ownerAuth;
    this.kind = o.kind;
    this.via = o.via;
    this.recorded = o.recorded;
    this.startedAt = o.startedAt;
    this.pty = o.pty;
    this.lastActive = o.clock();
  }

  /** Waiting for the agent's dial-back (a second dial is refused). */
  get waiting(): boolean {
    return this.ws === null && this.ended === null;
  }

  /** DATA bytes towards the device (input) and from it (output). */
  get bytesIn(): number {
    return this.mux?.bytesSent ?? 0;
  }
  get bytesOut(): number {
    return this.mux?.bytesReceived ?? 0;
  }

  /**
   * Resolves once the agent dialled back and, for a shell, channel 0 answered OPEN_OK. Each of
   * the two waits is bounded by timeoutMs (TETHER_ERR_TUNNEL_TIMEOUT).
   */
  started(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const arm = (what: string) => {
        clearTimeout(timer);
        timer = setTimeout(
          () =>
            done(
              new TetherError(
                "TETHER_ERR_TUNNEL_TIMEOUT",
                `device ${this.device.name} did not ${what} within ${words(timeoutMs)}`,
              ),
            ),
          timeoutMs,
        );
        timer.unref();
      };
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.off("attached", onAttached).off("end", onEnd);
        if (err) reject(err);
        else resolve();
      };
      const onEnd = (e: SessionEnd) =>
        done(new TetherError((e.code as ErrorCode | undefined) ?? "TETHER_ERR_TUNNEL_CLOSED", e.message));
      const onAttached = () => {
        if (!this.main) return done();
        arm(`start the ${this.kind === "shell" ? "shell" : "command"}`);
        this.main.once("ready", () => done());
        this.main.once("fail", (code: string, message: string) =>
          done(agentError(code, message, "TETHER_ERR_SPAWN_FAILED")),
        );
      };
      arm("dial back");
      this.on("attached", onAttached).on("end", onEnd);
    });
  }

  /** The agent's WebSocket for this session (the token was right). */
  attach(ws: WebSocket): void {
    if (this.ended) {
      ws.close(TUNNEL_CLOSE.normal);
      return;
    }
    this.ws = ws;
    const mux = new TunnelMux({
      send: (f) => {
        if (ws.readyState === ws.OPEN) ws.send(f);
      },
    });
    this.mux = mux;
    if (this.o.tunnelKind === "shell") this.setUpMain(mux.channel(0));
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (this.ended) return;
      if (!isBinary) return this.protocolError("a text message on the tunnel");
      try {
        mux.receive(data);
      } catch (err) {
        if (err instanceof FrameError) this.protocolError(err.message);
        else {
          this.o.log.error({ err, session: this.id }, "tunnel: a frame handler failed");
          this.finish({
            reason: "failed",
            message: "the server failed on this session",
            code: "TETHER_ERR_INTERNAL",
          });
        }
      }
    });
    ws.on("pong", () => {
      this.awaitingPong = false;
    });
    ws.on("error", (err) => this.o.log.debug({ err, session: this.id }, "tunnel socket error"));
    ws.on("close", (code: number) => this.socketClosed(code));
    this.emit("attached");
  }

  private setUpMain(ch: MuxChannel): void {
    this.main = ch;
    ch.on("error", (err) => this.o.log.debug({ err, session: this.id }, "tunnel channel 0 error"));
    ch.once("ready", () => {
      if (this.o.startRecorder) {
        try {
          const rec = this.o.startRecorder();
          this.recorder = rec;
          ch.onOutput = (d) => rec.output(d);
        } catch (err) {
          this.o.log.error({ err, session: this.id }, "recording could not start");
        }
      }
    });
    ch.onResize = (cols, rows) => {
      if (this.pty) this.pty = { cols, rows };
      this.recorder?.resize(cols, rows);
    };
    ch.on("exit", (code: number | null, signal: string | null) => {
      this.exitInfo = { code, signal };
    });
    // Channel 0 closes after EXIT and once its output was read (the mux keeps it until then).
    ch.on("close", () => {
      if (!this.live || this.ended) return;
      if (this.exitInfo) this.finishExited();
      else
        this.finish({
          reason: "closed",
          message: `device ${this.device.name} closed the session`,
          code: "TETHER_ERR_TUNNEL_CLOSED",
        });
    });
  }

  private finishExited(): void {
    const e = this.exitInfo!;
    this.finish({
      reason: "exited",
      message: e.signal
        ? `the process was killed by SIG${e.signal}`
        : `the process exited with code ${e.code}`,
      exitCode: e.code,
      signal: e.signal,
    });
  }

  /** The session opened: time limits and the heartbeat start now. */
  goLive(): void {
    this.live = true;
    this.lastActive = this.o.clock();
    const every = Math.max(50, Math.min(HEARTBEAT_MS, this.o.idleMs / 4, this.o.maxMs / 4));
    this.timer = setInterval(() => this.tick(), every);
    this.timer.unref();
  }

  /** One timer per session: idle, maximum length, and a dead agent connection. */
  private tick(): void {
    if (this.ended) return;
    const now = this.o.clock();
    const bytes = this.bytesIn + this.bytesOut;
    if (bytes !== this.lastBytes) {
      this.lastBytes = bytes;
      this.lastActive = now;
    }
    if (now - this.startedAt.getTime() >= this.o.maxMs) {
      this.close(
        "max-length",
        `the session was open for ${words(this.o.maxMs)}, the most a session may last (tether server --tunnel-max-length)`,
      );
      return;
    }
    if (now - this.lastActive >= this.o.idleMs) {
      this.close("idle", `no input or output for ${words(this.o.idleMs)} (tether server --tunnel-idle)`);
      return;
    }
    const ws = this.ws;
    if (ws && ws.readyState === ws.OPEN) {
      if (this.awaitingPong) {
        ws.terminate();
        return;
      }
      this.awaitingPong = true;
      ws.ping();
    }
  }

  async openChannel(host: string, port: number): Promise<TunnelChannel> {
    if (this.ended) throw new TetherError("TETHER_ERR_TUNNEL_CLOSED", this.ended.message);
    if (!this.mux || this.o.tunnelKind !== "tcp")
      throw new TetherError("TETHER_ERR_BAD_REQUEST", "this session carries no TCP channels");
    await this.o.checkDestination(host, port);
    const ended = this.ended as SessionEnd | null; // may have ended while the check ran
    if (ended) throw new TetherError("TETHER_ERR_TUNNEL_CLOSED", ended.message);
    const id = this.nextChannel++;
    try {
      const ch = await this.mux.connect(id, host, port);
      ch.on("error", (err) => this.o.log.debug({ err, session: this.id, ch: id }, "tunnel channel error"));
      return ch;
    } catch (err) {
      if (err instanceof OpenFailed) throw agentError(err.code, err.message, "TETHER_ERR_FORWARD_FAILED");
      throw err;
    }
  }

  close(reason: EndReason, message?: string): void {
    const text: Record<EndReason, string> = {
      exited: "the process exited",
      closed: "the session was closed",
      "device-gone": `device ${this.device.name} went away`,
      revoked: "access was revoked",
      idle: "the session was idle too long",
      "max-length": "the session reached its maximum length",
      "server-stopped": "the server is stopping",
      failed: "the session failed",
    };
    this.finish({ reason, message: message ?? text[reason], code: "TETHER_ERR_TUNNEL_CLOSED" });
  }

  /** The open failed for a reason with its own code (a refused dial-back: TETHER_ERR_TUNNEL_TOKEN). */
  abort(code: ErrorCode, message: string): void {
    this.finish({ reason: "failed", message, code });
  }

  private protocolError(what: string): void {
    this.o.log.warn(
      { session: this.id, device: this.device.id, what },
      "tunnel protocol error from the device",
    );
    this.finish(
      {
        reason: "failed",
        message: `device ${this.device.name} broke the tunnel protocol: ${what}`,
        code: "TETHER_ERR_TUNNEL_CLOSED",
      },
      TUNNEL_CLOSE.protocol,
    );
  }

  private socketClosed(code: number): void {
    if (this.ended) return;
    if (this.exitInfo) {
      // EXIT came: channel 0 still hands out its last output, then ends the session as exited.
      this.mux?.destroy();
      if (this.main?.destroyed) this.finishExited();
      return;
    }
    this.finish({
      reason: "device-gone",
      message:
        code === 1000 || code === 1001
          ? `device ${this.device.name} closed the tunnel`
          : `device ${this.device.name} went offline`,
      code: "TETHER_ERR_TUNNEL_CLOSED",
    });
  }

  /** End once: 'end' first (listeners read `ended`), then the agent's socket and every channel. */
  private finish(
    e: Omit<SessionEnd, "exitCode" | "signal"> & Partial<Pick<SessionEnd, "exitCode" | "signal">>,
    wsCode?: number,
  ): void {
    if (this.ended) return;
    const end: SessionEnd = { exitCode: null, signal: null, ...e };
    this.ended = end;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const ws = this.ws;
    if (ws && ws.readyState !== ws.CLOSED) {
      const code =
        wsCode ??
        (end.reason === "revoked"
          ? TUNNEL_CLOSE.revoked
          : end.reason === "idle" || end.reason === "max-length"
            ? TUNNEL_CLOSE.timeout
            : TUNNEL_CLOSE.normal);
      ws.close(code, end.reason);
      // A peer that never answers the close handshake is cut off.
      setTimeout(() => ws.terminate(), 2000).unref();
    }
    this.emit("end", end);
    this.mux?.destroy();
    if (this.main && !this.main.destroyed) this.main.destroy();
  }

  /** Flush and close the recording (the layer awaits it before pruning). */
  async closeRecording(): Promise<void> {
    const r = this.recorder;
    this.recorder = null;
    if (this.main) this.main.onOutput = undefined;
    await r?.close();
  }
}

/**
 * The user's leg of a tunnel from Node (docs/protocol.md §17.3, §17.5): a WebSocket to the
 * server's terminal or forward endpoint, authenticated like the REST API (Bearer token, project
 * header), TLS verified against the pinned CA like nodeTransport(). Binary frames go through a
 * TunnelMux (flow control per channel); JSON text messages carry the session's events.
 * `openTerminal` is a shell or command (channel 0), `openForward` a port forward (one channel per
 * TCP connection). Node only: import from "@tether/sdk/node".
 */
import { EventEmitter } from "node:events";
import type { Readable } from "node:stream";
import tls from "node:tls";
import { PROJECT_HEADER } from "@tether/protocol/api";
import {
  FORWARD_WS_PATH,
  type ForwardOpen,
  type ForwardServerMessage,
  type Participant,
  TERMINAL_WS_PATH,
  type TerminalJoin,
  type TerminalOpen,
  type TerminalServerMessage,
  TUNNEL_CLOSE,
  TUNNEL_LIMITS,
  USER_CHANNEL,
} from "@tether/protocol/tunnel";
import { type MuxChannel, TunnelMux } from "@tether/protocol/tunnel-mux";
import type WebSocket from "ws";
import { TunnelError, tunnelErrorFromClose, tunnelErrorFromResponse } from "./tunnel-error.js";
import { unreachable } from "./errors.js";

export { TunnelError } from "./tunnel-error.js";

/** Where and as whom to connect: the same things a TetherClient is built from. */
export interface TunnelClientConfig {
  /** Server base URL (https://host:port). */
  url: string;
  /** API token (Authorization: Bearer). */
  token: string;
  /** PEM text of a CA to trust besides the system roots (the server's own CA). */
  caCert?: string;
  /** Project to act in (X-Tether-Project); the token's otherwise. */
  project?: string;
  /** Where the session comes from, shown in participants and the sessions list (x-tether-client). */
  client?: string;
  /** Give up when no `ready` (or error) came within this long; default 75 s. */
  readyTimeoutMs?: number;
  /** Abort the opening (the socket is closed; the promise rejects with the signal's reason). */
  signal?: AbortSignal;
}

/** How a session ended: the process's exit, or the error that ended it. */
export interface TunnelEnd {
  /** The process's exit (terminal sessions that exited); null otherwise. */
  exit: { code: number | null; signal: string | null } | null;
  /** What ended it otherwise (device gone, revoked, timeout, connection lost); null after an exit. */
  error: TunnelError | null;
  /** The WebSocket close code (TUNNEL_CLOSE.*; 1006 when the connection dropped). */
  closeCode: number;
}

type Ready = Extract<TerminalServerMessage, { type: "ready" }>;

/**
 * One open terminal session. Events: `participants` (Participant[]), `notice` (string), `exit`
 * ({code, signal}), `end` (TunnelEnd, once). At the exit or the end the channel's readable
 * sides end, after every byte of output received; `done` has the exit even when it came before
 * you listened.
 */
export interface TerminalSession extends EventEmitter {
  readonly session: string;
  readonly device: { id: string; name: string };
  readonly role: Ready["role"];
  readonly recorded: boolean;
  readonly pty: { cols: number; rows: number } | null;
  /** Channel 0: output to read (stderr apart without a PTY); input to write; end() is EOF. */
  readonly channel: MuxChannel;
  /** Who is connected (the newest `participants` message; events may come before you listen). */
  readonly participants: Participant[];
  /** Resolves when the session is over (never rejects). */
  readonly done: Promise<TunnelEnd>;
  /** Owner only: let `user` type, or take it back. */
  grant(user: string, write: boolean): void;
  /** Leave: closes the socket (for the owner this ends the session on the device). */
  close(): void;
}

/** One open port-forward session. Events: `end` (TunnelEnd). */
export interface ForwardSession extends EventEmitter {
  readonly session: string;
  readonly device: { id: string; name: string };
  /** A new connection to the session's destination (its own channel); rejects with a TunnelError. */
  connect(): Promise<MuxChannel>;
  /** Channels open now. */
  readonly open: number;
  readonly done: Promise<TunnelEnd>;
  close(): void;
}

/** A WebSocket URL for `path` on the server at `base`. */
export function tunnelUrl(base: string, path: string): string {
  const u = new URL(path, base.replace(/\/+$/, "/"));
  u.protocol = u.protocol === "http:" ? "ws:" : "wss:";
  return u.toString();
}

/** The connection both kinds share: socket, mux, the first message, the wait for `ready`. */
class Link extends EventEmitter {
  readonly mux: TunnelMux;
  /** Terminal sessions: channel 0, there before any frame for it can arrive. */
  readonly main: MuxChannel | null;
  /** The newest participants list. */
  participants: Participant[] = [];
  private ws: WebSocket;
  private ready = false;
  private failure: TunnelError | null = null;
  private exit: TunnelEnd["exit"] = null;
  private ended = false;
  private target: EventEmitter | null = null;
  private backlog: [string, unknown][] = [];
  readonly done: Promise<TunnelEnd>;
  private finish!: (e: TunnelEnd) => void;

  constructor(
    WS: typeof WebSocket,
    private readonly cfg: TunnelClientConfig,
    path: string,
    first: unknown,
    main: boolean,
  ) {
    super();
    this.done = new Promise((r) => {
      this.finish = r;
    });
    this.mux = new TunnelMux({
      send: (frame) => {
        // After the close a frame has nowhere to go (a WINDOW for bytes read late): dropped.
        if (this.ws.readyState === WS.OPEN) this.ws.send(frame, { binary: true });
      },
    });
    this.main = main ? this.mux.channel(USER_CHANNEL) : null;
    const headers: Record<string, string> = {
      authorization: `Bearer ${cfg.token}`,
      "x-tether-client": cfg.client ?? "cli",
    };
    if (cfg.project) headers[PROJECT_HEADER] = cfg.project;
    this.ws = new WS(tunnelUrl(cfg.url, path), {
      headers,
      ...(cfg.caCert ? { ca: [...tls.rootCertificates, cfg.caCert] } : {}),
      perMessageDeflate: false,
      maxPayload: TUNNEL_LIMITS.maxFrameBytes,
      handshakeTimeout: cfg.readyTimeoutMs ?? 75_000,
    });
    this.ws.on("upgrade", (res) => res.socket.setNoDelay(true));
    this.ws.on("open", () => this.ws.send(JSON.stringify(first)));
    this.ws.on("unexpected-response", (req, res) => {
      // The upgrade was answered with an HTTP error: its JSON body names the reason.
      const chunks: Buffer[] = [];
      let n = 0;
      res.on("data", (c: Buffer) => {
        n += c.length;
        if (n <= 16 * 1024) chunks.push(c);
      });
      res.on("end", () => {
        this.fail(tunnelErrorFromResponse(res.statusCode ?? 0, Buffer.concat(chunks).toString("utf8")));
        req.destroy();
        this.ws.terminate();
      });
      res.on("error", () => {});
    });
    this.ws.on("error", (err) => {
      if (!this.ready && !this.failure) this.fail(toTunnelError(unreachable(cfg.url, err)));
    });
    this.ws.on("message", (data, isBinary) => this.message(data as Buffer, isBinary));
    this.ws.on("close", (code) => this.closed(code));
  }

  /** Resolves at `ready` with its message; rejects with a TunnelError (or the abort reason). */
  opened(): Promise<Record<string, any>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(
          new TunnelError(
            0,
            "TETHER_ERR_TUNNEL_TIMEOUT",
            `no answer from the server within ${Math.round((this.cfg.readyTimeoutMs ?? 75_000) / 1000)} s`,
          ),
        );
        this.ws.terminate();
      }, this.cfg.readyTimeoutMs ?? 75_000);
      const signal = this.cfg.signal;
      const onAbort = () => {
        cleanup();
        this.ws.terminate();
        reject(signal?.reason);
      };
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.off("ready", onReady);
        this.off("failed", onFail);
      };
      const onReady = (m: Record<string, any>) => {
        cleanup();
        resolve(m);
      };
      const onFail = (e: TunnelError) => {
        cleanup();
        reject(e);
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      this.on("ready", onReady);
      this.on("failed", onFail);
    });
  }

  /** The first reason wins; it is reported at the close, with the close code. */
  private fail(e: TunnelError): void {
    this.failure ??= e;
  }

  private message(data: Buffer, isBinary: boolean): void {
    if (isBinary) {
      try {
        this.mux.receive(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      } catch (err) {
        // A malformed frame or a window overrun: the tunnel is unusable (docs/protocol.md §17.2).
        this.fail(
          new TunnelError(0, "TETHER_ERR_TUNNEL_CLOSED", `protocol error: ${(err as Error).message}`),
        );
        this.ws.close(TUNNEL_CLOSE.protocol, "protocol error");
      }
      return;
    }
    let m: Record<string, any>;
    try {
      m = JSON.parse(data.toString("utf8"));
    } catch {
      return; // not ours to judge further: a text message that is not JSON is ignored
    }
    switch (m?.type) {
      case "ready":
        if (this.ready) return;
        this.ready = true;
        this.emit("ready", m);
        return;
      case "error":
        this.fail(
          new TunnelError(0, String(m.code ?? "TETHER_ERR_TUNNEL_CLOSED") as any, String(m.message ?? "")),
        );
        return;
      case "exit":
        this.exit = {
          code: Number.isInteger(m.code) ? m.code : null,
          signal: typeof m.signal === "string" ? m.signal : null,
        };
        // The exit follows the last output frame: all of the output is in the channel now.
        if (this.main) endReadable(this.main);
        this.relay("exit", this.exit);
        return;
      case "participants":
        if (!Array.isArray(m.list)) return;
        this.participants = m.list as Participant[];
        this.relay("participants", this.participants);
        return;
      case "notice":
        if (typeof m.message === "string") this.relay("notice", m.message);
        return;
    }
  }

  private closed(code: number): void {
    if (this.ended) return;
    this.ended = true;
    let error = this.failure ?? tunnelErrorFromClose(code);
    // A refused upgrade keeps its HTTP status alone (its "close" is the local 1006).
    if (error.status === 0 && error.closeCode === undefined) error = error.withClose(code);
    if (!this.ready) {
      this.mux.destroy();
      this.emit("failed", error);
    }
    this.finish({ exit: this.exit, error: this.exit ? null : error, closeCode: code });
  }

  /**
   * Session events (participants, notice, exit, end) go to `to` from now on; those that came
   * before (with `ready`, in the same packet) once the caller could listen: after this tick.
   */
  deliverTo(to: EventEmitter): void {
    setImmediate(() => {
      this.target = to;
      for (const [ev, v] of this.backlog.splice(0)) to.emit(ev, v);
    });
  }

  relay(ev: string, v: unknown): void {
    if (this.target) this.target.emit(ev, v);
    // Held for a tick at most; bounded all the same.
    else if (this.backlog.length < 64 || ev === "exit" || ev === "end") this.backlog.push([ev, v]);
  }

  sendJson(v: unknown): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(v));
  }

  close(code: number = TUNNEL_CLOSE.normal): void {
    if (this.ws.readyState === this.ws.CONNECTING) this.ws.terminate();
    else this.ws.close(code);
  }
}

/**
 * A Link, with `ws` loaded on first use: a short CLI run that opens no tunnel (most of them)
 * does not pay for loading it.
 */
async function link(cfg: TunnelClientConfig, path: string, first: unknown, main: boolean): Promise<Link> {
  const { default: WS } = await import("ws");
  return new Link(WS, cfg, path, first, main);
}

function toTunnelError(e: { status: number; code: any; message: string }): TunnelError {
  return new TunnelError(e.status, e.code, e.message);
}

/** Resolves once `r` has been read to its end (or destroyed). */
function consumed(r: Readable): Promise<void> {
  return new Promise((resolve) => {
    if (r.readableEnded || r.destroyed) return resolve();
    r.once("end", resolve);
    r.once("close", resolve);
  });
}

/** End a channel's readable sides (idempotent): every byte received so far is still read first. */
function endReadable(ch: MuxChannel): void {
  ch.push(null);
  ch.stderr.push(null);
}

/**
 * Open a shell or command (`open`) or watch one (`join`) on the server's terminal endpoint.
 * Resolves after `ready`; rejects with a TunnelError whose `code` is the server's
 * (TETHER_ERR_FORBIDDEN, …_EXEC_USER_NOT_ALLOWED, …_DEVICE_OFFLINE, …_TUNNEL_TIMEOUT…) and whose
 * `closeCode` says refused (4003) or unreachable (4004), or the HTTP status of a refused upgrade.
 */
export async function openTerminal(
  cfg: TunnelClientConfig,
  open: TerminalOpen | TerminalJoin,
): Promise<TerminalSession> {
  const l = await link(cfg, TERMINAL_WS_PATH, open, true);
  const r = (await l.opened()) as Ready;
  const channel = l.main as MuxChannel;
  const s = new EventEmitter() as TerminalSession;
  l.deliverTo(s);
  const done = l.done.then((end) => {
    endReadable(channel);
    channel.on("error", () => {});
    // Destroying the mux destroys the channel with what it holds: only once it has been read.
    Promise.all([consumed(channel), consumed(channel.stderr)]).then(() => l.mux.destroy());
    l.relay("end", end);
    return end;
  });
  return Object.assign(s, {
    session: r.session,
    device: r.device,
    role: r.role,
    recorded: r.recorded,
    pty: r.pty,
    channel,
    get participants() {
      return l.participants;
    },
    done,
    grant: (user: string, write: boolean) => l.sendJson({ type: "grant", user, write }),
    close: () => l.close(),
  });
}

/**
 * Open a port-forward session to `host:port` as seen from `device` (its allow-list is checked
 * here, so a refusal comes before any local listener). Then `connect()` once per TCP connection.
 */
export async function openForward(
  cfg: TunnelClientConfig,
  to: { device: string; host: string; port: number },
): Promise<ForwardSession> {
  const first: ForwardOpen = { type: "open", device: to.device, host: to.host, port: to.port };
  const l = await link(cfg, FORWARD_WS_PATH, first, false);
  const r = (await l.opened()) as Extract<ForwardServerMessage, { type: "ready" }>;
  let next = 1;
  let over = false;
  const s = new EventEmitter() as ForwardSession;
  l.deliverTo(s);
  const done = l.done.then((end) => {
    over = true;
    l.mux.destroy();
    l.relay("end", end);
    return end;
  });
  return Object.assign(s, {
    session: r.session,
    device: r.device,
    get open() {
      return l.mux.size;
    },
    done,
    async connect(): Promise<MuxChannel> {
      if (over) throw new TunnelError(0, "TETHER_ERR_TUNNEL_CLOSED", "the forward session has ended");
      // At most TUNNEL_LIMITS.maxChannels at once: the mux refuses more (TETHER_ERR_TUNNEL_LIMIT).
      try {
        return await l.mux.connect(next++, to.host, to.port);
      } catch (err) {
        throw toConnectError(err);
      }
    },
    close: () => l.close(),
  }) as ForwardSession;
}

function toConnectError(err: unknown): TunnelError {
  if (err instanceof TunnelError) return err;
  const e = err as { code?: string; message?: string };
  const code =
    typeof e?.code === "string" && e.code.startsWith("TETHER_ERR_") ? e.code : "TETHER_ERR_FORWARD_FAILED";
  return new TunnelError(0, code as any, e?.message ?? String(err));
}

/**
 * Tunnels (docs/protocol.md §17): interactive sessions (shells, port forwards) carried over a
 * WebSocket the agent dials back to the server on request, and the user's WebSocket to the
 * server. Both legs carry the same binary frames (below); the user leg adds JSON text
 * messages for session events. Browser-safe (`@tether/protocol/tunnel`): Uint8Array only.
 */
import { type Static, Type } from "typebox";

export const TUNNEL_LIMITS = {
  /** Most payload bytes in one DATA frame. */
  maxDataBytes: 32 * 1024,
  /** Most bytes in one frame of any type (header included); a larger WebSocket message closes the tunnel. */
  maxFrameBytes: 64 * 1024,
  /**
   * Flow control: bytes each side may send on a channel, per direction, before the receiver
   * grants more with WINDOW frames (like SSH's window). Small enough that Ctrl-C's echo is
   * not stuck behind seconds of output; large enough for ≥ 50 MB/s on loopback.
   */
  window: 512 * 1024,
  /** Channels open at once in one tunnel (port forwarding opens one per TCP connection). */
  maxChannels: 256,
  /** Terminal size bounds; a RESIZE outside them is clamped. */
  maxCols: 1000,
  maxRows: 1000,
  /** Lifetime of a dial-back token (single use). */
  tokenTtlMs: 10_000,
} as const;

/** The agent's dial-back endpoint (on the server's HTTPS port). */
export const TUNNEL_AGENT_PATH = "/api/v1/tunnel";
/** The user's endpoint for shells (console, `tether shell`). */
export const TERMINAL_WS_PATH = "/api/v1/terminal";
/** The user's endpoint for port forwarding (`tether forward`). */
export const FORWARD_WS_PATH = "/api/v1/forward";
/** The agent's header carrying its dial-back token: `Authorization: Tunnel <token>`. */
export const TUNNEL_AUTH_SCHEME = "Tunnel";
/** A session id: `ses_` and 20 lowercase letters or digits. */
export const SESSION_ID_PATTERN = "^ses_[a-z0-9]{20}$";
/** A dial-back token: 43 base64url characters (32 random bytes). */
export const TUNNEL_TOKEN_PATTERN = "^[A-Za-z0-9_-]{43}$";

/** Frame types: byte 0 of every binary WebSocket message. Bytes 1–4: channel id (u32, big-endian). */
export const FRAME = {
  /** server → agent: open a TCP channel; payload JSON {host, port}. */
  OPEN: 1,
  /** agent → server: the channel is open (shell: the process started; tcp: connected). */
  OPEN_OK: 2,
  /** agent → server: the channel could not open; payload JSON {code, message}. */
  OPEN_FAIL: 3,
  /** Bytes: terminal/stdout output, or input towards the device. */
  DATA: 4,
  /** Bytes: stderr output (sessions without a PTY). */
  DATA_ERR: 5,
  /** Grant the peer more window on this channel: payload u32 bytes. */
  WINDOW: 6,
  /** No more DATA in this direction (stdin closed, TCP half-close). */
  EOF: 7,
  /** The channel is closed (both directions); the peer answers with CLOSE unless it sent one. */
  CLOSE: 8,
  /** Terminal size: payload u16 cols, u16 rows. */
  RESIZE: 9,
  /** Send a signal to the process: payload ASCII name without SIG (INT, TERM, HUP, KILL, QUIT). */
  SIGNAL: 10,
  /** agent → server: the process ended; payload JSON {code, signal}. Sent after the last output. */
  EXIT: 11,
} as const;
export type TunnelFrameType = (typeof FRAME)[keyof typeof FRAME];
const FRAME_TYPES = new Set<number>(Object.values(FRAME));

export const SIGNALS = ["INT", "TERM", "HUP", "KILL", "QUIT", "TSTP", "CONT", "WINCH"] as const;
export type TunnelSignal = (typeof SIGNALS)[number];

export type Frame =
  | { type: typeof FRAME.OPEN; ch: number; host: string; port: number }
  | { type: typeof FRAME.OPEN_OK; ch: number }
  | { type: typeof FRAME.OPEN_FAIL; ch: number; code: string; message: string }
  | { type: typeof FRAME.DATA | typeof FRAME.DATA_ERR; ch: number; data: Uint8Array }
  | { type: typeof FRAME.WINDOW; ch: number; bytes: number }
  | { type: typeof FRAME.EOF | typeof FRAME.CLOSE; ch: number }
  | { type: typeof FRAME.RESIZE; ch: number; cols: number; rows: number }
  | { type: typeof FRAME.SIGNAL; ch: number; signal: TunnelSignal }
  | { type: typeof FRAME.EXIT; ch: number; code: number | null; signal: string | null };

export class FrameError extends Error {}

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

function header(type: number, ch: number, len: number): Uint8Array {
  const out = new Uint8Array(5 + len);
  out[0] = type;
  new DataView(out.buffer).setUint32(1, ch >>> 0);
  return out;
}

function withJson(type: number, ch: number, v: unknown): Uint8Array {
  const body = enc.encode(JSON.stringify(v));
  const out = header(type, ch, body.length);
  out.set(body, 5);
  return out;
}

/** Encode one frame. DATA payloads over maxDataBytes are the caller's to split (throws). */
export function encodeFrame(f: Frame): Uint8Array {
  if (!Number.isInteger(f.ch) || f.ch < 0 || f.ch > 0xffffffff) throw new FrameError(`bad channel ${f.ch}`);
  switch (f.type) {
    case FRAME.OPEN:
      return withJson(f.type, f.ch, { host: f.host, port: f.port });
    case FRAME.OPEN_FAIL:
      return withJson(f.type, f.ch, { code: f.code, message: f.message.slice(0, 1024) });
    case FRAME.EXIT:
      return withJson(f.type, f.ch, { code: f.code, signal: f.signal });
    case FRAME.DATA:
    case FRAME.DATA_ERR: {
      if (f.data.length > TUNNEL_LIMITS.maxDataBytes)
        throw new FrameError(`DATA of ${f.data.length} bytes; at most ${TUNNEL_LIMITS.maxDataBytes}`);
      const out = header(f.type, f.ch, f.data.length);
      out.set(f.data, 5);
      return out;
    }
    case FRAME.WINDOW: {
      const out = header(f.type, f.ch, 4);
      new DataView(out.buffer).setUint32(5, f.bytes >>> 0);
      return out;
    }
    case FRAME.RESIZE: {
      const out = header(f.type, f.ch, 4);
      const v = new DataView(out.buffer);
      v.setUint16(5, clampSize(f.cols, TUNNEL_LIMITS.maxCols));
      v.setUint16(7, clampSize(f.rows, TUNNEL_LIMITS.maxRows));
      return out;
    }
    case FRAME.SIGNAL: {
      const body = enc.encode(f.signal);
      const out = header(f.type, f.ch, body.length);
      out.set(body, 5);
      return out;
    }
    case FRAME.OPEN_OK:
    case FRAME.EOF:
    case FRAME.CLOSE:
      return header(f.type, f.ch, 0);
  }
}

/** A terminal dimension brought into 1..max (0×0 and 100000 columns are clamped, not refused). */
export function clampSize(n: number, max: number): number {
  if (!Number.isFinite(n)) return 1;
  return Math.max(1, Math.min(max, Math.floor(n)));
}

function json(b: Uint8Array): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(dec.decode(b));
  } catch {
    throw new FrameError("frame payload is not UTF-8 JSON");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new FrameError("frame payload is not an object");
  return v as Record<string, unknown>;
}

const str = (v: unknown, max: number, what: string): string => {
  if (typeof v !== "string" || v.length > max)
    throw new FrameError(`${what} must be a string of at most ${max}`);
  return v;
};

/**
 * Decode one binary WebSocket message into a frame. Anything malformed throws FrameError
 * (the receiver closes the tunnel with a protocol error); it never returns a partial frame.
 */
export function decodeFrame(msg: Uint8Array): Frame {
  if (msg.length < 5) throw new FrameError(`frame of ${msg.length} bytes; the header alone is 5`);
  if (msg.length > TUNNEL_LIMITS.maxFrameBytes)
    throw new FrameError(`frame of ${msg.length} bytes is too large`);
  const type = msg[0];
  if (!FRAME_TYPES.has(type)) throw new FrameError(`unknown frame type ${type}`);
  const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const ch = view.getUint32(1);
  const body = msg.subarray(5);
  switch (type) {
    case FRAME.OPEN: {
      const o = json(body);
      const host = str(o.host, 253, "host");
      const port = o.port;
      if (host === "" || !Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535)
        throw new FrameError("OPEN needs a host and a port 1-65535");
      return { type, ch, host, port: port as number };
    }
    case FRAME.OPEN_FAIL: {
      const o = json(body);
      return { type, ch, code: str(o.code, 64, "code"), message: str(o.message, 1024, "message") };
    }
    case FRAME.EXIT: {
      const o = json(body);
      const code = o.code === null ? null : o.code;
      if (code !== null && !Number.isInteger(code))
        throw new FrameError("EXIT code must be an integer or null");
      const signal = o.signal === null ? null : str(o.signal, 16, "signal");
      return { type, ch, code: code as number | null, signal };
    }
    case FRAME.DATA:
    case FRAME.DATA_ERR:
      if (body.length > TUNNEL_LIMITS.maxDataBytes) throw new FrameError("DATA frame over the limit");
      return { type, ch, data: body };
    case FRAME.WINDOW: {
      if (body.length !== 4) throw new FrameError("WINDOW payload is 4 bytes");
      const bytes = view.getUint32(5);
      if (bytes === 0) throw new FrameError("WINDOW of 0 bytes");
      return { type, ch, bytes };
    }
    case FRAME.RESIZE: {
      if (body.length !== 4) throw new FrameError("RESIZE payload is 4 bytes");
      return {
        type,
        ch,
        cols: clampSize(view.getUint16(5), TUNNEL_LIMITS.maxCols),
        rows: clampSize(view.getUint16(7), TUNNEL_LIMITS.maxRows),
      };
    }
    case FRAME.SIGNAL: {
      let name: string;
      try {
        name = dec.decode(body);
      } catch {
        throw new FrameError("SIGNAL name is not UTF-8");
      }
      if (!(SIGNALS as readonly string[]).includes(name))
        throw new FrameError(`unknown signal ${name.slice(0, 16)}`);
      return { type, ch, signal: name as TunnelSignal };
    }
    case FRAME.OPEN_OK:
    case FRAME.EOF:
    case FRAME.CLOSE:
      if (body.length !== 0) throw new FrameError("frame takes no payload");
      return { type, ch } as Frame;
  }
  throw new FrameError(`unknown frame type ${type}`);
}

// ---------------------------------------------------------------------------------------------
// Port-forwarding destinations (docs/protocol.md §17.5)

/**
 * One allow-list entry: `HOST:PORT`, `HOST:LOW-HIGH` or `HOST:*`; HOST is a name, an IPv4
 * address or `[IPv6]`, compared exactly (case-insensitive; no DNS on either side).
 */
export const DESTINATION_PATTERN =
  "^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9_.-]{1,253}):(\\*|[0-9]{1,5}(-[0-9]{1,5})?)$";
/** The default allow-list: the device's own loopback, any port. */
export const DEFAULT_FORWARD_ALLOW = ["localhost:*", "127.0.0.1:*", "[::1]:*"] as const;

/** Whether `host:port` is on the allow-list. `host` as the user wrote it (IPv6 with or without brackets). */
export function destinationAllowed(allow: readonly string[], host: string, port: number): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  for (const entry of allow) {
    const i = entry.lastIndexOf(":");
    if (i <= 0) continue;
    const eh = entry
      .slice(0, i)
      .toLowerCase()
      .replace(/^\[(.*)\]$/, "$1");
    const ep = entry.slice(i + 1);
    if (eh !== h) continue;
    if (ep === "*") return true;
    const [lo, hi] = ep.split("-").map(Number);
    if (port >= lo && port <= (hi ?? lo)) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// The user's WebSocket (docs/protocol.md §17.3): JSON text messages beside the binary frames.

const Size = Type.Object(
  {
    cols: Type.Integer({ minimum: 0, maximum: 100_000 }),
    rows: Type.Integer({ minimum: 0, maximum: 100_000 }),
    /** TERM on the device; default xterm-256color. */
    term: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9._+-]{1,64}$" })),
  },
  { additionalProperties: false },
);

/** client → server, first message on TERMINAL_WS_PATH: start a session… */
export const TerminalOpen = Type.Object(
  {
    type: Type.Literal("open"),
    /** Device name or id in the project. */
    device: Type.String({ minLength: 1, maxLength: 128 }),
    /** Run as this user (the project's exec-users policy); absent: the agent's own user. */
    user: Type.Optional(Type.String({ maxLength: 32 })),
    /** Run this command (argv, no shell) instead of the login shell. */
    argv: Type.Optional(Type.Array(Type.String({ maxLength: 65536 }), { minItems: 1, maxItems: 4096 })),
    /** Run this command line with the user's shell (`sh -c`); SSH's exec requests. */
    command: Type.Optional(Type.String({ minLength: 1, maxLength: 65536 })),
    /** A PTY of this size; null: no PTY (pipes: stdout and stderr apart, for scripts). */
    pty: Type.Union([Size, Type.Null()]),
  },
  { additionalProperties: false },
);
export type TerminalOpen = Static<typeof TerminalOpen>;

/** …or watch a running one (read-only until the owner grants input). */
export const TerminalJoin = Type.Object(
  { type: Type.Literal("join"), session: Type.String({ pattern: SESSION_ID_PATTERN }) },
  { additionalProperties: false },
);
export type TerminalJoin = Static<typeof TerminalJoin>;

/** client → server, owner only: let another participant type (or take it back). */
export const TerminalGrant = Type.Object(
  { type: Type.Literal("grant"), user: Type.String({ minLength: 1, maxLength: 64 }), write: Type.Boolean() },
  { additionalProperties: false },
);
export type TerminalGrant = Static<typeof TerminalGrant>;

export const TerminalClientMessage = Type.Union([TerminalOpen, TerminalJoin, TerminalGrant]);
export type TerminalClientMessage = Static<typeof TerminalClientMessage>;

export interface Participant {
  /** Username. */
  user: string;
  role: "owner" | "writer" | "viewer";
  /** Where from: console, cli, ssh. */
  via: string;
  since: string;
}

/** server → client text messages. */
export type TerminalServerMessage =
  | {
      type: "ready";
      session: string;
      device: { id: string; name: string };
      /** What this connection may do. */
      role: "owner" | "writer" | "viewer";
      /** Whether the session is being recorded (asciicast). */
      recorded: boolean;
      pty: { cols: number; rows: number } | null;
    }
  | { type: "participants"; list: Participant[] }
  /** The PTY was resized by the owner or a writer: the others show the session at this size. */
  | { type: "size"; cols: number; rows: number }
  /** The process ended; the server closes the socket (code 1000) after this. */
  | { type: "exit"; code: number | null; signal: string | null }
  /** The session could not open, or ended without an exit (device gone, revoked, idle timeout…). */
  | { type: "error"; code: string; message: string }
  | { type: "notice"; message: string };

/**
 * The user leg carries the same frames with the same flow control as the agent leg: a shell is
 * channel 0 (client → server: DATA, RESIZE, SIGNAL, EOF, WINDOW; server → client: DATA,
 * DATA_ERR, WINDOW), and the client grants WINDOW as it consumes output (the console after
 * xterm.js has written it), so no leg holds more than one window per channel.
 */
export const USER_CHANNEL = 0;

/** WebSocket close codes the server uses on the user leg (4000–4999 are the application's). */
export const TUNNEL_CLOSE = {
  normal: 1000,
  /** Refused before it opened: role, origin, limits, user not allowed. Exit 125 in the CLI. */
  refused: 4003,
  /** The device could not be reached or went away. Exit 255 in the CLI. */
  unreachable: 4004,
  /** Idle timeout or maximum session length. */
  timeout: 4008,
  /** The device or the user lost access (revoked). */
  revoked: 4009,
  /** A malformed frame or a window overrun. */
  protocol: 4010,
} as const;

/** Port forwarding: client → server, first message on FORWARD_WS_PATH. */
export const ForwardOpen = Type.Object(
  {
    type: Type.Literal("open"),
    device: Type.String({ minLength: 1, maxLength: 128 }),
    host: Type.String({ minLength: 1, maxLength: 253 }),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
  },
  { additionalProperties: false },
);
export type ForwardOpen = Static<typeof ForwardOpen>;
/**
 * After `ready`, the client opens one channel per local TCP connection with an OPEN frame
 * (its own channel id ≥ 1; host/port must equal the session's), the server answers OPEN_OK
 * or OPEN_FAIL, then DATA/WINDOW/EOF/CLOSE as on the agent leg.
 */
export type ForwardServerMessage =
  | { type: "ready"; session: string; device: { id: string; name: string } }
  | { type: "error"; code: string; message: string };

// ---------------------------------------------------------------------------------------------
// Sessions (REST)

export const SessionKind = Type.Union([
  Type.Literal("shell"),
  Type.Literal("command"),
  Type.Literal("forward"),
]);
export type SessionKind = Static<typeof SessionKind>;

export const SessionView = Type.Object({
  id: Type.String(),
  device: Type.Object({ id: Type.String(), name: Type.String() }),
  user: Type.String(),
  kind: SessionKind,
  /** console, cli, ssh */
  via: Type.String(),
  /** What ran or where it forwarded: the command, `login shell`, `localhost:8080`. */
  target: Type.String(),
  runAs: Type.Union([Type.String(), Type.Null()]),
  startedAt: Type.String(),
  endedAt: Type.Union([Type.String(), Type.Null()]),
  durationMs: Type.Union([Type.Integer(), Type.Null()]),
  /** How it ended: exited, closed by user, device gone, revoked, idle timeout, max length, server stopped, refused… */
  endReason: Type.Union([Type.String(), Type.Null()]),
  exitCode: Type.Union([Type.Integer(), Type.Null()]),
  bytesIn: Type.Integer(),
  bytesOut: Type.Integer(),
  recorded: Type.Boolean(),
  live: Type.Boolean(),
});
export type SessionView = Static<typeof SessionView>;

/** Per-project tunnel settings (admin): recording, and where port forwarding may go. */
export const TunnelSettings = Type.Object(
  {
    record: Type.Boolean(),
    forwardAllow: Type.Array(Type.String({ pattern: DESTINATION_PATTERN }), { maxItems: 256 }),
  },
  { additionalProperties: false },
);
export type TunnelSettings = Static<typeof TunnelSettings>;

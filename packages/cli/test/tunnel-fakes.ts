// Fakes for the CLI's tunnel commands (shell, forward): an Io whose terminal streams the test
// controls (TTY or not), two real TunnelMuxes wired back to back in memory (the frames and the
// flow control are the real ones; only the WebSocket is left out), a terminal session on them,
// and a plain HTTP server that refuses every WebSocket upgrade with a given error.
import { EventEmitter } from "node:events";
import http, { type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { PassThrough } from "node:stream";
import { type MuxChannel, TunnelMux } from "@tether/protocol/tunnel-mux";
import type { TunnelEnd } from "@tether/sdk/node";
import type { TermStreams } from "../src/commands/tunnel-common.js";
import type { Io } from "../src/io.js";

export interface TermIo extends Io {
  streams: TermStreams & { stdin: PassThrough; stdout: PassThrough & TermStreams["stdout"] };
  /** Text written to the stdout/stderr streams and through io.stdout/io.stderr. */
  out(): string;
  err(): string;
  /** Ctrl-C / SIGTERM. */
  stop(): void;
  /** setRawMode calls, in order. */
  raw: boolean[];
}

/**
 * stdin a PassThrough the test writes (and ends); stdout/stderr PassThroughs read into text.
 * `tty`: stdin and stdout claim to be TTYs (`cols`×`rows`), stdin has setRawMode.
 */
export function termIo(
  env: Record<string, string> = {},
  o: { tty?: boolean; cols?: number; rows?: number } = {},
): TermIo {
  const ac = new AbortController();
  let out = "";
  let err = "";
  const raw: boolean[] = [];
  const stdin = new PassThrough() as PassThrough & TermStreams["stdin"];
  const stdout = new PassThrough() as PassThrough & TermStreams["stdout"];
  const stderr = new PassThrough();
  stdout.on("data", (c: Buffer) => {
    out += c.toString("utf8");
  });
  stderr.on("data", (c: Buffer) => {
    err += c.toString("utf8");
  });
  if (o.tty) {
    stdin.isTTY = true;
    stdin.setRawMode = (b: boolean) => raw.push(b);
    stdout.isTTY = true;
    stdout.columns = o.cols ?? 80;
    stdout.rows = o.rows ?? 24;
  }
  const text = (s: string | Uint8Array) => (typeof s === "string" ? s : Buffer.from(s).toString("utf8"));
  return {
    streams: { stdin, stdout, stderr },
    raw,
    out: () => out,
    err: () => err,
    stop: () => ac.abort(),
    stdout: (s) => {
      out += text(s);
    },
    stderr: (s) => {
      err += text(s);
    },
    readStdin: async () => Buffer.alloc(0),
    env: { ...env, TETHER_HOME: "/nonexistent-tether-home" },
    home: "/nonexistent-home",
    stopSignal: () => ac.signal,
  };
}

/** Two muxes, each one's frames delivered to the other in order on a later turn (like a socket). */
export function muxPair(): { local: TunnelMux; remote: TunnelMux } {
  let local: TunnelMux;
  let remote: TunnelMux;
  const to = (peer: () => TunnelMux) => (f: Uint8Array) => {
    const copy = f.slice();
    setImmediate(() => {
      if (!peer().destroyed) peer().receive(copy);
    });
  };
  local = new TunnelMux({ send: to(() => remote) });
  remote = new TunnelMux({ send: to(() => local) });
  return { local, remote };
}

/**
 * A TerminalSession as openTerminal returns it, on a mux pair: `remote` is the device's end of
 * channel 0; `exit()` and `cut()` end the session the way the SDK does (the output already
 * sent is read first).
 */
export function fakeSession() {
  const { local, remote: rmux } = muxPair();
  const channel = local.channel(0);
  const remote = rmux.channel(0);
  let finish!: (e: TunnelEnd) => void;
  const done = new Promise<TunnelEnd>((r) => {
    finish = r;
  });
  let closed = false;
  const endAll = (e: TunnelEnd) =>
    // After the frames in flight: they are delivered on the turns already queued.
    setImmediate(() =>
      setImmediate(() => {
        channel.push(null);
        channel.stderr.push(null);
        finish(e);
      }),
    );
  const s = Object.assign(new EventEmitter(), {
    session: "ses_aaaaaaaaaaaaaaaaaaaa",
    device: { id: "dev_1", name: "robot-7" },
    role: "owner" as const,
    recorded: false,
    pty: null,
    channel: channel as MuxChannel,
    participants: [],
    done,
    grant() {},
    close() {
      closed = true;
      endAll({ exit: null, error: null, closeCode: 1000 });
    },
  });
  return {
    s,
    remote,
    get closed() {
      return closed;
    },
    exit(code: number | null, signal: string | null = null) {
      endAll({ exit: { code, signal }, error: null, closeCode: 1000 });
    },
    cut(error: TunnelEnd["error"], closeCode: number) {
      endAll({ exit: null, error, closeCode });
    },
  };
}

/** An HTTP server that answers every WebSocket upgrade with `status` and the error body. */
export async function refusingServer(
  status: number,
  code: string,
  message: string,
): Promise<{ url: string; seen: { url: string; headers: IncomingHttpHeaders }[]; close(): Promise<void> }> {
  const seen: { url: string; headers: IncomingHttpHeaders }[] = [];
  const server = http.createServer((_req, res) => {
    res.writeHead(404);
    res.end();
  });
  server.on("upgrade", (req, socket) => {
    seen.push({ url: req.url ?? "", headers: req.headers });
    const body = JSON.stringify({ error: { code, message } });
    socket.end(
      `HTTP/1.1 ${status} Refused\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * A terminal WebSocket client in the browser's or the CLI's role (docs/protocol.md §17.3), for
 * tests: the first JSON message, a TunnelMux with channel 0, every text message kept in order,
 * output read as it comes (granting WINDOW as the console does) unless `read: false`, and the
 * close code. A refused upgrade resolves with its HTTP status and JSON body instead.
 */
import type { TerminalServerMessage } from "@tether/protocol";
import { TUNNEL_LIMITS, USER_CHANNEL } from "@tether/protocol";
import { type MuxChannel, TunnelMux } from "@tether/protocol/tunnel-mux";
import WebSocket from "ws";

export interface TermClient {
  ws: WebSocket;
  mux: TunnelMux;
  ch: MuxChannel;
  messages: TerminalServerMessage[];
  /** Output read so far (stdout and stderr apart). */
  out(): string;
  err(): string;
  /** The first message of this type (and matching `pred`), now or when it comes. */
  next<T extends TerminalServerMessage["type"]>(
    type: T,
    pred?: (m: Extract<TerminalServerMessage, { type: T }>) => boolean,
  ): Promise<Extract<TerminalServerMessage, { type: T }>>;
  /** Resolves when output (stderr: its stderr) contains `text`. */
  until(text: string, stderr?: boolean): Promise<void>;
  closed: Promise<{ code: number; reason: string }>;
  json(v: unknown): void;
  /** Start reading output (after `read: false`). */
  read(): void;
}

export type Connected = { ok: true; client: TermClient } | { ok: false; status: number; body: any };

export function connectTerminal(
  url: string,
  o: { headers?: Record<string, string>; first?: unknown; ca?: string; read?: boolean } = {},
): Promise<Connected> {
  const ws = new WebSocket(url, {
    headers: o.headers ?? {},
    ...(o.ca ? { ca: o.ca } : {}),
    perMessageDeflate: false,
    maxPayload: TUNNEL_LIMITS.maxFrameBytes,
  });
  const mux = new TunnelMux({
    send: (f) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(f, { binary: true });
    },
  });
  const ch = mux.channel(USER_CHANNEL);
  ch.on("error", () => {});
  const messages: TerminalServerMessage[] = [];
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  let out = "";
  let err = "";
  const dec = new TextDecoder();
  const edec = new TextDecoder();
  const reading = () => {
    ch.on("data", (c: Buffer) => {
      out += dec.decode(c, { stream: true });
      wake();
    });
    ch.stderr.on("data", (c: Buffer) => {
      err += edec.decode(c, { stream: true });
      wake();
    });
  };
  if (o.read !== false) reading();
  ws.on("message", (data: Buffer, isBinary) => {
    if (isBinary) {
      mux.receive(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      return;
    }
    messages.push(JSON.parse(data.toString("utf8")));
    wake();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on("close", (code, reason) => {
      mux.destroy();
      resolve({ code, reason: reason.toString() });
      wake();
    }),
  );
  const wait = <T>(check: () => T | undefined, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const w = () => {
        const v = check();
        if (v !== undefined) {
          waiters.delete(w);
          resolve(v);
        } else if (ws.readyState === WebSocket.CLOSED) {
          waiters.delete(w);
          reject(
            new Error(
              `closed before ${what}; messages: ${JSON.stringify(messages)}; output: ${JSON.stringify(out.slice(-500))}`,
            ),
          );
        }
      };
      waiters.add(w);
      w();
    });
  const client: TermClient = {
    ws,
    mux,
    ch,
    messages,
    out: () => out,
    err: () => err,
    next: (type, pred) =>
      wait(
        () => messages.find((m) => m.type === type && (!pred || pred(m as any))) as any,
        `a ${type} message`,
      ),
    until: (text, stderr = false) =>
      wait(() => ((stderr ? err : out).includes(text) ? true : undefined), JSON.stringify(text)).then(
        () => {},
      ),
    closed,
    json: (v) => ws.send(JSON.stringify(v)),
    read: reading,
  };
  return new Promise((resolve, reject) => {
    ws.on("unexpected-response", (_req, res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let body: any = text;
        try {
          body = JSON.parse(text);
        } catch {
          /* not JSON */
        }
        ws.terminate();
        resolve({ ok: false, status: res.statusCode ?? 0, body });
      });
    });
    ws.on("error", (e) => {
      if (ws.readyState !== WebSocket.OPEN) reject(e);
    });
    ws.on("open", () => {
      if (o.first !== undefined) ws.send(JSON.stringify(o.first));
      resolve({ ok: true, client });
    });
  });
}

/** connectTerminal that must be accepted. */
export async function terminal(
  url: string,
  o: Parameters<typeof connectTerminal>[1] = {},
): Promise<TermClient> {
  const r = await connectTerminal(url, o);
  if (!r.ok) throw new Error(`terminal refused: ${r.status} ${JSON.stringify(r.body)}`);
  return r.client;
}

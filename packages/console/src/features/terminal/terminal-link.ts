/**
 * The console's side of the terminal WebSocket (docs/protocol.md §17.3): one JSON message to
 * open or join a session, then JSON text messages (ready, participants, exit, error, notice)
 * beside binary frames on channel 0 (@tether/protocol/tunnel encodeFrame/decodeFrame).
 *
 * Flow control, both ways, as on the agent leg:
 * - output: the server sends at most one window (TUNNEL_LIMITS.window) ahead of what we
 *   granted; `onOutput` hands the bytes over with a `done` callback the page calls once
 *   xterm.js has drawn them (term.write's callback), and only then is WINDOW sent. So
 *   `yes` on the device cannot flood the browser: the device stops within one window.
 * - input: we send at most the window the server granted; the rest (a large paste) waits
 *   here, bounded by MAX_PENDING_INPUT, until a WINDOW frame arrives.
 *
 * No React and no xterm.js here: the page wires this to the terminal.
 */
import {
  decodeFrame,
  encodeFrame,
  FRAME,
  type Participant,
  TUNNEL_CLOSE,
  TUNNEL_LIMITS,
  type TerminalClientMessage,
  type TerminalServerMessage,
  USER_CHANNEL,
} from "@tether/protocol/tunnel";

export type ReadyMessage = Extract<TerminalServerMessage, { type: "ready" }>;

/** How a link ended (once). `beforeReady`: the session never started on this link. */
export type LinkEnd =
  | { kind: "exit"; code: number | null; signal: string | null }
  | { kind: "error"; code: string; message: string; beforeReady: boolean }
  | { kind: "closed"; closeCode: number; reason: string; beforeReady: boolean };

export interface LinkHandlers {
  onReady(m: ReadyMessage): void;
  onParticipants(list: Participant[]): void;
  /** Device output; call `done` once it is on screen (grants the server more window). */
  onOutput(bytes: Uint8Array, done: () => void): void;
  onNotice(message: string): void;
  /** Someone else resized the session's PTY (watchers follow it). */
  onSize?(cols: number, rows: number): void;
  onEnd(end: LinkEnd): void;
}

/** Input kept while the server's window is used up (a huge paste); beyond it input is dropped. */
export const MAX_PENDING_INPUT = 4 * 1024 * 1024;

/** Anything that behaves like the browser's WebSocket (tests pass a fake). */
export interface SocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

const OPEN = 1;
const enc = new TextEncoder();

export class TerminalLink {
  private ready = false;
  /** This connection opened the session (it sets the PTY size; the others follow `size`). */
  owner = false;
  private ended = false;
  /** What the server said before closing (error or exit) wins over the close code. */
  private said: LinkEnd | null = null;
  /** Bytes of input we may still send before the server grants more. */
  private sendWindow: number = TUNNEL_LIMITS.window;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private droppedNotified = false;

  constructor(
    private readonly ws: SocketLike,
    first: TerminalClientMessage,
    private readonly h: LinkHandlers,
  ) {
    ws.binaryType = "arraybuffer";
    ws.onopen = () => ws.send(JSON.stringify(first));
    ws.onmessage = (ev) => this.message(ev.data);
    ws.onclose = (ev) => this.finish(ev.code, ev.reason);
    // A failed connection is followed by close (code 1006): finish() reports it.
    ws.onerror = () => {};
  }

  get isReady(): boolean {
    return this.ready && !this.ended;
  }

  /** Keyboard or paste input (xterm.js onData: UTF-8 text; onBinary: one byte per char). */
  input(data: string | Uint8Array): void {
    if (!this.isReady) return;
    const bytes = typeof data === "string" ? enc.encode(data) : data;
    if (bytes.length === 0) return;
    if (this.pendingBytes + bytes.length > MAX_PENDING_INPUT) {
      if (!this.droppedNotified)
        this.h.onNotice(
          "The device is not reading input fast enough; some of what you typed or pasted was dropped.",
        );
      this.droppedNotified = true;
      return;
    }
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    this.flushInput();
  }

  /** The terminal's size changed (the owner's fit); the server clamps it. */
  resize(cols: number, rows: number): void {
    if (this.isReady) this.frame(encodeFrame({ type: FRAME.RESIZE, ch: USER_CHANNEL, cols, rows }));
  }

  /** Owner only: let `user` type, or take it back. */
  grant(user: string, write: boolean): void {
    if (this.isReady) this.text({ type: "grant", user, write });
  }

  /** Leave (the page closes or the user starts over): no onEnd after this. */
  close(): void {
    this.ended = true;
    try {
      this.ws.close(TUNNEL_CLOSE.normal, "closed by the user");
    } catch {
      // Already closing.
    }
  }

  private text(m: TerminalClientMessage): void {
    if (this.ws.readyState === OPEN) this.ws.send(JSON.stringify(m));
  }

  private frame(b: Uint8Array): void {
    if (this.ws.readyState === OPEN) this.ws.send(b);
  }

  private flushInput(): void {
    while (this.pending.length > 0 && this.sendWindow > 0) {
      const head = this.pending[0];
      const n = Math.min(head.length, this.sendWindow, TUNNEL_LIMITS.maxDataBytes);
      this.frame(encodeFrame({ type: FRAME.DATA, ch: USER_CHANNEL, data: head.subarray(0, n) }));
      this.sendWindow -= n;
      this.pendingBytes -= n;
      if (n === head.length) this.pending.shift();
      else this.pending[0] = head.subarray(n);
    }
    if (this.pendingBytes === 0) this.droppedNotified = false;
  }

  private message(data: unknown): void {
    if (this.ended) return;
    if (typeof data === "string") {
      this.json(data);
      return;
    }
    if (!(data instanceof ArrayBuffer)) return;
    let f: ReturnType<typeof decodeFrame>;
    try {
      f = decodeFrame(new Uint8Array(data));
    } catch (err) {
      this.protocolError((err as Error).message);
      return;
    }
    if (f.ch !== USER_CHANNEL) return;
    if (f.type === FRAME.DATA || f.type === FRAME.DATA_ERR) {
      const n = f.data.length;
      let granted = false;
      this.h.onOutput(f.data, () => {
        // Once per chunk, and not after the link ended.
        if (granted || n === 0) return;
        granted = true;
        if (!this.ended) this.frame(encodeFrame({ type: FRAME.WINDOW, ch: USER_CHANNEL, bytes: n }));
      });
    } else if (f.type === FRAME.WINDOW) {
      this.sendWindow += f.bytes;
      this.flushInput();
    }
    // EOF, EXIT and CLOSE arrive as the JSON "exit"/"error" messages on this leg.
  }

  private json(text: string): void {
    let m: TerminalServerMessage;
    try {
      m = JSON.parse(text) as TerminalServerMessage;
    } catch {
      this.protocolError("a text message that is not JSON");
      return;
    }
    switch (m.type) {
      case "ready":
        this.ready = true;
        this.owner = m.role === "owner";
        this.h.onReady(m);
        break;
      case "participants":
        this.h.onParticipants(Array.isArray(m.list) ? m.list : []);
        break;
      case "notice":
        this.h.onNotice(String(m.message ?? ""));
        break;
      case "size":
        if (Number.isInteger(m.cols) && Number.isInteger(m.rows)) this.h.onSize?.(m.cols, m.rows);
        break;
      case "exit":
        this.said = { kind: "exit", code: m.code ?? null, signal: m.signal ?? null };
        break;
      case "error":
        this.said = {
          kind: "error",
          code: String(m.code ?? "TETHER_ERR_INTERNAL"),
          message: String(m.message ?? ""),
          beforeReady: !this.ready,
        };
        break;
    }
  }

  private protocolError(why: string): void {
    this.said = {
      kind: "error",
      code: "TETHER_ERR_HTTP",
      message: `the server sent ${why}`,
      beforeReady: !this.ready,
    };
    try {
      this.ws.close(TUNNEL_CLOSE.protocol, "protocol error");
    } catch {
      // Closing anyway.
    }
  }

  private finish(code: number, reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.pending = [];
    this.pendingBytes = 0;
    this.h.onEnd(this.said ?? { kind: "closed", closeCode: code, reason, beforeReady: !this.ready });
  }
}

/** Open the terminal WebSocket at `url` with its first message. */
export function openTerminalLink(url: string, first: TerminalClientMessage, h: LinkHandlers): TerminalLink {
  return new TerminalLink(new WebSocket(url) as unknown as SocketLike, first, h);
}

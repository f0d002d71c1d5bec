/**
 * The tunnel multiplexer (docs/protocol.md §17.2): channels as Node streams over one binary
 * WebSocket, with per-channel, per-direction flow control like SSH's window. Node only
 * (`@tether/protocol/tunnel-mux`); the browser console speaks the same frames itself.
 *
 * Flow control. A sender may have at most `window` bytes of DATA and DATA_ERR on a channel that
 * the receiver has not granted back with WINDOW. The receiver grants only what its reader has
 * consumed (read out of the stream's buffer), so a reader that stops stops the sender within one
 * window, and a writer whose window is used up holds its write callback: write() returns false
 * through the normal highWaterMark and pipe() pauses the producer. Nothing here grows with what
 * the peer sends: per channel at most one window is buffered on the receiving side, and a peer
 * that sends more than granted is a protocol error (FrameError).
 *
 * Closing. end() sends EOF (half close). destroy() sends CLOSE once; the peer answers CLOSE and
 * the channel id is free. A received CLOSE ends the readable sides and the channel destroys
 * itself once its reader has drained what was already received (output sent just before an
 * EXIT and CLOSE is not lost); a reader-less channel is destroyed at once. DATA arriving on a
 * channel we already closed is dropped and not credited: the peer gets our CLOSE next.
 *
 * No timers: time limits belong to the owner (the tunnel layer).
 */
import { EventEmitter } from "node:events";
import { Duplex } from "node:stream";
import { TetherError } from "./errors.js";
import {
  decodeFrame,
  encodeFrame,
  FRAME,
  type Frame,
  FrameError,
  TUNNEL_LIMITS,
  type TunnelSignal,
} from "./tunnel.js";

export interface MuxOptions {
  /** Send one encoded frame on the transport (a binary WebSocket message). */
  send(frame: Uint8Array): void;
  /** Window per channel per direction (default TUNNEL_LIMITS.window). */
  window?: number;
  /** Channels open at once (default TUNNEL_LIMITS.maxChannels); a received OPEN beyond it gets OPEN_FAIL. */
  maxChannels?: number;
}

/** An OPEN_FAIL answer to connect(): the agent's code (TETHER_ERR_FORWARD_FAILED…) and sentence. */
export class OpenFailed extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "OpenFailed";
  }
}

type Callback = (err?: Error | null) => void;
interface Pending {
  type: typeof FRAME.DATA | typeof FRAME.DATA_ERR;
  buf: Uint8Array;
  off: number;
  cb?: Callback;
}

/** What a channel needs from its mux. */
interface MuxLink {
  readonly window: number;
  readonly dead: boolean;
  sendFrame(f: Frame): void;
  forget(id: number): void;
  /** We answered OPEN_FAIL: ignore what the peer sent on the id before it saw that. */
  refuse(id: number): void;
  countSent(n: number): void;
}

const asBuffer = (b: Uint8Array): Buffer =>
  Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/** A readable side nobody will read any more, or already read to its end. */
function drained(r: Duplex): boolean {
  if (r.destroyed || r.readableEnded) return true;
  return r.readableLength === 0 && r.listenerCount("data") === 0 && r.listenerCount("readable") === 0;
}

/** stderr of a channel: readable = received DATA_ERR, writable = sends DATA_ERR (same window). */
class StderrStream extends Duplex {
  constructor(private readonly owner: MuxChannel) {
    super({ allowHalfOpen: true });
  }
  override _read(): void {}
  override read(n?: number): any {
    const r = super.read(n);
    this.owner._account();
    return r;
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: Callback): void {
    this.owner._enqueue(FRAME.DATA_ERR, chunk, cb);
  }
  override _writev(chunks: { chunk: Buffer }[], cb: Callback): void {
    for (let i = 0; i < chunks.length; i++)
      this.owner._enqueue(FRAME.DATA_ERR, chunks[i].chunk, i === chunks.length - 1 ? cb : undefined);
  }
}

/**
 * One channel. Readable: what the peer sends (DATA); writable: DATA towards the peer.
 * Events: 'ready' (OPEN_OK), 'fail'(code, message) (OPEN_FAIL), 'resize'(cols, rows),
 * 'signal'(name), 'exit'(code, signal) (the readable sides end with it), 'close'.
 * Consumers must read both the channel and `stderr` (when the peer sends stderr): both share one
 * window, so an unread stderr stops stdout too, by design (bounded memory).
 */
export class MuxChannel extends Duplex {
  /** DATA_ERR frames received (stderr of a pipes session), with its own backpressure… */
  readonly stderr: Duplex;
  /** …and the way to send them (the same stream's writable side; shares the channel's window). */
  readonly stderrOut: Duplex;
  /** Observer of received DATA (recording): sees every output byte, changes nothing. */
  onOutput?: (data: Uint8Array) => void;
  /** Observer of local resize() calls, after clamping (the session's PTY size, recording). */
  onResize?: (cols: number, rows: number) => void;

  private credit: number;
  private readonly queue: Pending[] = [];
  private pumping = false;
  /** Bytes received (DATA + DATA_ERR) and granted back: the peer's unacknowledged = the difference. */
  private received = 0;
  private granted = 0;
  private sentClose = false;
  private recvClose = false;
  private failed = false;
  private exitedRemote = false;
  private eofRemote = false;
  private exitArgs: { code: number | null; signal: string | null } | null = null;
  private lingering = false;

  constructor(
    readonly id: number,
    private readonly mux: MuxLink,
  ) {
    super({ allowHalfOpen: true });
    this.credit = mux.window;
    this.stderr = new StderrStream(this);
    this.stderrOut = this.stderr;
    // A stderr nobody listens to must not make 'error' fatal for the process.
    this.stderr.on("error", () => {});
  }

  /** The wire is usable for this channel: neither CLOSE nor OPEN_FAIL went either way. */
  private get open(): boolean {
    return !this.mux.dead && !this.sentClose && !this.recvClose && !this.failed;
  }

  private send(f: Frame): void {
    if (!this.mux.dead) this.mux.sendFrame(f);
  }

  /** Send OPEN_OK: the process started, or the TCP connection is up. */
  ready(): void {
    if (this.open) this.send({ type: FRAME.OPEN_OK, ch: this.id });
  }

  /** Send OPEN_FAIL; the channel is then done (no CLOSE follows). */
  fail(code: string, message: string): void {
    if (!this.open) return;
    this.send({ type: FRAME.OPEN_FAIL, ch: this.id, code: code.slice(0, 64), message });
    this.failed = true;
    this.mux.forget(this.id);
    this.mux.refuse(this.id);
    this.destroy();
  }

  resize(cols: number, rows: number): void {
    if (!this.open) return;
    this.send({ type: FRAME.RESIZE, ch: this.id, cols, rows });
    this.onResize?.(
      Math.max(1, Math.min(TUNNEL_LIMITS.maxCols, Math.floor(cols) || 1)),
      Math.max(1, Math.min(TUNNEL_LIMITS.maxRows, Math.floor(rows) || 1)),
    );
  }

  signal(name: TunnelSignal): void {
    if (this.open) this.send({ type: FRAME.SIGNAL, ch: this.id, signal: name });
  }

  /**
   * The process ended: EXIT goes out once every byte already written (stdout and stderr, queued
   * here or in the streams' buffers) was sent, then CLOSE. Writes after that are dropped.
   */
  exit(code: number | null, signal: string | null): void {
    if (!this.open || this.exitArgs) return;
    this.exitArgs = { code, signal };
    this.checkExit();
  }

  private checkExit(): void {
    if (!this.exitArgs || this.queue.length || this.writableLength || this.stderr.writableLength) return;
    if (this.open) this.send({ type: FRAME.EXIT, ch: this.id, ...this.exitArgs });
    this.destroy();
  }

  override _read(): void {}

  override read(n?: number): any {
    const r = super.read(n);
    this._account();
    return r;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: Callback): void {
    this._enqueue(FRAME.DATA, chunk, cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: Callback): void {
    for (let i = 0; i < chunks.length; i++)
      this._enqueue(FRAME.DATA, chunks[i].chunk, i === chunks.length - 1 ? cb : undefined);
  }

  override _final(cb: Callback): void {
    // EOF: no more DATA from us. An exiting channel says EXIT instead.
    if (this.open && !this.exitArgs) this.send({ type: FRAME.EOF, ch: this.id });
    cb();
  }

  override _destroy(err: Error | null, cb: Callback): void {
    if (!this.mux.dead && !this.sentClose && !this.recvClose && !this.failed) {
      this.sentClose = true;
      this.send({ type: FRAME.CLOSE, ch: this.id });
    } else this.mux.forget(this.id);
    this.dropQueue();
    this.stderr.destroy();
    cb(err);
  }

  /** @internal Queue bytes for the peer and send what the window allows. */
  _enqueue(type: Pending["type"], buf: Uint8Array, cb?: Callback): void {
    if (!this.open || buf.length === 0) {
      // A closed channel drops writes like a reset socket; the 'close' event says why.
      cb?.();
      return;
    }
    this.queue.push({ type, buf, off: 0, cb });
    this.pump();
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length && this.credit > 0 && this.open) {
        const type = this.queue[0].type;
        let room = Math.min(this.credit, TUNNEL_LIMITS.maxDataBytes);
        const parts: Uint8Array[] = [];
        const done: (Callback | undefined)[] = [];
        let size = 0;
        // Coalesce small writes of one stream into one frame (a PTY writes many small chunks).
        while (this.queue.length && this.queue[0].type === type && room > 0) {
          const p = this.queue[0];
          const n = Math.min(room, p.buf.length - p.off);
          parts.push(p.buf.subarray(p.off, p.off + n));
          p.off += n;
          size += n;
          room -= n;
          if (p.off === p.buf.length) {
            this.queue.shift();
            done.push(p.cb);
          }
        }
        const data = parts.length === 1 ? parts[0] : Buffer.concat(parts);
        this.credit -= size;
        this.mux.countSent(size);
        this.send({ type, ch: this.id, data });
        for (const cb of done) cb?.();
      }
    } finally {
      this.pumping = false;
    }
    this.checkExit();
  }

  private dropQueue(): void {
    const q = this.queue.splice(0);
    for (const p of q) p.cb?.();
  }

  /**
   * @internal Grant the peer what our readers consumed since the last grant, batched (a quarter
   * window) so a bulk transfer costs one WINDOW frame per 64 KiB. Never deadlocks: while nothing
   * is granted the peer still has at least three quarters of the window, or our reader is not
   * reading (which is the point).
   */
  _account(): void {
    if (this.lingering) this.checkDrained();
    if (!this.open || this.exitedRemote) return;
    const buffered =
      (this.destroyed ? 0 : this.readableLength) + (this.stderr.destroyed ? 0 : this.stderr.readableLength);
    const ungranted = this.received - buffered - this.granted;
    if (ungranted > 0 && ungranted >= Math.max(1, this.mux.window >> 2)) {
      this.granted += ungranted;
      this.send({ type: FRAME.WINDOW, ch: this.id, bytes: ungranted });
    }
  }

  /** @internal One frame for this channel from the peer. */
  _frame(f: Frame): void {
    if (f.type === FRAME.CLOSE) {
      this.remoteClose();
      return;
    }
    // We closed and wait for the peer's CLOSE: whatever it sent meanwhile is moot.
    if (this.sentClose || this.destroyed) return;
    switch (f.type) {
      case FRAME.DATA:
      case FRAME.DATA_ERR: {
        if (this.received - this.granted + f.data.length > this.mux.window)
          throw new FrameError(
            `channel ${this.id}: the peer sent more than the window of ${this.mux.window} bytes`,
          );
        if (this.exitedRemote || (f.type === FRAME.DATA && this.eofRemote))
          throw new FrameError(`channel ${this.id}: DATA after ${this.exitedRemote ? "EXIT" : "EOF"}`);
        this.received += f.data.length;
        const buf = asBuffer(f.data);
        if (f.type === FRAME.DATA) {
          this.onOutput?.(buf);
          this.push(buf);
        } else if (!this.stderr.destroyed) this.stderr.push(buf);
        // A flowing reader may have taken it already (push emits 'data' directly).
        this._account();
        return;
      }
      case FRAME.WINDOW:
        if (this.credit + f.bytes > this.mux.window)
          throw new FrameError(
            `channel ${this.id}: WINDOW grants more than the window of ${this.mux.window} bytes`,
          );
        this.credit += f.bytes;
        this.pump();
        return;
      case FRAME.EOF:
        if (!this.eofRemote) {
          this.eofRemote = true;
          this.push(null);
        }
        return;
      case FRAME.OPEN_OK:
        this.emit("ready");
        return;
      case FRAME.OPEN_FAIL:
        this.failed = true;
        this.mux.forget(this.id);
        this.emit("fail", f.code, f.message);
        this.destroy();
        return;
      case FRAME.RESIZE:
        this.emit("resize", f.cols, f.rows);
        return;
      case FRAME.SIGNAL:
        this.emit("signal", f.signal);
        return;
      case FRAME.EXIT:
        if (this.exitedRemote) throw new FrameError(`channel ${this.id}: a second EXIT`);
        this.exitedRemote = true;
        this.endReadables();
        this.emit("exit", f.code, f.signal);
        return;
      case FRAME.OPEN:
        throw new FrameError(`channel ${this.id} is already open`);
    }
  }

  private endReadables(): void {
    if (!this.eofRemote) {
      this.eofRemote = true;
      this.push(null);
    }
    this.stderr.push(null);
  }

  private remoteClose(): void {
    if (this.recvClose) throw new FrameError(`channel ${this.id}: a second CLOSE`);
    this.recvClose = true;
    this.mux.forget(this.id);
    if (this.sentClose || this.destroyed) return;
    this.sentClose = true;
    this.send({ type: FRAME.CLOSE, ch: this.id });
    this.dropQueue();
    // Keep what was received until it is read (the last output before EXIT and CLOSE).
    this.endReadables();
    this.lingering = true;
    this.once("end", () => this.checkDrained());
    this.stderr.once("end", () => this.checkDrained());
    this.checkDrained();
  }

  private checkDrained(): void {
    if (!this.destroyed && drained(this) && drained(this.stderr)) this.destroy();
  }
}

/**
 * Channels over one transport. receive() throws FrameError on a malformed frame, a frame for an
 * unknown channel, or a window overrun: the owner then closes the transport with
 * TUNNEL_CLOSE.protocol and calls destroy().
 * Event 'open'(ch, host, port): the peer sent OPEN; the listener answers ch.ready() or
 * ch.fail(code, message). Without a listener the OPEN is refused.
 */
export class TunnelMux extends EventEmitter {
  /** DATA payload bytes sent / received on every channel (sessions count them, idle checks watch them). */
  bytesSent = 0;
  bytesReceived = 0;
  private readonly channels = new Map<number, MuxChannel>();
  /** Ids we refused with OPEN_FAIL: frames the peer sent before it saw the refusal are ignored. */
  private readonly refused = new Set<number>();
  private readonly window: number;
  private readonly maxChannels: number;
  private dead = false;
  private readonly link: MuxLink;

  constructor(private readonly o: MuxOptions) {
    super();
    this.window = o.window ?? TUNNEL_LIMITS.window;
    this.maxChannels = o.maxChannels ?? TUNNEL_LIMITS.maxChannels;
    const self = this;
    this.link = {
      window: this.window,
      get dead() {
        return self.dead;
      },
      sendFrame: (f) => this.o.send(encodeFrame(f)),
      forget: (id) => this.channels.delete(id),
      refuse: (id) => this.refuse(id),
      countSent: (n) => {
        this.bytesSent += n;
      },
    };
  }

  get destroyed(): boolean {
    return this.dead;
  }

  /** Channels open now. */
  get size(): number {
    return this.channels.size;
  }

  receive(msg: Uint8Array): void {
    if (this.dead) return;
    const f = decodeFrame(msg);
    if (f.type === FRAME.OPEN) {
      this.onOpen(f.ch, f.host, f.port);
      return;
    }
    const ch = this.channels.get(f.ch);
    if (!ch) {
      if (this.refused.has(f.ch)) {
        if (f.type === FRAME.CLOSE) this.refused.delete(f.ch);
        return;
      }
      throw new FrameError(`frame type ${f.type} for channel ${f.ch}, which is not open`);
    }
    if (f.type === FRAME.DATA || f.type === FRAME.DATA_ERR) this.bytesReceived += f.data.length;
    ch._frame(f);
  }

  private onOpen(id: number, host: string, port: number): void {
    if (this.channels.has(id)) throw new FrameError(`OPEN for channel ${id}, which is already open`);
    if (this.channels.size >= this.maxChannels) {
      this.refuse(id);
      this.o.send(
        encodeFrame({
          type: FRAME.OPEN_FAIL,
          ch: id,
          code: "TETHER_ERR_TUNNEL_LIMIT",
          message: `a tunnel carries at most ${this.maxChannels} channels at once`,
        }),
      );
      return;
    }
    const ch = this.add(id);
    if (this.listenerCount("open") === 0) {
      ch.fail("TETHER_ERR_FORWARD_FAILED", "this end of the tunnel does not accept channels");
      return;
    }
    this.emit("open", ch, host, port);
  }

  private refuse(id: number): void {
    this.refused.add(id);
    // Bounded: an id the peer never mentions again need not be remembered for ever.
    if (this.refused.size > this.maxChannels)
      this.refused.delete(this.refused.values().next().value as number);
  }

  private add(id: number): MuxChannel {
    const ch = new MuxChannel(id, this.link);
    this.channels.set(id, ch);
    return ch;
  }

  /** Create the local end of channel `id` (the opener does before sending OPEN; channel 0 of a shell: both sides). */
  channel(id: number): MuxChannel {
    if (this.dead) throw new TetherError("TETHER_ERR_TUNNEL_CLOSED", "the tunnel is closed");
    if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw new RangeError(`bad channel id ${id}`);
    if (this.channels.has(id)) throw new Error(`channel ${id} is already open`);
    if (this.channels.size >= this.maxChannels)
      throw new TetherError(
        "TETHER_ERR_TUNNEL_LIMIT",
        `a tunnel carries at most ${this.maxChannels} channels at once`,
      );
    return this.add(id);
  }

  get(id: number): MuxChannel | undefined {
    return this.channels.get(id);
  }

  /** Open channel `id` to host:port: resolves on OPEN_OK, rejects with OpenFailed on OPEN_FAIL. */
  connect(id: number, host: string, port: number): Promise<MuxChannel> {
    const ch = this.channel(id);
    return new Promise((resolve, reject) => {
      const onReady = () => {
        ch.off("fail", onFail).off("close", onClose);
        resolve(ch);
      };
      const onFail = (code: string, message: string) => {
        ch.off("ready", onReady).off("close", onClose);
        reject(new OpenFailed(code, message));
      };
      const onClose = () => {
        ch.off("ready", onReady).off("fail", onFail);
        reject(new OpenFailed("TETHER_ERR_TUNNEL_CLOSED", "the tunnel closed before the channel opened"));
      };
      ch.once("ready", onReady).once("fail", onFail).once("close", onClose);
      this.link.sendFrame({ type: FRAME.OPEN, ch: id, host, port });
    });
  }

  /** The transport closed: destroy every channel ('close' fires on each; nothing is sent). */
  destroy(_err?: Error): void {
    if (this.dead) return;
    this.dead = true;
    const all = [...this.channels.values()];
    this.channels.clear();
    for (const ch of all) ch.destroy();
  }
}

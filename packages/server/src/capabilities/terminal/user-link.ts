/**
 * One user's terminal WebSocket (docs/protocol.md §17.3): the tunnel layer's user link
 * (UserLinkBase: JSON text messages, the one way to close) with channel 0 carrying the terminal,
 * flow-controlled both ways, and what the room needs on top: how far behind the user is, and a
 * wait for the last output to reach the socket.
 */
import type { Writable } from "node:stream";
import { type TerminalServerMessage, USER_CHANNEL } from "@tether/protocol";
import type { MuxChannel } from "@tether/protocol/tunnel-mux";
import type { WebSocket } from "ws";
import type { Principal } from "../../accounts.js";
import { UserLinkBase } from "../../tunnels/index.js";

export type Via = "console" | "cli";

/** Events: 'text'(string), 'closed'. */
export class UserLink extends UserLinkBase<TerminalServerMessage> {
  /** Channel 0: readable = the user's input, writable = output towards the user. */
  readonly ch: MuxChannel;
  readonly since = new Date().toISOString();
  /** Bytes written to the channel that the mux has not put on the socket yet (the user's window is used). */
  private inflight = 0;
  private flushWaiters: (() => void)[] = [];

  constructor(
    ws: WebSocket,
    principal: Principal,
    readonly via: Via,
  ) {
    super(ws, principal);
    this.ch = this.mux.channel(USER_CHANNEL);
    // Whatever the user sends as stderr (nothing should) must not hold the shared window.
    this.ch.stderr.resume();
    this.ch.on("error", () => {});
  }

  /** Frames only after the first message (open or join) named what they are for. */
  protected framesRefused(): string | undefined {
    return this.textSeen ? undefined : "send open or join first, as a text message";
  }

  protected override onClosed(): void {
    this.inflight = 0;
    this.wakeFlushers();
  }

  /** How far this user is behind: output not yet on its socket. */
  get lag(): number {
    return this.inflight + (this.closed ? 0 : this.ws.bufferedAmount);
  }

  /** Output towards the user (stderr: DATA_ERR). False: wait for 'drain' on `stream(stderr)`. */
  write(chunk: Uint8Array, stderr = false): boolean {
    if (this.gone) return true;
    const n = chunk.length;
    this.inflight += n;
    return this.stream(stderr).write(chunk, () => {
      this.inflight = Math.max(0, this.inflight - n);
      if (this.inflight === 0) this.wakeFlushers();
    });
  }

  stream(stderr: boolean): Writable {
    return stderr ? this.ch.stderrOut : this.ch;
  }

  /** Resolves once every byte written is on the socket (or the socket closed), or after `ms`. */
  flushed(ms: number): Promise<void> {
    if (this.inflight === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      t.unref();
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.flushWaiters.push(done);
    });
  }

  private wakeFlushers(): void {
    for (const w of this.flushWaiters.splice(0)) w();
  }
}

/**
 * One user's tunnel WebSocket (terminal docs/protocol.md §17.3, forward §17.5): binary frames
 * through a TunnelMux, JSON text messages beside them, and the one way to close it (a last
 * message, then the close code). Every send goes through here, so a closed socket is never
 * written to. A capability extends it with what its frames are for and when they may start.
 */
import { EventEmitter } from "node:events";
import { FrameError, TetherError, TUNNEL_CLOSE } from "@tether/protocol";
import { TunnelMux } from "@tether/protocol/tunnel-mux";
import type { Logger } from "pino";
import { refusalClose } from "./close-codes.js";
import type { WebSocket } from "ws";
import type { Principal } from "../accounts.js";

/** The last message of a link that could not open or must end (both protocols have it). */
export type LinkError = { type: "error"; code: string; message: string };

/** Events: 'text'(string), 'closed'. */
export abstract class UserLinkBase<M extends { type: string }> extends EventEmitter {
  readonly mux: TunnelMux;
  /** A text message came: the first one names what the frames are for. */
  protected textSeen = false;
  private ending = false;
  closed = false;

  /** Closed or closing: nothing more is sent. */
  get gone(): boolean {
    return this.closed || this.ending;
  }

  constructor(
    readonly ws: WebSocket,
    readonly principal: Principal,
  ) {
    super();
    this.mux = new TunnelMux({
      send: (frame) => {
        if (ws.readyState === ws.OPEN) ws.send(frame, { binary: true });
      },
    });
    ws.on("error", () => {});
    ws.on("message", (data, isBinary) => this.message(data as Buffer, isBinary));
    ws.once("close", () => {
      this.closed = true;
      this.mux.destroy();
      this.onClosed();
      this.emit("closed");
    });
  }

  /** Why a binary frame may not come yet (closes the link as a protocol error), or undefined. */
  protected abstract framesRefused(): string | undefined;

  /** The socket closed: release what waits on it (runs before 'closed' is emitted). */
  protected onClosed(): void {}

  /** end() began, before the close goes out. */
  protected onEnding(): void {}

  private message(data: Buffer, isBinary: boolean): void {
    if (this.ending) return;
    if (!isBinary) {
      this.textSeen = true;
      this.emit("text", data.toString("utf8"));
      return;
    }
    const refused = this.framesRefused();
    if (refused !== undefined) {
      this.protocolError(refused);
      return;
    }
    try {
      this.mux.receive(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      this.protocolError(err.message);
    }
  }

  /** A malformed message or frame: say what, close 4010. */
  protocolError(message: string): void {
    this.end(TUNNEL_CLOSE.protocol, { type: "error", code: "TETHER_ERR_BAD_REQUEST", message });
  }

  /**
   * The session could not open: a TetherError is told as it is, with the close code `closeFor`
   * picks for its code; anything else is logged (as "`what`: open failed") and told as internal.
   */
  refuse(err: unknown, log: Logger, what: string): void {
    const e = err instanceof TetherError ? err : new TetherError("TETHER_ERR_INTERNAL", "internal error");
    if (!(err instanceof TetherError)) log.error({ err }, `${what}: open failed`);
    this.end(refusalClose(e.code), { type: "error", code: e.code, message: e.message });
  }

  send(m: M | LinkError): void {
    if (!this.closed && !this.ending && this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(m));
  }

  /** Say why (optional), then close with `code`; the first end wins. */
  end(code: number, last?: M | LinkError): void {
    if (this.ending || this.closed) return;
    if (last) this.send(last);
    this.ending = true;
    this.onEnding();
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(code, closeReason(last));
    else this.ws.terminate();
    // A peer that never answers the close is cut off (ws's own wait is 30 s).
    setTimeout(() => this.ws.terminate(), 5000).unref();
  }
}

/** A close reason must fit in 123 bytes. */
function closeReason(m?: object): string {
  const text = m && "message" in m && typeof m.message === "string" ? m.message : "";
  return Buffer.from(text)
    .subarray(0, 120)
    .toString("utf8")
    .replace(/\uFFFD+$/, "");
}

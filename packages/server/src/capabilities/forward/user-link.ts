/**
 * One user's forward WebSocket (docs/protocol.md §17.5): the tunnel layer's user link
 * (UserLinkBase: JSON text messages, the one way to close) whose mux carries one
 * flow-controlled channel per local TCP connection, opened by the client with OPEN.
 */
import type { ForwardServerMessage } from "@tether/protocol";
import { UserLinkBase } from "../../tunnels/index.js";

/** Events: 'text'(string), 'closed'. The mux emits 'open'(ch, host, port) once frames are allowed. */
export class ForwardLink extends UserLinkBase<ForwardServerMessage> {
  /** Binary frames are accepted once the session is ready (`ready` was sent). */
  framesAllowed = false;

  protected framesRefused(): string | undefined {
    return this.framesAllowed ? undefined : "send the open message first and wait for ready before any frame";
  }

  /** Closing: the forwarded connections end now, not when the peer answers the close. */
  protected override onEnding(): void {
    this.mux.destroy();
  }
}

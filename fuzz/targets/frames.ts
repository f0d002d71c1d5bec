/**
 * Frame decode (docs/protocol.md §4-5): peekFrame on anything from the broker, then what the
 * receiver does with the type: Data frames opened by a session of each side (direction,
 * key id, replay window, AES-GCM), a HandshakeInit answered by the server
 * (respondHandshake), a HandshakeReply finished by the agent. Contract: ProtocolError only.
 */
import {
  encodeMessage,
  FrameDirection,
  FrameType,
  peekFrame,
  ProtocolError,
  type Session,
} from "@tether/protocol";
import type { Target } from "../lib.js";
import { handshake, initiator, responder } from "./keys.js";

let sessions: { device: Session; server: Session };

export const frames: Target = {
  name: "frames",
  what: "peekFrame, Session.open, respondHandshake, HandshakeReply",
  seeds() {
    const h = handshake();
    const up = [
      encodeMessage({ t: "pong", b: { ref: 1 } }),
      encodeMessage({ t: "ack", b: { ids: [1, 2, 3] } }),
      Buffer.alloc(0),
    ].map((m) => h.device.seal(m));
    const down = [encodeMessage({ t: "ping", b: { ref: 1 } }), Buffer.from("{}")].map((m) =>
      h.server.seal(m),
    );
    return [h.init, h.reply, ...up, ...down, Buffer.from([1, FrameType.Will]), Buffer.from([1])];
  },
  dictionary: [
    "\x01\x01",
    "\x01\x02",
    "\x01\x03",
    "\x01\x03\x00",
    "\x01\x03\x01",
    "\x00\x00\x00\x00\x00\x00\x00\x00",
  ],
  async setup() {
    const h = handshake();
    sessions = { device: h.device, server: h.server };
  },
  run(input) {
    const f = peekFrame(input);
    if (f.type === FrameType.Data) {
      if (input[2] === FrameDirection.Down) sessions.device.open(input);
      else sessions.server.open(input);
    } else if (f.type === FrameType.HandshakeInit) {
      responder(input);
    } else if (f.type === FrameType.HandshakeReply) {
      initiator().finish(input);
    }
  },
  expected: (err) => err instanceof ProtocolError,
};

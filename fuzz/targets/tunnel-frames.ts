/**
 * Tunnel framing (issue 13; docs/protocol.md §17.2): what the server and the agent do with a
 * binary WebSocket message from the other leg. The input is a sequence of messages, each
 * prefixed by its length (u16, big-endian).
 * 1. decodeFrame on each message. Contract: a Frame or FrameError, nothing else; a decoded
 *    frame re-encodes to bytes that decode to the same frame (RESIZE sizes already clamped).
 * 2. The same messages fed to a TunnelMux whose channels are read as they fill (the receiving
 *    end of a tunnel). Contract: receive() accepts or throws FrameError; after a FrameError
 *    the owner destroys the mux (as the tunnel layer does), and that never throws.
 */
import { decodeFrame, encodeFrame, type Frame, FRAME, FrameError } from "@tether/protocol";
import { TunnelMux } from "@tether/protocol/tunnel-mux";
import type { Target } from "../lib.js";
import { Broken } from "./metric-rules.js";

function split(input: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i + 2 <= input.length && out.length < 64) {
    const n = input.readUInt16BE(i);
    out.push(input.subarray(i + 2, i + 2 + n));
    i += 2 + n;
  }
  if (i < input.length) out.push(input.subarray(i));
  return out;
}

function join(msgs: Uint8Array[]): Buffer {
  return Buffer.concat(
    msgs.flatMap((m) => {
      const h = Buffer.alloc(2);
      h.writeUInt16BE(m.length);
      return [h, Buffer.from(m)];
    }),
  );
}

/** Frames compared field by field, DATA payloads by their bytes (a Buffer's toJSON would hide them). */
const norm = (f: Frame) =>
  JSON.stringify({ ...f, data: "data" in f ? Buffer.from(f.data).toString("hex") : undefined });
const same = (a: Frame, b: Frame) => norm(a) === norm(b);

function feedMux(msgs: Buffer[]): void {
  const mux = new TunnelMux({ send() {} });
  mux.on("open", (ch: any) => ch.fail("TETHER_ERR_FORWARD_NOT_ALLOWED", "fuzz"));
  // Channel 0 and 1 exist, as in a shell session and a forward with one connection.
  for (const id of [0, 1]) {
    const ch = mux.channel(id);
    ch.on("data", () => {});
    ch.stderr.on("data", () => {});
    ch.on("error", () => {});
  }
  try {
    for (const m of msgs) mux.receive(m);
  } catch (err) {
    if (!(err instanceof FrameError)) throw err;
  }
  mux.destroy();
}

export const tunnelFrames: Target = {
  name: "tunnel-frames",
  what: "decodeFrame/encodeFrame, TunnelMux.receive",
  seeds() {
    const f = (x: Frame) => encodeFrame(x);
    return [
      join([f({ type: FRAME.DATA, ch: 0, data: new TextEncoder().encode("ls -la\r") })]),
      join([
        f({ type: FRAME.OPEN_OK, ch: 0 }),
        f({ type: FRAME.DATA, ch: 0, data: new Uint8Array(100).fill(0x79) }),
        f({ type: FRAME.DATA_ERR, ch: 0, data: new Uint8Array([0xe6, 0x97, 0xa5]) }),
        f({ type: FRAME.EXIT, ch: 0, code: 3, signal: null }),
        f({ type: FRAME.CLOSE, ch: 0 }),
      ]),
      join([
        f({ type: FRAME.OPEN, ch: 2, host: "localhost", port: 8080 }),
        f({ type: FRAME.WINDOW, ch: 1, bytes: 65536 }),
        f({ type: FRAME.EOF, ch: 1 }),
        f({ type: FRAME.OPEN_FAIL, ch: 1, code: "TETHER_ERR_FORWARD_FAILED", message: "refused" }),
      ]),
      join([
        f({ type: FRAME.RESIZE, ch: 0, cols: 80, rows: 24 }),
        f({ type: FRAME.SIGNAL, ch: 0, signal: "INT" }),
        f({ type: FRAME.EXIT, ch: 0, code: null, signal: "KILL" }),
      ]),
      join([f({ type: FRAME.DATA, ch: 0, data: new Uint8Array(32 * 1024).fill(0x61) })]),
    ].map((b) => Buffer.from(b));
  },
  dictionary: ["\x04\x00\x00\x00\x00", "\x06\x00\x00\x00\x00\x00\x04\x00\x00", '{"host":"', '"port":', "INT"],
  run(input) {
    const msgs = split(input);
    for (const m of msgs) {
      let fr: Frame;
      try {
        fr = decodeFrame(m);
      } catch (err) {
        if (err instanceof FrameError) continue;
        throw err;
      }
      const again = decodeFrame(encodeFrame(fr));
      if (!same(fr, again)) throw new Broken("a decoded frame does not survive re-encoding", fr.type);
    }
    feedMux(msgs);
  },
  expected: (err) => err instanceof FrameError,
};

// @matrix: once
/**
 * The console's terminal WebSocket client (src/features/terminal/terminal-link.ts) against a
 * fake socket: the open message, flow control both ways (output window granted only once drawn;
 * input held beyond the server's window and bounded), and how a link ends (exit, error, a close
 * code, a malformed frame).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeFrame, encodeFrame, FRAME, TUNNEL_LIMITS } from "@tether/protocol/tunnel";
import {
  type LinkEnd,
  MAX_PENDING_INPUT,
  type SocketLike,
  TerminalLink,
} from "../src/features/terminal/terminal-link.ts";

class FakeSocket implements SocketLike {
  binaryType = "blob";
  readyState = 0;
  sent: (string | Uint8Array)[] = [];
  closed: { code?: number; reason?: string } | null = null;
  onopen: SocketLike["onopen"] = null;
  onmessage: SocketLike["onmessage"] = null;
  onclose: SocketLike["onclose"] = null;
  onerror: SocketLike["onerror"] = null;
  send(d: string | Uint8Array) {
    this.sent.push(d);
  }
  close(code?: number, reason?: string) {
    this.closed = { code, reason };
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  text(m: unknown) {
    this.onmessage?.({ data: JSON.stringify(m) });
  }
  frame(b: Uint8Array) {
    this.onmessage?.({ data: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) });
  }
  end(code: number, reason = "") {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  frames() {
    return this.sent.filter((x): x is Uint8Array => typeof x !== "string").map((b) => decodeFrame(b));
  }
}

const READY = {
  type: "ready",
  session: "ses_aaaaaaaaaaaaaaaaaaaa",
  device: { id: "dev_1", name: "robot-7" },
  role: "owner",
  recorded: true,
  pty: { cols: 80, rows: 24 },
};

function setup() {
  const ws = new FakeSocket();
  const out: { bytes: Uint8Array; done: () => void }[] = [];
  const ends: LinkEnd[] = [];
  const notices: string[] = [];
  const sizes: [number, number][] = [];
  let ready = 0;
  const link = new TerminalLink(
    ws,
    { type: "open", device: "robot-7", pty: { cols: 80, rows: 24 } },
    {
      onReady: () => ready++,
      onParticipants: () => {},
      onOutput: (bytes, done) => out.push({ bytes, done }),
      onNotice: (m) => notices.push(m),
      onSize: (cols, rows) => sizes.push([cols, rows]),
      onEnd: (e) => ends.push(e),
    },
  );
  return { ws, link, out, ends, notices, sizes, ready: () => ready };
}

test("sends the open message first, then input as DATA on channel 0 once ready", () => {
  const { ws, link, ready } = setup();
  assert.equal(ws.binaryType, "arraybuffer");
  ws.open();
  assert.deepEqual(JSON.parse(ws.sent[0] as string), {
    type: "open",
    device: "robot-7",
    pty: { cols: 80, rows: 24 },
  });
  link.input("ignored before ready");
  assert.equal(ws.sent.length, 1, "nothing is sent before ready");
  ws.text(READY);
  assert.equal(ready(), 1);
  link.input("ls\r");
  link.resize(120, 40);
  const f = ws.frames();
  assert.equal(f[0].type, FRAME.DATA);
  assert.equal(f[0].ch, 0);
  assert.equal(new TextDecoder().decode((f[0] as { data: Uint8Array }).data), "ls\r");
  assert.deepEqual(f[1], { type: FRAME.RESIZE, ch: 0, cols: 120, rows: 40 });
});

test("output: WINDOW is granted only when the page says it drew the bytes, once per chunk", () => {
  const { ws, out } = setup();
  ws.open();
  ws.text(READY);
  ws.frame(encodeFrame({ type: FRAME.DATA, ch: 0, data: new Uint8Array(1000) }));
  ws.frame(encodeFrame({ type: FRAME.DATA_ERR, ch: 0, data: new Uint8Array(7) }));
  assert.equal(out.length, 2);
  assert.equal(ws.frames().length, 0, "no window before the terminal wrote it");
  out[0].done();
  out[0].done();
  out[1].done();
  assert.deepEqual(ws.frames(), [
    { type: FRAME.WINDOW, ch: 0, bytes: 1000 },
    { type: FRAME.WINDOW, ch: 0, bytes: 7 },
  ]);
});

test("input beyond the server's window waits for WINDOW, in DATA frames of at most maxDataBytes", () => {
  const { ws, link } = setup();
  ws.open();
  ws.text(READY);
  const big = new Uint8Array(TUNNEL_LIMITS.window + 5000).fill(97);
  link.input(big);
  const sent = () => ws.frames().reduce((n, f) => n + (f.type === FRAME.DATA ? f.data.length : 0), 0);
  assert.equal(sent(), TUNNEL_LIMITS.window, "exactly one window goes out");
  assert.ok(ws.frames().every((f) => f.type !== FRAME.DATA || f.data.length <= TUNNEL_LIMITS.maxDataBytes));
  ws.frame(encodeFrame({ type: FRAME.WINDOW, ch: 0, bytes: 3000 }));
  assert.equal(sent(), TUNNEL_LIMITS.window + 3000);
  ws.frame(encodeFrame({ type: FRAME.WINDOW, ch: 0, bytes: 1 << 20 }));
  assert.equal(sent(), big.length, "the rest follows the grant");
});

test("held input is bounded: past MAX_PENDING_INPUT it is dropped, with one notice", () => {
  const { ws, link, notices } = setup();
  ws.open();
  ws.text(READY);
  link.input(new Uint8Array(TUNNEL_LIMITS.window)); // uses the whole window
  link.input(new Uint8Array(MAX_PENDING_INPUT));
  link.input("x");
  link.input("y");
  assert.equal(notices.length, 1);
  assert.match(notices[0], /dropped/);
});

test("an exit message ends the link as an exit, whatever the close code", () => {
  const { ws, ends } = setup();
  ws.open();
  ws.text(READY);
  ws.text({ type: "exit", code: 3, signal: null });
  ws.end(1000);
  assert.deepEqual(ends, [{ kind: "exit", code: 3, signal: null }]);
});

test("an error before ready is reported as such (the page offers Retry)", () => {
  const { ws, ends } = setup();
  ws.open();
  ws.text({ type: "error", code: "TETHER_ERR_DEVICE_OFFLINE", message: "robot-7 is offline" });
  ws.end(4004);
  assert.deepEqual(ends, [
    { kind: "error", code: "TETHER_ERR_DEVICE_OFFLINE", message: "robot-7 is offline", beforeReady: true },
  ]);
});

test("a dropped connection after ready ends as closed with its code; close() by the user reports nothing", () => {
  const a = setup();
  a.ws.open();
  a.ws.text(READY);
  a.ws.end(1006);
  assert.deepEqual(a.ends, [{ kind: "closed", closeCode: 1006, reason: "", beforeReady: false }]);

  const b = setup();
  b.ws.open();
  b.ws.text(READY);
  b.link.close();
  assert.equal(b.ws.closed?.code, 1000);
  b.ws.end(1000);
  assert.deepEqual(b.ends, [], "the page knows it closed the link itself");
});

test("a malformed frame or text closes the link with the protocol code", () => {
  const { ws, ends } = setup();
  ws.open();
  ws.text(READY);
  ws.frame(new Uint8Array([99, 0, 0, 0, 0]));
  assert.equal(ws.closed?.code, 4010);
  ws.end(4010);
  assert.equal(ends[0].kind, "error");

  const t = setup();
  t.ws.open();
  t.ws.onmessage?.({ data: "not json" });
  assert.equal(t.ws.closed?.code, 4010);
});

test("frames on other channels and after the end are ignored", () => {
  const { ws, out } = setup();
  ws.open();
  ws.text(READY);
  ws.frame(encodeFrame({ type: FRAME.DATA, ch: 5, data: new Uint8Array(3) }));
  assert.equal(out.length, 0);
  ws.end(1006);
  ws.frame(encodeFrame({ type: FRAME.DATA, ch: 0, data: new Uint8Array(3) }));
  assert.equal(out.length, 0);
});

test("a size message (someone else resized the PTY) reaches onSize; the link knows whether it owns the session", () => {
  const { ws, link, sizes } = setup();
  ws.open();
  assert.equal(link.owner, false, "not before ready");
  ws.text(READY);
  assert.equal(link.owner, true);
  ws.text({ type: "size", cols: 100, rows: 30 });
  ws.text({ type: "size", cols: "wide", rows: 30 });
  assert.deepEqual(sizes, [[100, 30]]);
});

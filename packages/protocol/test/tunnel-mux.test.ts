// @matrix: once
// The tunnel multiplexer (docs/protocol.md §17.2): two muxes back to back, each send delivered to
// the other asynchronously as a socket would, proving order, flow control and closing.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { test } from "node:test";
import { decodeFrame, encodeFrame, FRAME, type Frame, FrameError, TUNNEL_LIMITS } from "../src/tunnel.js";
import { type MuxChannel, type OpenFailed, TunnelMux } from "../src/tunnel-mux.js";

interface Side {
  mux: TunnelMux;
  /** Frames this side sent, decoded. */
  sent: Frame[];
  /** FrameErrors this side's receive() threw. */
  errors: Error[];
}

function pair(window?: number): { a: Side; b: Side; flush(): Promise<void> } {
  const mk = (): Side => ({ mux: undefined as unknown as TunnelMux, sent: [], errors: [] });
  const a = mk();
  const b = mk();
  let inFlight = 0;
  let idle: (() => void) | undefined;
  const wire = (from: Side, to: Side) =>
    new TunnelMux({
      window,
      send(frame) {
        from.sent.push(decodeFrame(frame));
        inFlight++;
        setImmediate(() => {
          try {
            to.mux.receive(frame);
          } catch (e) {
            to.errors.push(e as Error);
          }
          if (--inFlight === 0) idle?.();
        });
      },
    });
  a.mux = wire(a, b);
  b.mux = wire(b, a);
  /** Wait until no frame is in flight (everything sent so far was received and answered). */
  const flush = async () => {
    for (let i = 0; i < 3; i++) {
      if (inFlight > 0) await new Promise<void>((r) => (idle = r));
      await new Promise((r) => setImmediate(r));
    }
  };
  return { a, b, flush };
}

const dataBytes = (frames: Frame[], type: number = FRAME.DATA) =>
  frames.reduce((n, f) => n + (f.type === type && "data" in f ? f.data.length : 0), 0);

/** Everything until 'end' (not for-await, which destroys the stream when done: no half close). */
function readAll(ch: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  return new Promise((resolve, reject) => {
    ch.on("data", (c: Buffer) => parts.push(c));
    ch.on("end", () => resolve(Buffer.concat(parts)));
    ch.on("error", reject);
  });
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

test("bytes arrive intact and in order, split into frames of at most maxDataBytes", async () => {
  const { a, b } = pair();
  const ca = a.mux.channel(0);
  const cb = b.mux.channel(0);
  const payload = randomBytes(5 * 1024 * 1024 + 17);
  const got = readAll(cb);
  // Many writes of odd sizes, as a PTY or a socket would produce.
  let off = 0;
  while (off < payload.length) {
    const n = Math.min(payload.length - off, 1 + Math.floor(Math.random() * 100_000));
    if (!ca.write(payload.subarray(off, off + n))) await once(ca, "drain");
    off += n;
  }
  ca.end();
  const buf = await got;
  assert.equal(buf.length, payload.length);
  assert.equal(sha(buf), sha(payload));
  assert.ok(a.sent.every((f) => !("data" in f) || f.data.length <= TUNNEL_LIMITS.maxDataBytes));
  assert.equal(a.mux.bytesSent, payload.length);
  assert.equal(b.mux.bytesReceived, payload.length);
  // Grants are batched: far fewer WINDOW frames than DATA frames' worth of small writes.
  const windows = b.sent.filter((f) => f.type === FRAME.WINDOW).length;
  assert.ok(windows <= payload.length / (TUNNEL_LIMITS.window / 4) + 2, `${windows} WINDOW frames`);
  assert.deepEqual(a.errors, []);
  assert.deepEqual(b.errors, []);
});

test("a reader that never reads stops the writer after one window; reading resumes the flow", async () => {
  const window = 64 * 1024;
  const { a, b, flush } = pair(window);
  const ca = a.mux.channel(0);
  const cb = b.mux.channel(0);
  let writes = 0;
  let refused = false;
  const chunk = Buffer.alloc(4096, 0x79); // `yes`
  // Write until write() says stop, then keep going a little (a producer ignoring backpressure).
  for (let i = 0; i < 1000; i++) {
    writes++;
    if (!ca.write(chunk)) {
      refused = true;
      break;
    }
    await flush();
  }
  assert.ok(refused, "write() returned false");
  await flush();
  const sent = dataBytes(a.sent);
  assert.equal(sent, window, "exactly one window went out");
  assert.ok(writes * chunk.length <= window + ca.writableHighWaterMark + chunk.length);
  // More writes pile up locally, bounded by what the caller chose to do; nothing more is sent.
  for (let i = 0; i < 10; i++) ca.write(chunk);
  await flush();
  assert.equal(dataBytes(a.sent), window);
  assert.equal(cb.readableLength, window, "the receiver holds exactly one window");
  // Reading resumes it.
  const total = writes * chunk.length + 10 * chunk.length;
  ca.end();
  const got = await readAll(cb);
  assert.equal(got.length, total);
  assert.deepEqual(a.errors, []);
  assert.deepEqual(b.errors, []);
});

test("pipe() pauses a fast producer: the sender's memory stays bounded", async () => {
  const window = 32 * 1024;
  const { a, b, flush } = pair(window);
  const ca = a.mux.channel(0);
  b.mux.channel(0); // never read
  let produced = 0;
  const { Readable } = await import("node:stream");
  const yes = new Readable({
    read() {
      produced += 1024;
      this.push(Buffer.alloc(1024, 0x79));
    },
  });
  yes.pipe(ca);
  for (let i = 0; i < 20; i++) await flush();
  assert.equal(dataBytes(a.sent), window);
  // The producer was paused: one window, the channel's and the producer's buffers, no more.
  assert.ok(produced <= window + ca.writableHighWaterMark + yes.readableHighWaterMark + 2048, `${produced}`);
  yes.unpipe(ca);
  yes.destroy();
});

test("EOF is a half close: the other direction stays open", async () => {
  const { a, b, flush } = pair();
  const ca = a.mux.channel(7);
  const cb = b.mux.channel(7);
  const closed = Promise.all([once(ca, "close"), once(cb, "close")]);
  ca.end("request");
  assert.equal((await readAll(cb)).toString(), "request");
  const back = readAll(ca);
  cb.end("response");
  assert.equal((await back).toString(), "response");
  // Both directions ended: both ends close by themselves and exchange CLOSE once each.
  await closed;
  await flush();
  assert.equal(a.sent.filter((f) => f.type === FRAME.CLOSE).length, 1);
  assert.equal(b.sent.filter((f) => f.type === FRAME.CLOSE).length, 1);
  assert.equal(a.mux.size, 0);
  assert.equal(b.mux.size, 0);
});

test("CLOSE both ways: destroy() sends CLOSE once, the peer answers and closes; ids are freed", async () => {
  for (const [x, y] of [
    ["a", "b"],
    ["b", "a"],
  ] as const) {
    const p = pair();
    const cx = p[x].mux.channel(3);
    const cy = p[y].mux.channel(3);
    cy.resume();
    cx.destroy();
    cx.destroy();
    await once(cy, "close");
    await p.flush();
    assert.equal(p[x].sent.filter((f) => f.type === FRAME.CLOSE).length, 1);
    assert.equal(p[y].sent.filter((f) => f.type === FRAME.CLOSE).length, 1);
    assert.equal(p[x].mux.size, 0);
    assert.equal(p[y].mux.size, 0);
    // Writes to a closed channel are dropped, never an 'error' that would crash the process.
    cy.write("late");
    assert.deepEqual(p[x].errors, []);
    assert.deepEqual(p[y].errors, []);
  }
});

test("output received just before CLOSE is still delivered to a slow reader", async () => {
  const { a, b, flush } = pair();
  const ca = a.mux.channel(0);
  const cb = b.mux.channel(0);
  ca.write("last words");
  ca.exit(3, null);
  await flush();
  assert.equal(cb.destroyed, false, "kept until read");
  const closed = once(cb, "close");
  assert.equal((await readAll(cb)).toString(), "last words");
  await closed;
  assert.equal(b.mux.size, 0);
});

test("connect: OPEN answered by ready() resolves, by fail() rejects with the code", async () => {
  const { a, b } = pair();
  b.mux.on("open", (ch: MuxChannel, host: string, port: number) => {
    if (port === 8080) ch.ready();
    else ch.fail("TETHER_ERR_FORWARD_FAILED", `connect ${host}:${port}: ECONNREFUSED`);
  });
  const ok = await a.mux.connect(1, "localhost", 8080);
  assert.equal(ok.id, 1);
  const peer = b.mux.get(1);
  assert.ok(peer);
  ok.write("ping");
  const [d] = await once(peer, "data");
  assert.equal(d.toString(), "ping");
  await assert.rejects(a.mux.connect(2, "localhost", 9), (e: OpenFailed) => {
    assert.equal(e.code, "TETHER_ERR_FORWARD_FAILED");
    assert.match(e.message, /localhost:9: ECONNREFUSED/);
    return true;
  });
  assert.equal(a.mux.get(2), undefined);
  assert.equal(b.mux.get(2), undefined);
  // The id is free again after a refusal.
  await a.mux.connect(2, "localhost", 8080);
});

test("an OPEN nobody listens for is refused; an OPEN beyond maxChannels too", async () => {
  const { a } = pair();
  await assert.rejects(a.mux.connect(1, "localhost", 22), /does not accept channels/);
  const small = new TunnelMux({ send: () => {}, maxChannels: 1 });
  const answers: Frame[] = [];
  const t = new TunnelMux({
    maxChannels: 1,
    send: (f) => answers.push(decodeFrame(f)),
  });
  t.on("open", (ch: MuxChannel) => ch.ready());
  t.receive(encodeFrame({ type: FRAME.OPEN, ch: 1, host: "h", port: 1 }));
  t.receive(encodeFrame({ type: FRAME.OPEN, ch: 2, host: "h", port: 1 }));
  assert.deepEqual(
    answers.map((f) => [f.type, f.ch, "code" in f ? f.code : ""]),
    [
      [FRAME.OPEN_OK, 1, ""],
      [FRAME.OPEN_FAIL, 2, "TETHER_ERR_TUNNEL_LIMIT"],
    ],
  );
  small.channel(0);
  assert.throws(() => small.channel(1), /at most 1 channels/);
});

test("resize, signal and exit: EXIT goes out only after every queued output byte, stderr included", async () => {
  const window = 16 * 1024;
  const { a, b, flush } = pair(window);
  const agent = a.mux.channel(0);
  const server = b.mux.channel(0);
  const events: unknown[][] = [];
  agent.on("resize", (c, r) => events.push(["resize", c, r]));
  agent.on("signal", (s) => events.push(["signal", s]));
  server.resize(120, 40);
  server.resize(0, 100_000); // clamped, never refused
  server.signal("INT");
  await flush();
  assert.deepEqual(events, [
    ["resize", 120, 40],
    ["resize", 1, TUNNEL_LIMITS.maxRows],
    ["signal", "INT"],
  ]);
  // More output than the window, then exit at once: EXIT must wait for the reader.
  const out = randomBytes(3 * window);
  const err = randomBytes(window + 5);
  agent.write(out);
  agent.stderrOut.write(err);
  agent.exit(null, "TERM");
  await flush();
  assert.equal(a.sent.filter((f) => f.type === FRAME.EXIT).length, 0, "EXIT held behind the output");
  let exited: unknown[] | undefined;
  let outAtExit = -1;
  const outP = readAll(server);
  const errP = readAll(server.stderr);
  let outLen = 0;
  server.on("data", (d: Buffer) => {
    outLen += d.length;
  });
  server.on("exit", (code, signal) => {
    exited = [code, signal];
    outAtExit = outLen;
  });
  const [o, e] = await Promise.all([outP, errP]);
  assert.equal(sha(o), sha(out));
  assert.equal(sha(e), sha(err));
  assert.deepEqual(exited, [null, "TERM"]);
  assert.ok(outAtExit <= out.length);
  await flush();
  const types = a.sent.map((f) => f.type);
  const exitAt = types.indexOf(FRAME.EXIT);
  assert.ok(exitAt > types.lastIndexOf(FRAME.DATA) && exitAt > types.lastIndexOf(FRAME.DATA_ERR));
  assert.equal(types[exitAt + 1], FRAME.CLOSE);
  assert.equal(types.indexOf(FRAME.EOF), -1, "exit sends EXIT, not EOF");
  assert.equal(a.mux.size, 0);
  assert.equal(b.mux.size, 0);
});

test("stderr is apart from stdout and shares the window", async () => {
  const window = 8 * 1024;
  const { a, b, flush } = pair(window);
  const ca = a.mux.channel(0);
  const cb = b.mux.channel(0);
  ca.write("out");
  ca.stderrOut.write("err");
  ca.stderrOut.write(Buffer.alloc(window, 0x65)); // stderr fills the window
  ca.write("more out");
  await flush();
  const [o] = await once(cb, "data");
  assert.equal(o.toString(), "out");
  await flush();
  assert.equal(dataBytes(a.sent, FRAME.DATA), 3, "stdout waits for the window stderr used");
  const errAll = readAll(cb.stderr);
  await flush();
  assert.equal(dataBytes(a.sent, FRAME.DATA), 3 + "more out".length);
  ca.exit(0, null);
  const e = await errAll;
  assert.equal(e.subarray(0, 3).toString(), "err");
  assert.equal(e.length, 3 + window);
});

test("a peer that sends more than the window is a protocol error", () => {
  const t = new TunnelMux({ send: () => {}, window: 1024 });
  t.channel(0);
  t.receive(encodeFrame({ type: FRAME.DATA, ch: 0, data: new Uint8Array(1000) }));
  assert.throws(
    () => t.receive(encodeFrame({ type: FRAME.DATA_ERR, ch: 0, data: new Uint8Array(25) })),
    (e) => e instanceof FrameError && /more than the window/.test(e.message),
  );
  // Granting more than the window is as wrong.
  const u = new TunnelMux({ send: () => {}, window: 1024 });
  u.channel(0);
  assert.throws(() => u.receive(encodeFrame({ type: FRAME.WINDOW, ch: 0, bytes: 1 })), FrameError);
});

test("malformed frames and frames for channels that are not open throw FrameError", () => {
  const t = new TunnelMux({ send: () => {} });
  t.channel(0);
  const bad: Uint8Array[] = [
    new Uint8Array([]),
    new Uint8Array([FRAME.DATA, 0, 0]),
    new Uint8Array([99, 0, 0, 0, 0]),
    new Uint8Array([FRAME.WINDOW, 0, 0, 0, 0, 1]),
    new Uint8Array([FRAME.WINDOW, 0, 0, 0, 0, 0, 0, 0, 0]),
    new Uint8Array([FRAME.SIGNAL, 0, 0, 0, 0, ...Buffer.from("SEGV")]),
    new Uint8Array([FRAME.OPEN, 0, 0, 0, 5, ...Buffer.from("{not json")]),
    new Uint8Array([FRAME.EOF, 0, 0, 0, 0, 1]),
    new Uint8Array(TUNNEL_LIMITS.maxFrameBytes + 1).fill(FRAME.DATA, 0, 1),
    encodeFrame({ type: FRAME.DATA, ch: 9, data: new Uint8Array(1) }),
    encodeFrame({ type: FRAME.OPEN, ch: 0, host: "h", port: 1 }),
  ];
  for (const m of bad)
    assert.throws(() => t.receive(m), FrameError, Buffer.from(m.subarray(0, 12)).toString("hex"));
  // DATA after EOF, a second EXIT.
  t.receive(encodeFrame({ type: FRAME.EOF, ch: 0 }));
  assert.throws(
    () => t.receive(encodeFrame({ type: FRAME.DATA, ch: 0, data: new Uint8Array(1) })),
    /after EOF/,
  );
  t.channel(1);
  t.receive(encodeFrame({ type: FRAME.EXIT, ch: 1, code: 0, signal: null }));
  assert.throws(() => t.receive(encodeFrame({ type: FRAME.EXIT, ch: 1, code: 0, signal: null })), FrameError);
});

test("destroy(): every channel closes, nothing more is sent, a pending connect rejects", async () => {
  const sent: Frame[] = [];
  const t = new TunnelMux({ send: (f) => sent.push(decodeFrame(f)) });
  const c0 = t.channel(0);
  const pending = t.connect(1, "localhost", 80);
  const closed = Promise.all([
    once(c0, "close"),
    assert.rejects(pending, /closed before the channel opened/),
  ]);
  t.destroy(new Error("socket closed"));
  await closed;
  assert.deepEqual(
    sent.map((f) => f.type),
    [FRAME.OPEN],
  );
  c0.write("x");
  assert.throws(() => t.channel(2), /closed/);
  t.receive(encodeFrame({ type: FRAME.DATA, ch: 0, data: new Uint8Array(1) })); // ignored
});

test("frames the peer sent before it saw our OPEN_FAIL are ignored", () => {
  const t = new TunnelMux({ send: () => {} });
  t.on("open", (ch: MuxChannel) => ch.fail("TETHER_ERR_FORWARD_NOT_ALLOWED", "no"));
  t.receive(encodeFrame({ type: FRAME.OPEN, ch: 4, host: "h", port: 1 }));
  t.receive(encodeFrame({ type: FRAME.DATA, ch: 4, data: new Uint8Array(3) }));
  t.receive(encodeFrame({ type: FRAME.CLOSE, ch: 4 }));
  assert.throws(
    () => t.receive(encodeFrame({ type: FRAME.DATA, ch: 4, data: new Uint8Array(3) })),
    FrameError,
  );
});

// @matrix: once
// One tunnel session's own rules (docs/protocol.md §17.1): idle timeout, maximum length, a dead
// agent connection (no pong), and the recording tap, over a real loopback WebSocket with the test
// as the agent. Time is a fake clock the session reads; its heartbeat pings tell the test a check ran.
import assert from "node:assert/strict";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";
import { TunnelMux } from "@tether/protocol/tunnel-mux";
import pino from "pino";
import WebSocket, { WebSocketServer } from "ws";
import type { Recorder } from "../src/tunnels/recorder.js";
import { Session, type SessionInit } from "../src/tunnels/session.js";
import type { SessionEnd } from "../src/tunnels/types.js";

const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
await once(wss, "listening");
after(() => wss.close());

let now = 1_000_000;
const clock = () => now;

function session(o: Partial<SessionInit> = {}): Session {
  return new Session({
    id: "ses_aaaaaaaaaaaaaaaaaaaa",
    projectId: 1,
    device: { id: "dev_1", name: "robot-7" },
    owner: { userId: 1, username: "alice" },
    ownerAuth: "session",
    kind: "forward",
    tunnelKind: "tcp",
    via: "cli",
    recorded: false,
    startedAt: new Date(now),
    pty: null,
    idleMs: 1000,
    maxMs: 3_600_000,
    clock,
    log: pino({ level: "silent" }),
    checkDestination: async () => {},
    ...o,
  });
}

/** Connect a client (the agent) and attach the server side to the session. */
async function connect(
  s: Session,
  opts: WebSocket.ClientOptions = {},
): Promise<{ ws: WebSocket; mux: TunnelMux }> {
  const attached = once(wss, "connection");
  const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, opts);
  const [server] = (await attached) as [WebSocket];
  s.attach(server);
  await once(ws, "open");
  const mux = new TunnelMux({ send: (f) => ws.send(f) });
  ws.on("message", (d: Buffer) => mux.receive(d));
  ws.on("close", () => mux.destroy());
  return { ws, mux };
}

const ended = (s: Session) => once(s, "end").then(([e]) => e as SessionEnd);

test("idle: traffic keeps a session open; no data either way for idleMs ends it", async () => {
  const s = session();
  const { ws, mux } = await connect(s);
  mux.on("open", (ch) => ch.ready());
  s.goLive();
  const endP = ended(s);
  const ch = await s.openChannel("localhost", 80);
  const tick = async () => {
    // Two pings: the second comes from a check that started after this point.
    await once(ws, "ping");
    await once(ws, "ping");
  };
  now += 900;
  ch.write("typing");
  await tick(); // a check saw the bytes at +900
  now += 900;
  await tick(); // 900 ms quiet: still open
  assert.equal(s.ended, null);
  now += 200;
  const e = await endP;
  assert.equal(e.reason, "idle");
  assert.equal(e.message, "no input or output for 1 s (tether server --tunnel-idle)");
  assert.equal(e.code, "TETHER_ERR_TUNNEL_CLOSED");
  const [code] = await once(ws, "close");
  assert.equal(code, 4008);
});

test("maximum length: a session ends after maxMs however busy it is", async () => {
  // Checks run every idleMs/4; the clock jumps past both limits, and the maximum length wins.
  const s = session({ idleMs: 400, maxMs: 2 * 3_600_000 });
  const { ws } = await connect(s);
  s.goLive();
  const endP = ended(s);
  now += 2 * 3_600_000;
  const e = await endP;
  assert.equal(e.reason, "max-length");
  assert.match(e.message, /open for 2 hours, the most a session may last/);
  await once(ws, "close");
});

test("an agent connection that stops answering pings is cut: device-gone", async () => {
  const s = session({ idleMs: 3_600_000, maxMs: 400 });
  await connect(s, { autoPong: false });
  s.goLive();
  const e = await ended(s);
  assert.equal(e.reason, "device-gone");
  assert.equal(e.message, "device robot-7 went offline");
});

test("recording taps channel 0's output from the first byte and follows resizes, without reading it", async () => {
  const out: string[] = [];
  const sizes: [number, number][] = [];
  let closed = 0;
  const rec: Recorder = {
    output: (d) => out.push(Buffer.from(d).toString()),
    resize: (c, r) => sizes.push([c, r]),
    close: async () => {
      closed++;
    },
  };
  const s = session({
    kind: "shell",
    tunnelKind: "shell",
    recorded: true,
    pty: { cols: 80, rows: 24 },
    startRecorder: () => rec,
  });
  const started = s.started(5000);
  const { mux } = await connect(s);
  const ch0 = mux.channel(0);
  // OPEN_OK and the prompt in one go: the tap must already be there for the prompt.
  ch0.ready();
  ch0.write("$ ");
  await started;
  s.goLive();
  assert.ok(s.main);
  s.main.resize(100, 30);
  const [d] = await once(s.main, "data");
  assert.equal(d.toString(), "$ ");
  assert.deepEqual(out, ["$ "]);
  assert.deepEqual(sizes, [[100, 30]]);
  assert.deepEqual(s.pty, { cols: 100, rows: 30 });
  const endP = ended(s);
  ch0.exit(0, null);
  s.main.resume();
  assert.equal((await endP).reason, "exited");
  await s.closeRecording();
  assert.equal(closed, 1);
});

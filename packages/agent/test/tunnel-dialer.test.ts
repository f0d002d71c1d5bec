// @matrix: once
// The agent's dial-back (docs/protocol.md §17.1): a real WSS server with a self-signed
// certificate plays the server's tunnel endpoint. The dialer pins the CA, presents the token,
// hands shells and tcp channels to the registered handlers, re-checks forward destinations,
// refuses beyond maxTunnels, and closes every channel when the socket goes.
import assert from "node:assert/strict";
import { EventEmitter, once } from "node:events";
import https from "node:https";
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { after, test } from "node:test";
import { TunnelMux } from "@tether/protocol/tunnel-mux";
import pino from "pino";
import { type WebSocket, WebSocketServer } from "ws";
import { createAgentTunnels } from "../src/tunnels/index.js";
import type { AgentChannel, TunnelOpen } from "../src/tunnels/index.js";
import { makeCert } from "./telemetry-test-server.js";

const { cert, key } = makeCert("tether-tunnel-test");
const other = makeCert("someone-else");

interface Dialled {
  req: IncomingMessage;
  ws: WebSocket;
  mux: TunnelMux;
}
const dials = new EventEmitter();
/** When set, upgrades are answered with this status instead. */
let refuseWith: number | undefined;

const server = https.createServer({ cert, key });
const wss = new WebSocketServer({ noServer: true });
server.on("upgrade", (req, socket, head) => {
  if (refuseWith) {
    socket.end(`HTTP/1.1 ${refuseWith} No\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    const mux = new TunnelMux({ send: (f) => ws.send(f) });
    ws.on("message", (d: Buffer) => mux.receive(d));
    ws.on("close", () => mux.destroy());
    dials.emit("dial", { req, ws, mux } satisfies Dialled);
  });
});
server.listen(0, "127.0.0.1");
await once(server, "listening");
const apiUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
after(() => {
  wss.close();
  server.close();
  server.closeAllConnections();
});

/** A logger whose lines the test can wait for. */
function logger() {
  const lines = new EventEmitter();
  const log = pino(
    { level: "debug" },
    new Writable({
      write(chunk, _e, cb) {
        lines.emit("line", JSON.parse(String(chunk)));
        cb();
      },
    }),
  );
  const waitLine = (msg: string) =>
    new Promise<any>((resolve) => {
      const on = (l: any) => {
        if (l.msg === msg) {
          lines.off("line", on);
          resolve(l);
        }
      };
      lines.on("line", on);
    });
  return { log, waitLine };
}

const TOKEN = "t".repeat(43);
let n = 0;
const open = (o: Partial<TunnelOpen>): TunnelOpen => ({
  sid: `ses_${String(++n).padStart(20, "0")}`,
  token: TOKEN,
  kind: "shell",
  ...o,
});
const nextDial = () => once(dials, "dial").then(([d]) => d as Dialled);

test("a shell: pinned TLS, the token and device headers, channel 0 to the handler, input and output", async () => {
  const { log } = logger();
  const t = createAgentTunnels({ apiUrl, caCert: cert, deviceId: "dev_1", log });
  const handed = new Promise<{ id: string; spec: unknown; channel: AgentChannel }>((r) => t.onShell(r));
  const o = open({ shell: { pty: { cols: 80, rows: 24, term: "xterm-256color" } } });
  const dialled = nextDial();
  t.dial(o);
  const d = await dialled;
  assert.equal(d.req.url, `/api/v1/tunnel?sid=${o.sid}`);
  assert.equal(d.req.headers.authorization, `Tunnel ${TOKEN}`);
  assert.equal(d.req.headers["x-tether-device"], "dev_1");
  const server0 = d.mux.channel(0);
  const s = await handed;
  assert.equal(s.id, o.sid);
  assert.deepEqual(s.spec, o.shell);
  assert.equal(t.count(), 1);
  const ready = once(server0, "ready");
  s.channel.ready();
  await ready;
  const out = once(server0, "data");
  s.channel.write("$ ");
  assert.equal(String((await out)[0]), "$ ");
  const input = once(s.channel, "data");
  server0.write("ls\n");
  assert.equal(String((await input)[0]), "ls\n");
  // The server drops the tunnel: the handler's channel closes (it kills the process then).
  const closed = once(s.channel, "close");
  d.ws.close();
  await closed;
  assert.equal(t.count(), 0, "forgotten before its channels close");
});

test("no handler registered: channel 0 or the OPEN is refused with a clear message", async () => {
  const t = createAgentTunnels({ apiUrl, caCert: cert, deviceId: "dev_1", log: pino({ level: "silent" }) });
  let dialled = nextDial();
  t.dial(open({ shell: { pty: null } }));
  let d = await dialled;
  const [code, message] = await once(d.mux.channel(0), "fail");
  assert.equal(code, "TETHER_ERR_SPAWN_FAILED");
  assert.match(message, /does not run shells/);
  d.ws.close();

  dialled = nextDial();
  t.dial(open({ kind: "tcp", tcp: { allow: ["localhost:*"] } }));
  d = await dialled;
  await assert.rejects(d.mux.connect(1, "localhost", 8080), { code: "TETHER_ERR_FORWARD_FAILED" });
  d.ws.close();
});

test("tcp: each OPEN goes to the handler, a destination off the allow-list is refused on the device", async () => {
  const t = createAgentTunnels({ apiUrl, caCert: cert, deviceId: "dev_1", log: pino({ level: "silent" }) });
  const seen: string[] = [];
  t.onTcp((s, ch, dest) => {
    seen.push(`${s.id} ${dest.host}:${dest.port} ${s.allow.join(",")}`);
    ch.ready();
    ch.pipe(ch); // echo
  });
  const o = open({ kind: "tcp", tcp: { allow: ["localhost:8000-8100"] } });
  const dialled = nextDial();
  t.dial(o);
  const d = await dialled;
  const ch = await d.mux.connect(1, "localhost", 8080);
  ch.end("echo");
  const got = await new Promise<string>((r) => {
    let s = "";
    ch.on("data", (c) => (s += c));
    ch.on("end", () => r(s));
  });
  assert.equal(got, "echo");
  await assert.rejects(d.mux.connect(2, "localhost", 22), (e: any) => {
    assert.equal(e.code, "TETHER_ERR_FORWARD_NOT_ALLOWED");
    return true;
  });
  await assert.rejects(d.mux.connect(3, "10.0.0.1", 8080), { code: "TETHER_ERR_FORWARD_NOT_ALLOWED" });
  assert.deepEqual(seen, [`${o.sid} localhost:8080 localhost:8000-8100`]);
  d.ws.close();
});

test("a server whose certificate does not chain to the pinned CA is never talked to", async () => {
  const { log, waitLine } = logger();
  const t = createAgentTunnels({ apiUrl, caCert: other.cert, deviceId: "dev_1", log });
  let upgraded = false;
  const on = () => {
    upgraded = true;
  };
  dials.on("dial", on);
  const failed = waitLine("tunnel connection failed");
  t.dial(open({ shell: { pty: null } }));
  const line = await failed;
  assert.match(line.err.message, /certificate/i);
  dials.off("dial", on);
  assert.equal(upgraded, false);
});

test("a refused dial (401) is logged; beyond maxTunnels nothing is dialled; closeAll closes every channel", async () => {
  const { log, waitLine } = logger();
  const t = createAgentTunnels({ apiUrl, caCert: cert, deviceId: "dev_1", log, maxTunnels: 2 });
  refuseWith = 401;
  const refused = waitLine("the server refused the tunnel");
  t.dial(open({ shell: { pty: null } }));
  assert.equal((await refused).status, 401);
  refuseWith = undefined;

  const channels: AgentChannel[] = [];
  t.onShell((s) => {
    channels.push(s.channel);
    s.channel.ready();
  });
  for (let i = 0; i < 2; i++) {
    const dialled = nextDial();
    t.dial(open({ shell: { pty: null } }));
    const d = await dialled;
    await once(d.mux.channel(0), "ready");
  }
  assert.equal(t.count(), 2);
  const limited = waitLine("refusing a tunnel: 2 are open already (the most)");
  t.dial(open({ shell: { pty: null } }));
  await limited;
  assert.equal(t.count(), 2);
  const closes = channels.map((c) => once(c, "close"));
  t.closeAll();
  await Promise.all(closes);
});

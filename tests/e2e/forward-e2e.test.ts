// @matrix: once
// (The database behind sessions and keys is covered by terminal-ws, tunnel-layer and the store tests.)
/**
 * Port forwarding end to end (docs/protocol.md §17.5): a real server process, a real agent (the
 * "device" is this machine, so its loopback is ours), and the SDK's forward client (the one
 * `tether forward` uses) or a raw `ws` client speaking the user protocol with a TunnelMux.
 * An HTTP request through the forward; 20 connections at once with their bytes intact; a
 * destination off the allow-list; a refused port on the device that leaves the session usable;
 * the allow-list changed by an admin, for new sessions and for new connections of an open one;
 * a viewer, a foreign Origin, bad first messages and frames refused.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import http from "node:http";
import net from "node:net";
import type { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { DEFAULT_FORWARD_ALLOW, FORWARD_WS_PATH, TUNNEL_CLOSE } from "@tether/protocol";
import { type MuxChannel, OpenFailed, TunnelMux } from "@tether/protocol/tunnel-mux";
import { openForward, TunnelError } from "@tether/sdk/node";
import WebSocket from "ws";
import { sessionCookie, userToken } from "../support/api-lookups.js";
import { freePort } from "../support/net.js";
import {
  type AgentHandle,
  cleanupTempDirs,
  enrollOnline,
  makeApi,
  type ServerHandle,
  startServer,
  waitFor,
} from "./harness.js";

let server: ServerHandle;
let robot3: AgentHandle;
let httpServer: http.Server;
let httpPort: number;
let echo: net.Server;
let echoPort: number;
const tok: Record<string, string> = {};
const sockets = new Set<net.Socket>();
/** The echo service's connections, newest last (the device's side of forwarded connections). */
const echoConns: net.Socket[] = [];

before(async () => {
  server = await startServer();
  tok.admin = server.token;
  // robot-2 and robot-3 are for the tests that revoke or kill them.
  const [, , three] = await Promise.all(
    ["robot-1", "robot-2", "robot-3"].map((name) => enrollOnline(server, { name })),
  );
  robot3 = three.agent;
  tok.ops = await userToken(server, "ops", "operator");
  tok.watcher = await userToken(server, "watcher", "viewer");
  // The robot's web UI: on the device's loopback.
  httpServer = http.createServer((req, res) => {
    res.setHeader("content-type", "text/plain");
    res.end(`robot web ui: ${req.method} ${req.url}\n`);
  });
  httpServer.listen(0, "127.0.0.1");
  await once(httpServer, "listening");
  httpPort = (httpServer.address() as net.AddressInfo).port;
  // An echo service that answers EOF with EOF (half-close carried both ways).
  echo = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    echoConns.push(s);
    s.once("close", () => sockets.delete(s));
    s.on("error", () => {});
    s.pipe(s);
  });
  echo.listen(0, "127.0.0.1");
  await once(echo, "listening");
  echoPort = (echo.address() as net.AddressInfo).port;
});
after(async () => {
  for (const s of sockets) s.destroy();
  httpServer?.closeAllConnections();
  httpServer?.close();
  echo?.close();
  await server?.stop();
  await cleanupTempDirs();
});

const cfg = (who = "admin") => ({
  url: server.info.url,
  token: tok[who],
  caCert: server.ca,
  readyTimeoutMs: 30_000,
});
const forwardTo = (port: number, o: { who?: string; host?: string } = {}) =>
  openForward(cfg(o.who), { device: "robot-1", host: o.host ?? "127.0.0.1", port });

async function readAll(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** What a failed promise rejected with (fails the test if it resolved). */
async function rejection<T>(p: Promise<T>): Promise<any> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  assert.fail("expected a refusal");
}

async function setAllow(list: readonly string[]): Promise<void> {
  await server.api.call("PUT", "/api/v1/project/tunnels", { forwardAllow: list });
}

describe("forwarding", () => {
  test("an HTTP request through the forward returns the device's web page; the session is listed and ends closed", async () => {
    const fwd = await forwardTo(httpPort);
    assert.match(fwd.session, /^ses_[a-z0-9]{20}$/);
    assert.equal(fwd.device.name, "robot-1");
    const ch = await fwd.connect();
    ch.end(`GET /status HTTP/1.1\r\nHost: robot\r\nConnection: close\r\n\r\n`);
    const reply = (await readAll(ch)).toString();
    assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(reply, /robot web ui: GET \/status\n$/);

    const live = await server.api.call("GET", `/api/v1/sessions/${fwd.session}`);
    assert.equal(live.kind, "forward");
    assert.equal(live.target, `127.0.0.1:${httpPort}`);
    assert.equal(live.via, "cli");
    assert.equal(live.live, true);

    fwd.close();
    const end = await fwd.done;
    assert.equal(end.closeCode, TUNNEL_CLOSE.normal);
    const ended = await waitFor(async () => {
      const v = await server.api.call("GET", `/api/v1/sessions/${fwd.session}`);
      return v.live ? undefined : v;
    }, "the session ended");
    assert.equal(ended.endReason, "closed");
    assert.ok(ended.bytesOut > 0 && ended.bytesIn > 0, JSON.stringify(ended));
  });

  test("20 connections at once, each with its own payload (over a window each), come back intact", async () => {
    const fwd = await forwardTo(echoPort, { who: "ops" });
    try {
      const runs = Array.from({ length: 20 }, async (_, i) => {
        const ch = await fwd.connect();
        const data = Buffer.concat([Buffer.from(`connection ${i}:`), randomBytes(384 * 1024 + i * 1000)]);
        const back = readAll(ch);
        // Write with backpressure, then EOF: the echo server ends after echoing everything.
        for (let off = 0; off < data.length; off += 64 * 1024)
          if (!ch.write(data.subarray(off, off + 64 * 1024))) await once(ch, "drain");
        ch.end();
        const got = await back;
        assert.equal(got.length, data.length, `connection ${i}: length`);
        assert.equal(sha(got), sha(data), `connection ${i}: bytes`);
      });
      await Promise.all(runs);
    } finally {
      fwd.close();
      await fwd.done;
    }
  });

  test("a refused port on the device fails that connection with FORWARD_FAILED; the session stays usable", async () => {
    const port = await freePort();
    const fwd = await forwardTo(port);
    try {
      const err = await rejection(fwd.connect());
      assert.ok(err instanceof TunnelError, String(err));
      assert.equal(err.code, "TETHER_ERR_FORWARD_FAILED");
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port} refused on the device`));
      // Something starts listening there: the same session now connects.
      const late = net.createServer((s) => s.end("late service\n"));
      late.listen(port, "127.0.0.1");
      await once(late, "listening");
      try {
        const ch = await fwd.connect();
        ch.end();
        assert.equal((await readAll(ch)).toString(), "late service\n");
      } finally {
        late.close();
      }
    } finally {
      fwd.close();
      await fwd.done;
    }
  });
});

describe("the allow-list", () => {
  test("a destination off the default list is refused before any connection (FORWARD_NOT_ALLOWED, 4003)", async () => {
    const settings = await server.api.call("GET", "/api/v1/project/tunnels");
    assert.deepEqual(settings.forwardAllow, [...DEFAULT_FORWARD_ALLOW]);
    const err = await rejection(forwardTo(80, { host: "10.0.0.1" }));
    assert.ok(err instanceof TunnelError, String(err));
    assert.equal(err.code, "TETHER_ERR_FORWARD_NOT_ALLOWED");
    assert.equal(err.closeCode, TUNNEL_CLOSE.refused);
    assert.match(err.message, /10\.0\.0\.1:80 is not on the project's forward allow-list/);
  });

  test("an admin's change applies to new sessions and to new connections of an open one", async () => {
    const open = await forwardTo(httpPort);
    try {
      await setAllow(["localhost:*"]);
      // A new session to 127.0.0.1 is refused now…
      const err = await rejection(forwardTo(httpPort));
      assert.equal(err.code, "TETHER_ERR_FORWARD_NOT_ALLOWED");
      // …and so is a new connection of the session opened before the change, which stays open.
      const inSession = await rejection(open.connect());
      assert.equal(inSession.code, "TETHER_ERR_FORWARD_NOT_ALLOWED");
      // Exactly this port allowed again: the same session connects.
      await setAllow([`127.0.0.1:${httpPort}`]);
      const ch = await open.connect();
      ch.end("GET / HTTP/1.1\r\nHost: robot\r\nConnection: close\r\n\r\n");
      assert.match((await readAll(ch)).toString(), /robot web ui: GET \/\n/);
      const other = await rejection(forwardTo(echoPort));
      assert.equal(other.code, "TETHER_ERR_FORWARD_NOT_ALLOWED");
    } finally {
      await setAllow([...DEFAULT_FORWARD_ALLOW]);
      open.close();
      await open.done;
    }
  });

  test("only an admin changes the list, and a bad entry is refused", async () => {
    const ops = await fetchAs("ops", "PUT", "/api/v1/project/tunnels", { forwardAllow: ["10.0.0.1:*"] });
    assert.equal(ops.status, 403);
    const bad = await fetchAs("admin", "PUT", "/api/v1/project/tunnels", { forwardAllow: ["10.0.0.1"] });
    assert.equal(bad.status, 400);
    assert.deepEqual((await server.api.call("GET", "/api/v1/project/tunnels")).forwardAllow, [
      ...DEFAULT_FORWARD_ALLOW,
    ]);
  });
});

function fetchAs(who: string, method: string, path: string, body: unknown) {
  return makeApi(server.info.url, server.ca, tok[who]).request(method, path, body);
}

// ---------------------------------------------------------------------------------------------
// A raw client: the user protocol by hand, for what the SDK never sends.

interface Raw {
  ws: WebSocket;
  mux: TunnelMux;
  /** Text messages, parsed, in order. */
  next(): Promise<any>;
  closed: Promise<{ code: number }>;
}

function raw(o: {
  headers?: Record<string, string>;
  first?: unknown;
}): Promise<Raw | { status: number; body: any }> {
  const url = `${server.info.url.replace(/^https:/, "wss:")}${FORWARD_WS_PATH}`;
  const ws = new WebSocket(url, {
    ca: server.ca,
    headers: o.headers ?? { authorization: `Bearer ${tok.admin}` },
  });
  const mux = new TunnelMux({ send: (f) => ws.readyState === ws.OPEN && ws.send(f) });
  const texts: any[] = [];
  const waiters: ((m: any) => void)[] = [];
  ws.on("message", (data, isBinary) => {
    if (isBinary) return mux.receive(data as Buffer);
    const m = JSON.parse(String(data));
    const w = waiters.shift();
    if (w) w(m);
    else texts.push(m);
  });
  const closed = new Promise<{ code: number }>((r) => ws.once("close", (code) => r({ code })));
  ws.on("close", () => mux.destroy());
  return new Promise((resolve, reject) => {
    ws.once("unexpected-response", (_req, res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(parts).toString()) }),
      );
    });
    ws.once("error", reject);
    ws.once("open", () => {
      if (o.first !== undefined) ws.send(typeof o.first === "string" ? o.first : JSON.stringify(o.first));
      resolve({
        ws,
        mux,
        closed,
        next: () => (texts.length ? Promise.resolve(texts.shift()) : new Promise((r) => waiters.push(r))),
      });
    });
  });
}

async function refusedUpgrade(o: Parameters<typeof raw>[0]): Promise<{ status: number; body: any }> {
  const r = await raw(o);
  assert.ok("status" in r, "the upgrade should have been refused");
  return r as { status: number; body: any };
}

async function opened(o: Parameters<typeof raw>[0]): Promise<Raw> {
  const r = await raw(o);
  assert.ok("ws" in r, `the upgrade was refused: ${JSON.stringify(r)}`);
  return r as Raw;
}

describe("refusals", () => {
  test("a viewer is refused before the upgrade (403 FORBIDDEN), and so is no credential (401)", async () => {
    const viewer = await rejection(forwardTo(httpPort, { who: "watcher" }));
    assert.ok(viewer instanceof TunnelError, String(viewer));
    assert.equal(viewer.status, 403);
    assert.equal(viewer.code, "TETHER_ERR_FORBIDDEN");
    const none = await refusedUpgrade({ headers: {} });
    assert.equal(none.status, 401);
  });

  test("a foreign Origin is refused, with a token or a cookie; a cookie needs an Origin", async () => {
    const evil = "https://evil.example";
    const t = await refusedUpgrade({ headers: { authorization: `Bearer ${tok.admin}`, origin: evil } });
    assert.deepEqual([t.status, t.body.error.code], [403, "TETHER_ERR_BAD_ORIGIN"]);
    const { cookie } = await sessionCookie(server.info.url, server.ca, "ops", "ops-password-1");
    const c = await refusedUpgrade({ headers: { cookie, origin: evil } });
    assert.deepEqual([c.status, c.body.error.code], [403, "TETHER_ERR_BAD_ORIGIN"]);
    const bare = await refusedUpgrade({ headers: { cookie } });
    assert.deepEqual([bare.status, bare.body.error.code], [403, "TETHER_ERR_BAD_ORIGIN"]);
    // The same cookie from the server's own origin is accepted.
    const own = await opened({
      headers: { cookie, origin: new URL(server.info.url).origin },
      first: { type: "open", device: "robot-1", host: "127.0.0.1", port: httpPort },
    });
    assert.equal((await own.next()).type, "ready");
    own.ws.close();
    await own.closed;
  });

  test("bad first messages close with a protocol error (4010)", async () => {
    for (const first of [
      "not json",
      { type: "open", device: "robot-1", host: "127.0.0.1" },
      { type: "open", device: "robot-1", host: "127.0.0.1", port: 0 },
      { type: "open", device: "robot-1", host: "127.0.0.1", port: 80, extra: 1 },
      { type: "join", session: "ses_aaaaaaaaaaaaaaaaaaaa" },
    ]) {
      const c = await opened({ first });
      const e = await c.next();
      assert.deepEqual([e.type, e.code], ["error", "TETHER_ERR_BAD_REQUEST"], JSON.stringify(first));
      assert.equal((await c.closed).code, TUNNEL_CLOSE.protocol);
    }
  });

  test("frames before ready, or malformed, close with a protocol error", async () => {
    const early = await opened({});
    early.ws.send(Buffer.from([4, 0, 0, 0, 1, 65]));
    assert.equal((await early.next()).code, "TETHER_ERR_BAD_REQUEST");
    assert.equal((await early.closed).code, TUNNEL_CLOSE.protocol);

    const bad = await opened({
      first: { type: "open", device: "robot-1", host: "127.0.0.1", port: httpPort },
    });
    const ready = await bad.next();
    assert.equal(ready.type, "ready");
    bad.ws.send(Buffer.from([99, 0, 0, 0, 1]));
    assert.match((await bad.next()).message, /unknown frame type 99/);
    assert.equal((await bad.closed).code, TUNNEL_CLOSE.protocol);
    const ended = await waitFor(async () => {
      const v = await server.api.call("GET", `/api/v1/sessions/${ready.session}`);
      return v.live ? undefined : v;
    }, "the session ended with its socket");
    assert.equal(ended.endReason, "closed");
  });

  test("a connection to another destination than the session's is refused; the session goes on", async () => {
    const c = await opened({ first: { type: "open", device: "robot-1", host: "127.0.0.1", port: httpPort } });
    assert.equal((await c.next()).type, "ready");
    const err = await rejection(c.mux.connect(1, "127.0.0.1", echoPort));
    assert.ok(err instanceof OpenFailed);
    assert.equal(err.code, "TETHER_ERR_FORWARD_NOT_ALLOWED");
    assert.match(err.message, new RegExp(`goes to 127\\.0\\.0\\.1:${httpPort} only`));
    const ch: MuxChannel = await c.mux.connect(3, "127.0.0.1", httpPort);
    ch.end("GET /x HTTP/1.1\r\nHost: r\r\nConnection: close\r\n\r\n");
    assert.match((await readAll(ch)).toString(), /robot web ui: GET \/x/);
    c.ws.close();
    await c.closed;
  });

  test("an unknown device is unreachable (4004, DEVICE_NOT_FOUND)", async () => {
    const err = await rejection(
      openForward(cfg(), { device: "no-such-robot", host: "127.0.0.1", port: httpPort }),
    );
    assert.equal(err.code, "TETHER_ERR_DEVICE_NOT_FOUND");
    assert.equal(err.closeCode, TUNNEL_CLOSE.unreachable);
  });
});

describe("how a forward ends", () => {
  test("a device's session limit refuses one more forward (TUNNEL_LIMIT, 4003)", async () => {
    const to = { device: "robot-2", host: "127.0.0.1", port: echoPort };
    const open = [];
    try {
      // The server's default: 8 sessions per device.
      for (let i = 0; i < 8; i++) open.push(await openForward(cfg(), to));
      const err = await rejection(openForward(cfg(), to));
      assert.equal(err.code, "TETHER_ERR_TUNNEL_LIMIT");
      assert.equal(err.closeCode, TUNNEL_CLOSE.refused);
    } finally {
      for (const f of open) f.close();
      await Promise.all(open.map((f) => f.done));
    }
  });

  test("revoking the device ends its forward (4009) and drops the device's connections", async () => {
    const fwd = await openForward(cfg(), { device: "robot-2", host: "127.0.0.1", port: echoPort });
    const ch = await fwd.connect();
    ch.write("ping");
    const [back] = await once(ch, "data");
    assert.equal(String(back), "ping");
    const deviceSide = echoConns[echoConns.length - 1];
    const deviceSideClosed = deviceSide.closed ? Promise.resolve() : once(deviceSide, "close");
    await server.api.call("POST", "/api/v1/devices/robot-2/revoke", {});
    const end = await fwd.done;
    assert.equal(end.closeCode, TUNNEL_CLOSE.revoked);
    assert.equal(end.error?.code, "TETHER_ERR_TUNNEL_CLOSED");
    await deviceSideClosed;
    assert.ok(ch.destroyed || ch.readableEnded, "the local connection's channel is gone");
  });

  test("the agent dying ends its forward as unreachable (4004)", async () => {
    const fwd = await openForward(cfg(), { device: "robot-3", host: "127.0.0.1", port: echoPort });
    const ch = await fwd.connect();
    ch.on("error", () => {});
    await robot3.kill();
    const end = await fwd.done;
    assert.equal(end.closeCode, TUNNEL_CLOSE.unreachable);
    assert.equal(end.error?.code, "TETHER_ERR_TUNNEL_CLOSED");
    assert.match(end.error?.message ?? "", /robot-3/);
  });
});

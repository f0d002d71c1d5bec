// @matrix: store
/**
 * The tunnel layer end to end (docs/protocol.md §17.1, §17.2): a real server (in this process,
 * so the test drives its TunnelLayer directly) and real agent processes that dial back over
 * WSS with their single-use tokens; port-forward sessions to a local TCP echo server carry
 * bytes both ways. Where the test needs to be the agent (bad tokens, a device that never dials,
 * protocol errors, a shell's exit), it intercepts `tunnel.open` on the control link and dials
 * with its own WebSocket and TunnelMux. Every wait is on an event or a state, never a sleep.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import net, { type AddressInfo } from "node:net";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { type DownBody, TUNNEL_AGENT_PATH, TUNNEL_CLOSE } from "@tether/protocol";
import { TunnelMux } from "@tether/protocol/tunnel-mux";
import { createServer, type TetherServer } from "@tether/server";
import pino from "pino";
import WebSocket from "ws";
import {
  type AgentHandle,
  type Api,
  cleanupTempDirs,
  databaseFor,
  enrollOnline,
  makeApi,
  type ServerHandle,
  tempDir,
  waitFor,
} from "./harness.js";

type Open = DownBody<"tunnel.open">;
type Layer = TetherServer["tunnels"];
type Principal = Parameters<Layer["open"]>[0]["principal"];
type Session = Awaited<ReturnType<Layer["open"]>>;
type End = NonNullable<Session["ended"]>;

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** A TCP echo server on loopback (the device's "web UI"). */
async function echoServer(): Promise<{ port: number; close(): void }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return {
    port: (srv.address() as AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      srv.close();
    },
  };
}

/** Everything a readable gives until it ends. */
function readAll(r: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  return new Promise((resolve, reject) => {
    r.on("data", (c: Buffer) => parts.push(c));
    r.on("end", () => resolve(Buffer.concat(parts)));
    r.on("error", reject);
  });
}

/** Read exactly n bytes from a stream. */
function readN(r: NodeJS.ReadableStream, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  return new Promise((resolve) => {
    const on = (c: Buffer) => {
      parts.push(c);
      got += c.length;
      if (got >= n) {
        r.off("data", on);
        resolve(Buffer.concat(parts));
      }
    };
    r.on("data", on);
  });
}

const ended = (s: Session): Promise<End> =>
  s.ended ? Promise.resolve(s.ended) : (once(s, "end") as Promise<[End]>).then(([e]) => e);

/** The socket's close, whether it already happened (the server may close it before we look) or not. */
const wsClosed = (ws: WebSocket): Promise<unknown> =>
  ws.readyState === WebSocket.CLOSED ? Promise.resolve() : once(ws, "close");

describe("the tunnel layer with a real server and real agents", { concurrency: 1 }, () => {
  let srv: TetherServer;
  let api: Api;
  let url: string;
  let ca: string;
  let tunnels: Layer;
  let admin: Principal;
  let echo: { port: number; close(): void };
  const agents: Record<string, AgentHandle> = {};
  const logLines: string[] = [];
  /** tunnel.open bodies the server sent; when `swallow` is set they do not reach the agent. */
  const sent: Open[] = [];
  let swallow = false;

  const device = (name: string) => srv.services.devices.find(admin.projectId, name);
  const tcp = (host: string, port: number) => ({ kind: "tcp" as const, host, port });
  const openTcp = async (name: string, p: Principal = admin) =>
    tunnels.open({ principal: p, device: await device(name), via: "cli", spec: tcp("127.0.0.1", echo.port) });

  /** Dial the agent endpoint ourselves: the WebSocket, or the HTTP status it was refused with. */
  function dial(sid: string, token: string, deviceId: string): Promise<{ ws?: WebSocket; status?: number }> {
    const ws = new WebSocket(`${url.replace(/^https/, "wss")}${TUNNEL_AGENT_PATH}?sid=${sid}`, {
      ca: [ca],
      headers: { authorization: `Tunnel ${token}`, "x-tether-device": deviceId },
      perMessageDeflate: false,
    });
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve({ ws }));
      ws.once("unexpected-response", (_req, res) => {
        res.resume();
        resolve({ status: res.statusCode });
      });
      ws.once("error", reject);
    });
  }

  /** Be the agent for a session whose tunnel.open we swallowed. */
  async function fakeAgent(body: Open, deviceId: string): Promise<{ ws: WebSocket; mux: TunnelMux }> {
    const { ws, status } = await dial(body.sid, body.token, deviceId);
    assert.ok(ws, `dial refused with ${status}`);
    const mux = new TunnelMux({ send: (f) => ws.send(f) });
    ws.on("message", (d: Buffer) => mux.receive(d));
    ws.on("close", () => mux.destroy());
    return { ws, mux };
  }

  const nextOpen = () => waitFor(() => sent.length > 0 && sent.shift(), "tunnel.open sent");

  before(async () => {
    const dataDir = join(tempDir("tunnel-layer-"), "server");
    const log = pino(
      { level: "info" },
      new Writable({
        write(chunk, _enc, cb) {
          logLines.push(String(chunk));
          cb();
        },
      }),
    );
    srv = await createServer({
      dataDir,
      listen: { host: "127.0.0.1", port: 0 },
      mqttListen: { host: "127.0.0.1", port: 0 },
      database: await databaseFor(dataDir),
      log,
      tunnels: { perDevice: 2, perUser: 3, dialTimeoutMs: 2000 },
    });
    const info = await srv.listen();
    url = info.url;
    ca = readFileSync(info.caCert, "utf8");
    const token = readFileSync(join(dataDir, "admin.token"), "utf8").trim();
    api = makeApi(url, ca, token);
    tunnels = srv.tunnels;
    const p = await srv.services.accounts.authenticate({ token }, undefined);
    assert.ok(p);
    admin = p;
    // Watch (and on demand swallow) what the layer asks of devices.
    const link = srv.control.link;
    const real = link.send.bind(link);
    link.send = (async (d: any, t: any, b: any) => {
      if (t === "tunnel.open") {
        sent.push(b);
        if (swallow) return;
      }
      return real(d, t, b);
    }) as typeof link.send;
    const handle = { api, info } as unknown as ServerHandle;
    for (const name of ["alpha", "beta", "gamma", "delta"])
      agents[name] = (await enrollOnline(handle, { name })).agent;
    echo = await echoServer();
  });

  after(async () => {
    echo?.close();
    await Promise.all(Object.values(agents).map((a) => a.stop()));
    await srv?.close();
    await cleanupTempDirs();
  });

  test("a forward session: the agent dials back, bytes flow both ways on many channels, history and audit", async () => {
    sent.length = 0;
    const s = await openTcp("alpha");
    assert.match(s.id, /^ses_[a-z0-9]{20}$/);
    assert.equal(s.kind, "forward");
    assert.equal(s.main, null);
    assert.equal(tunnels.live(admin.projectId, s.id), s);
    assert.equal(tunnels.live(admin.projectId + 1000, s.id), undefined, "another project's view");
    const body = sent.shift()!;
    assert.equal(body.kind, "tcp");
    assert.deepEqual(body.tcp?.allow, ["localhost:*", "127.0.0.1:*", "[::1]:*"]);

    // Three connections at once, 1 MiB each way, through the agent's forwarder to the echo server.
    const payloads = [0, 1, 2].map(() => randomBytes(1024 * 1024));
    await Promise.all(
      payloads.map(async (payload) => {
        const ch = await s.openChannel("127.0.0.1", echo.port);
        const back = readN(ch, payload.length);
        ch.write(payload);
        const got = await back;
        assert.equal(sha(got.subarray(0, payload.length)), sha(payload));
        ch.end();
        await readAll(ch);
      }),
    );
    assert.ok(s.ended === null);
    const live = await tunnels.get(admin.projectId, s.id);
    assert.equal(live?.live, true);
    assert.equal(live?.target, `127.0.0.1:${echo.port}`);
    assert.equal(live?.user, admin.username);
    assert.equal(tunnels.stats().live, 1);

    s.close("closed");
    const e = await ended(s);
    assert.equal(e.reason, "closed");
    assert.equal(tunnels.live(admin.projectId, s.id), undefined);
    const v = await waitFor(async () => {
      const r = await tunnels.get(admin.projectId, s.id);
      return r?.endedAt ? r : undefined;
    }, "the session ended in the history");
    assert.equal(v.endReason, "closed");
    assert.equal(v.live, false);
    assert.ok(v.bytesIn >= 3 * 1024 * 1024 && v.bytesOut >= 3 * 1024 * 1024, `${v.bytesIn} / ${v.bytesOut}`);
    const audit = await waitFor(async () => {
      const r = await api.call<{ action: string; detail: any }[]>("GET", "/api/v1/audit?action=session.*");
      const mine = r.filter((x) => x.detail.session === s.id);
      return mine.length === 2 ? mine : undefined;
    }, "session.start and session.end in the audit log");
    assert.deepEqual(audit.map((x) => x.action).sort(), ["session.end", "session.start"]);
    const endEntry = audit.find((x) => x.action === "session.end")!;
    assert.equal(endEntry.detail.endReason, "closed");
    assert.equal(typeof endEntry.detail.durationMs, "number");
  });

  test("refusals: viewer, run-as user, destination off the allow-list, a closed port on the device", async () => {
    const alpha = await device("alpha");
    const viewer = { ...admin, role: "viewer" as const };
    await assert.rejects(
      tunnels.open({ principal: viewer, device: alpha, via: "console", spec: tcp("localhost", 1) }),
      {
        code: "TETHER_ERR_FORBIDDEN",
      },
    );
    await assert.rejects(
      tunnels.open({
        principal: admin,
        device: alpha,
        via: "cli",
        spec: { kind: "shell", shell: { pty: null, user: "root" } },
      }),
      (e: any) =>
        e.code === "TETHER_ERR_EXEC_USER_NOT_ALLOWED" && /tether projects exec-users/.test(e.message),
    );
    await assert.rejects(
      tunnels.open({ principal: admin, device: alpha, via: "cli", spec: tcp("10.1.2.3", 80) }),
      (e: any) =>
        e.code === "TETHER_ERR_FORWARD_NOT_ALLOWED" &&
        /10\.1\.2\.3:80/.test(e.message) &&
        /tether projects tunnels --forward-allow/.test(e.message),
    );
    const s = await openTcp("alpha");
    await assert.rejects(s.openChannel("192.168.0.1", 22), { code: "TETHER_ERR_FORWARD_NOT_ALLOWED" });
    const closed = await echoServer();
    closed.close();
    await assert.rejects(s.openChannel("127.0.0.1", closed.port), (e: any) => {
      assert.equal(e.code, "TETHER_ERR_FORWARD_FAILED");
      return true;
    });
    // The session survives refused channels.
    const ch = await s.openChannel("127.0.0.1", echo.port);
    ch.end("still here");
    assert.equal((await readAll(ch)).toString(), "still here");
    s.close("closed");
    await ended(s);
  });

  test("tokens: a replay, a wrong device and an unknown session get 401 while the session goes on", async () => {
    sent.length = 0;
    const alpha = await device("alpha");
    const before = tunnels.stats().refusedTokens;
    const s = await openTcp("alpha");
    const body = sent.shift()!;
    assert.equal((await dial(body.sid, body.token, alpha.id)).status, 401, "replayed");
    assert.equal((await dial(body.sid, body.token, "dev_other")).status, 401, "other device");
    assert.equal((await dial("ses_00000000000000000000", body.token, alpha.id)).status, 401, "other session");
    assert.equal((await dial(body.sid, "A".repeat(43), alpha.id)).status, 401, "guessed");
    assert.equal(tunnels.stats().refusedTokens, before + 4);
    assert.ok(logLines.some((l) => l.includes("tunnel dial-back refused")));
    const ch = await s.openChannel("127.0.0.1", echo.port);
    ch.end("unharmed");
    assert.equal((await readAll(ch)).toString(), "unharmed");
    s.close("closed");
    await ended(s);

    // A presentation from the wrong device spends the token: the waiting open fails at once.
    swallow = true;
    try {
      const opening = openTcp("alpha");
      opening.catch(() => {}); // rejects while we are still dialling; asserted below
      const b = await nextOpen();
      assert.equal((await dial(b.sid, b.token, (await device("beta")).id)).status, 401);
      await assert.rejects(opening, { code: "TETHER_ERR_TUNNEL_TOKEN" });
      assert.equal((await dial(b.sid, b.token, alpha.id)).status, 401, "the right device is too late");
    } finally {
      swallow = false;
    }
  });

  test("a device that never dials back: TETHER_ERR_TUNNEL_TIMEOUT, and the history says failed", async () => {
    swallow = true;
    sent.length = 0;
    try {
      await assert.rejects(openTcp("alpha"), (e: any) => {
        assert.equal(e.code, "TETHER_ERR_TUNNEL_TIMEOUT");
        assert.match(e.message, /device alpha did not dial back within 2 s/);
        return true;
      });
    } finally {
      swallow = false;
    }
    const sid = sent.shift()!.sid;
    const v = await tunnels.get(admin.projectId, sid);
    assert.equal(v?.endReason, "failed");
    assert.equal(tunnels.stats().live, 0);
  });

  test("a shell as the agent sees it: channel 0, clamped size, output before exit, the exit status", async () => {
    swallow = true;
    sent.length = 0;
    try {
      const alpha = await device("alpha");
      const opening = tunnels.open({
        principal: admin,
        device: alpha,
        via: "console",
        spec: { kind: "shell", shell: { pty: { cols: 0, rows: 100_000 } } },
      });
      const body = await nextOpen();
      assert.deepEqual(body.shell, { pty: { cols: 1, rows: 1000, term: "xterm-256color" } });
      const agent = await fakeAgent(body, alpha.id);
      const ch0 = agent.mux.channel(0);
      ch0.ready();
      const s = await opening;
      assert.equal(s.kind, "shell");
      assert.deepEqual(s.pty, { cols: 1, rows: 1000 });
      assert.ok(s.main);
      // A second dial for the same session is refused.
      assert.equal((await dial(body.sid, body.token, alpha.id)).status, 401);

      const resized = once(ch0, "resize");
      s.main.resize(120, 40);
      assert.deepEqual(await resized, [120, 40]);
      assert.deepEqual(s.pty, { cols: 120, rows: 40 });
      const input = readN(ch0, 3);
      s.main.write("ls\n");
      assert.equal((await input).toString(), "ls\n");

      // Output, then exit at once: the server's reader gets every byte before the session ends.
      const out = randomBytes(600 * 1024);
      let read = 0;
      let readAtEnd = -1;
      s.main.on("data", (c: Buffer) => {
        read += c.length;
      });
      const endP = ended(s).then((e) => {
        readAtEnd = read;
        return e;
      });
      ch0.write(out);
      ch0.exit(5, null);
      const all = await readAll(s.main);
      const e = await endP;
      assert.equal(sha(all), sha(out));
      assert.equal(readAtEnd, out.length, "the session ended only after its output was read");
      assert.equal(e.reason, "exited");
      assert.equal(e.exitCode, 5);
      assert.equal(e.code, undefined);
      await wsClosed(agent.ws);
    } finally {
      swallow = false;
    }
  });

  test("a shell the device could not start: its code and message reach the caller", async () => {
    swallow = true;
    try {
      const alpha = await device("alpha");
      const opening = tunnels.open({
        principal: admin,
        device: alpha,
        via: "cli",
        spec: { kind: "shell", shell: { pty: null, argv: ["/nonexistent"] } },
      });
      const agent = await fakeAgent(await nextOpen(), alpha.id);
      agent.mux.channel(0).fail("TETHER_ERR_SPAWN_FAILED", "/nonexistent: no such file or directory");
      await assert.rejects(opening, (e: any) => {
        assert.equal(e.code, "TETHER_ERR_SPAWN_FAILED");
        assert.equal(e.message, "/nonexistent: no such file or directory");
        return true;
      });
      await wsClosed(agent.ws);
    } finally {
      swallow = false;
    }
  });

  test("a text message or a malformed frame from the device ends the session with a protocol close", async () => {
    swallow = true;
    try {
      const alpha = await device("alpha");
      for (const bad of ["text", Buffer.from([99, 0, 0, 0, 0])]) {
        const opening = openTcp("alpha");
        const agent = await fakeAgent(await nextOpen(), alpha.id);
        const s = await opening;
        const closed = once(agent.ws, "close");
        agent.ws.send(bad);
        const e = await ended(s);
        assert.equal(e.reason, "failed");
        assert.match(e.message, /broke the tunnel protocol/);
        assert.equal((await closed)[0], TUNNEL_CLOSE.protocol);
      }
    } finally {
      swallow = false;
    }
  });

  test("limits per device and per user, with the bound in the message", async () => {
    const bob = { ...admin, userId: admin.userId + 1000, username: "bob" };
    const a1 = await openTcp("alpha");
    const a2 = await openTcp("alpha");
    await assert.rejects(openTcp("alpha"), (e: any) => {
      assert.equal(e.code, "TETHER_ERR_TUNNEL_LIMIT");
      assert.match(e.message, /device alpha already has 2 open sessions, the most per device/);
      return true;
    });
    const b1 = await openTcp("beta");
    await assert.rejects(openTcp("beta"), (e: any) => {
      assert.equal(e.code, "TETHER_ERR_TUNNEL_LIMIT");
      assert.match(e.message, /already has 3 open sessions, the most per user/);
      return true;
    });
    const b2 = await openTcp("beta", bob);
    assert.equal(tunnels.stats().live, 4);
    // Closing one frees its slot.
    a1.close("closed");
    await ended(a1);
    const a3 = await openTcp("alpha");
    // The owner losing access ends their sessions (and only theirs).
    await srv.services.userChanged({ userId: bob.userId, kind: "access-revoked" });
    assert.equal((await ended(b2)).reason, "revoked");
    assert.equal(b1.ended, null);
    for (const s of [a2, b1, a3]) s.close("closed");
    await Promise.all([a2, b1, a3].map(ended));
  });

  test("revoking the device closes its sessions at once", async () => {
    const s = await openTcp("gamma");
    const ch = await s.openChannel("127.0.0.1", echo.port);
    const chClosed = once(ch, "close");
    await api.call("POST", "/api/v1/devices/gamma/revoke");
    const e = await ended(s);
    assert.equal(e.reason, "revoked");
    assert.match(e.message, /device gamma was revoked/);
    await chClosed;
    const v = await waitFor(async () => (await tunnels.get(admin.projectId, s.id))?.endReason, "history");
    assert.equal(v, "revoked");
  });

  test("killing the agent process ends its session as device-gone", async () => {
    const s = await openTcp("delta");
    const ch = await s.openChannel("127.0.0.1", echo.port);
    ch.resume();
    await agents.delta.kill();
    const e = await ended(s);
    assert.equal(e.reason, "device-gone");
    assert.match(e.message, /device delta (went offline|closed the tunnel)/);
    await waitFor(() => ch.destroyed, "the channel closed");
  });

  test("a server shutdown ends live sessions as server-stopped", async () => {
    const s = await openTcp("alpha");
    const endP = ended(s);
    await srv.tunnels.close();
    assert.equal((await endP).reason, "server-stopped");
    const v = await tunnels.get(admin.projectId, s.id);
    assert.equal(v?.endReason, "server-stopped");
  });
});

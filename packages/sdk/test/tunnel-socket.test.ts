// @matrix: once
/**
 * The SDK's user leg of a tunnel (docs/protocol.md §17.3, §17.5) against a fake server that
 * speaks the real frames through the real TunnelMux: the upgrade's headers, the first message,
 * `ready`; output read to its last byte before the end, with the exit status; stdin's end as EOF;
 * refusals as TunnelErrors with the server's code and the close code (or the HTTP status of a
 * refused upgrade); a dropped link, a ready that never comes, an abort; port forwarding's
 * channels (OPEN_OK, OPEN_FAIL) and the end of the session. Plus the sessions REST calls.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, test } from "node:test";
import { TUNNEL_CLOSE } from "@tether/protocol/tunnel";
import { TetherClient } from "../src/client.js";
import { sessionsApi } from "../src/sessions.js";
import { openForward, openTerminal, TunnelError, tunnelUrl } from "../src/tunnel-socket.js";
import { tunnelErrorFromClose, tunnelErrorFromResponse } from "../src/tunnel-error.js";
import { type FakeTunnelServer, readAll, sendJson, startFakeTunnelServer } from "./fake-tunnel-server.js";

let srv: FakeTunnelServer;
const cfg = () => ({ url: srv.url, token: "tok_test", project: "lab" });
const ready = (session = "ses_aaaaaaaaaaaaaaaaaaaa", pty: { cols: number; rows: number } | null = null) => ({
  type: "ready",
  session,
  device: { id: "dev_1", name: "robot-7" },
  role: "owner",
  recorded: false,
  pty,
});

before(async () => {
  srv = await startFakeTunnelServer();
});
after(() => srv.close());

test("tunnelUrl turns the server URL into the WebSocket one", () => {
  assert.equal(
    tunnelUrl("https://t.example:8443/", "/api/v1/terminal"),
    "wss://t.example:8443/api/v1/terminal",
  );
  assert.equal(tunnelUrl("http://127.0.0.1:1", "/api/v1/forward"), "ws://127.0.0.1:1/api/v1/forward");
});

test("a command: headers and first message, stdin to EOF, stdout and stderr apart, every byte before the exit", async () => {
  const big = "x".repeat(600 * 1024); // more than two windows: flow control on the way
  srv.onLeg("/api/v1/terminal", async (leg) => {
    const ch = leg.mux.channel(0);
    leg.json(ready());
    const input = await readAll(ch); // ends at the client's EOF
    ch.write(`got ${input.length} bytes: ${input.slice(0, 5)}\n`);
    ch.stderrOut.write("warn\n");
    // Its callback runs once the last byte went out (the window permitting): the exit follows
    // the last output frame, as the server sends it.
    await new Promise<void>((r) => ch.write(big, () => r()));
    leg.json({ type: "exit", code: 3, signal: null });
    leg.ws.close(1000);
  });
  const s = await openTerminal(
    { ...cfg(), client: "cli" },
    { type: "open", device: "robot-7", argv: ["sh", "-c", "cat"], pty: null },
  );
  const leg = srv.legs.at(-1)!;
  assert.equal(leg.req.headers.authorization, "Bearer tok_test");
  assert.equal(leg.req.headers["x-tether-project"], "lab");
  assert.equal(leg.req.headers["x-tether-client"], "cli");
  assert.equal(leg.req.headers["sec-websocket-extensions"], undefined, "no permessage-deflate");
  assert.deepEqual(leg.first, { type: "open", device: "robot-7", argv: ["sh", "-c", "cat"], pty: null });
  assert.equal(s.session, "ses_aaaaaaaaaaaaaaaaaaaa");
  assert.equal(s.device.name, "robot-7");
  assert.equal(s.role, "owner");
  const out = readAll(s.channel);
  const err = readAll(s.channel.stderr);
  s.channel.end("hello world");
  const end = await s.done;
  assert.deepEqual(end.exit, { code: 3, signal: null });
  assert.equal(end.error, null);
  const text = await out;
  assert.ok(text.startsWith("got 11 bytes: hello\n"), text.slice(0, 40));
  assert.equal(text.length, "got 11 bytes: hello\n".length + big.length, "all of the output");
  assert.equal(await err, "warn\n");
});

test("a refused upgrade rejects with the server's code and HTTP status", async () => {
  srv.refuse("/api/v1/terminal", 403, "TETHER_ERR_FORBIDDEN", "viewers cannot open shells");
  try {
    await assert.rejects(
      openTerminal(cfg(), { type: "open", device: "robot-7", pty: null }),
      (e: any) =>
        e instanceof TunnelError &&
        e.code === "TETHER_ERR_FORBIDDEN" &&
        e.status === 403 &&
        e.message === "viewers cannot open shells" &&
        e.closeCode === undefined,
    );
  } finally {
    srv.refuse("/api/v1/terminal", 0, "", ""); // status 0: refuse no more
  }
});

test("an error message then a close: the code, the message and the close code", async () => {
  const fresh = await startFakeTunnelServer();
  try {
    fresh.onLeg("/api/v1/terminal", (leg) => {
      leg.json({ type: "error", code: "TETHER_ERR_EXEC_USER_NOT_ALLOWED", message: "nobody is not allowed" });
      leg.ws.close(TUNNEL_CLOSE.refused);
    });
    await assert.rejects(
      openTerminal({ url: fresh.url, token: "t" }, { type: "open", device: "d", user: "nobody", pty: null }),
      (e: any) =>
        e instanceof TunnelError &&
        e.code === "TETHER_ERR_EXEC_USER_NOT_ALLOWED" &&
        e.message === "nobody is not allowed" &&
        e.closeCode === TUNNEL_CLOSE.refused &&
        e.status === 0,
    );
    // A close with no error message: the close code alone says it.
    fresh.onLeg("/api/v1/terminal", (leg) => leg.ws.close(TUNNEL_CLOSE.unreachable));
    await assert.rejects(
      openTerminal({ url: fresh.url, token: "t" }, { type: "open", device: "d", pty: null }),
      (e: any) => e.code === "TETHER_ERR_DEVICE_OFFLINE" && e.closeCode === TUNNEL_CLOSE.unreachable,
    );
    // Cut off after ready: the output so far, then the end with the reason.
    fresh.onLeg("/api/v1/terminal", async (leg) => {
      const ch = leg.mux.channel(0);
      leg.json(ready());
      ch.write("partial output\n", () => {
        leg.json({ type: "error", code: "TETHER_ERR_TUNNEL_CLOSED", message: "the device was revoked" });
        leg.ws.close(TUNNEL_CLOSE.revoked);
      });
    });
    const s = await openTerminal({ url: fresh.url, token: "t" }, { type: "open", device: "d", pty: null });
    const out = readAll(s.channel);
    const end = await s.done;
    assert.equal(await out, "partial output\n");
    assert.equal(end.exit, null);
    assert.equal(end.error?.code, "TETHER_ERR_TUNNEL_CLOSED");
    assert.equal(end.error?.closeCode, TUNNEL_CLOSE.revoked);
    // The socket dropped (no close frame): connection lost, 1006.
    fresh.onLeg("/api/v1/terminal", (leg) => {
      leg.mux.channel(0);
      leg.json(ready());
      setImmediate(() => leg.ws.terminate());
    });
    const dropped = await openTerminal(
      { url: fresh.url, token: "t" },
      { type: "open", device: "d", pty: null },
    );
    dropped.channel.resume();
    const e2 = await dropped.done;
    assert.equal(e2.error?.code, "TETHER_ERR_UNREACHABLE");
    assert.equal(e2.closeCode, 1006);
  } finally {
    await fresh.close();
  }
});

test("signals, resize, the participants list and a notice reach their places", async () => {
  const fresh = await startFakeTunnelServer();
  try {
    const seen: string[] = [];
    fresh.onLeg("/api/v1/terminal", (leg) => {
      const ch = leg.mux.channel(0);
      ch.on("resize", (c: number, r: number) => seen.push(`resize ${c}x${r}`));
      ch.on("signal", (n: string) => {
        seen.push(`signal ${n}`);
        leg.json({ type: "exit", code: null, signal: "INT" });
        leg.ws.close(1000);
      });
      leg.json(ready("ses_bbbbbbbbbbbbbbbbbbbb", { cols: 100, rows: 30 }));
      leg.json({ type: "participants", list: [{ user: "admin", role: "owner", via: "cli", since: "x" }] });
      leg.json({ type: "notice", message: "ops joined" });
    });
    const s = await openTerminal(
      { url: fresh.url, token: "t" },
      { type: "open", device: "d", pty: { cols: 100, rows: 30 } },
    );
    assert.deepEqual(s.pty, { cols: 100, rows: 30 });
    const notice = new Promise((r) => s.once("notice", r));
    assert.equal(await notice, "ops joined");
    assert.equal(s.participants[0]?.user, "admin");
    s.channel.resume();
    s.channel.resize(120, 40);
    s.channel.signal("INT");
    const end = await s.done;
    assert.deepEqual(end.exit, { code: null, signal: "INT" });
    assert.deepEqual(seen, ["resize 120x40", "signal INT"]);
    const grant = fresh.legs.at(-1)!;
    assert.equal(grant.texts.length, 0);
  } finally {
    await fresh.close();
  }
});

test("no ready in time, an abort, an unreachable server: rejected, nothing left open", async () => {
  const fresh = await startFakeTunnelServer();
  try {
    fresh.onLeg("/api/v1/terminal", () => {}); // never answers
    await assert.rejects(
      openTerminal(
        { url: fresh.url, token: "t", readyTimeoutMs: 200 },
        { type: "open", device: "d", pty: null },
      ),
      (e: any) => e instanceof TunnelError && e.code === "TETHER_ERR_TUNNEL_TIMEOUT",
    );
    const ac = new AbortController();
    const p = openTerminal(
      { url: fresh.url, token: "t", signal: ac.signal },
      { type: "open", device: "d", pty: null },
    );
    ac.abort(new Error("stopped"));
    await assert.rejects(p, /stopped/);
  } finally {
    await fresh.close();
  }
  const dead = net.createServer();
  await new Promise<void>((r) => dead.listen(0, "127.0.0.1", r));
  const port = (dead.address() as net.AddressInfo).port;
  await new Promise((r) => dead.close(r));
  await assert.rejects(
    openTerminal({ url: `http://127.0.0.1:${port}`, token: "t" }, { type: "open", device: "d", pty: null }),
    (e: any) =>
      e instanceof TunnelError && e.code === "TETHER_ERR_UNREACHABLE" && /connection refused/.test(e.message),
  );
});

test("port forwarding: a channel per connection, OPEN_FAIL as an error, the end of the session", async () => {
  const fresh = await startFakeTunnelServer();
  try {
    fresh.onLeg("/api/v1/forward", (leg) => {
      let n = 0;
      leg.mux.on("open", (ch, host: string, port: number) => {
        if (++n === 2) return ch.fail("TETHER_ERR_FORWARD_FAILED", `connect ${host}:${port}: refused`);
        ch.ready();
        // An echo in capitals, half-closed after the client's EOF.
        ch.on("data", (b: Buffer) => ch.write(b.toString().toUpperCase()));
        ch.on("end", () => ch.end());
      });
      leg.json({
        type: "ready",
        session: "ses_cccccccccccccccccccc",
        device: { id: "dev_1", name: "robot-7" },
      });
    });
    const f = await openForward(
      { url: fresh.url, token: "t" },
      { device: "robot-7", host: "localhost", port: 8080 },
    );
    assert.deepEqual(fresh.legs.at(-1)!.first, {
      type: "open",
      device: "robot-7",
      host: "localhost",
      port: 8080,
    });
    assert.equal(f.session, "ses_cccccccccccccccccccc");
    const a = await f.connect();
    await assert.rejects(
      f.connect(),
      (e: any) =>
        e instanceof TunnelError && e.code === "TETHER_ERR_FORWARD_FAILED" && /refused/.test(e.message),
    );
    const c = await f.connect();
    const [ra, rc] = [readAll(a), readAll(c)];
    a.end("hello");
    c.end("world");
    assert.equal(await ra, "HELLO");
    assert.equal(await rc, "WORLD");
    fresh.legs.at(-1)!.ws.close(TUNNEL_CLOSE.unreachable);
    const end = await f.done;
    assert.equal(end.error?.closeCode, TUNNEL_CLOSE.unreachable);
    await assert.rejects(f.connect(), (e: any) => e.code === "TETHER_ERR_TUNNEL_CLOSED");
  } finally {
    await fresh.close();
  }
});

test("close codes and refused upgrades in words", () => {
  assert.equal(tunnelErrorFromClose(TUNNEL_CLOSE.timeout).code, "TETHER_ERR_TUNNEL_CLOSED");
  assert.match(tunnelErrorFromClose(TUNNEL_CLOSE.timeout).message, /timed out/);
  assert.equal(tunnelErrorFromClose(1006).code, "TETHER_ERR_UNREACHABLE");
  const e = tunnelErrorFromResponse(502, "<html>bad gateway</html>");
  assert.equal(e.code, "TETHER_ERR_HTTP");
  assert.match(e.message, /HTTP 502/);
});

test("sessions REST: the list's query and schema check, one session, the recording as text, settings", async () => {
  const fresh = await startFakeTunnelServer();
  try {
    const view = {
      id: "ses_dddddddddddddddddddd",
      device: { id: "dev_1", name: "robot-7" },
      user: "admin",
      kind: "shell",
      via: "cli",
      target: "login shell",
      runAs: null,
      startedAt: "2026-01-01T00:00:00.000Z",
      endedAt: "2026-01-01T00:01:00.000Z",
      durationMs: 60000,
      endReason: "exited",
      exitCode: 0,
      bytesIn: 10,
      bytesOut: 20,
      recorded: true,
      live: false,
    };
    fresh.route("GET", "/api/v1/sessions", (_q, _b, res) => sendJson(res, 200, { sessions: [view] }));
    fresh.route("GET", `/api/v1/sessions/${view.id}`, (_q, _b, res) => sendJson(res, 200, view));
    fresh.route("GET", `/api/v1/sessions/${view.id}/recording`, (_q, _b, res) => {
      res.writeHead(200, { "content-type": "application/x-asciicast" });
      res.end('{"version":2,"width":80,"height":24}\n[0.1,"o","hi"]\n');
    });
    let settings = { record: false, forwardAllow: ["localhost:*"] };
    fresh.route("GET", "/api/v1/project/tunnels", (_q, _b, res) => sendJson(res, 200, settings));
    fresh.route("PUT", "/api/v1/project/tunnels", (_q, b, res) => {
      settings = { ...settings, ...b };
      sendJson(res, 200, settings);
    });
    const api = sessionsApi(new TetherClient({ url: fresh.url, token: "t" }));
    assert.deepEqual(await api.list({ device: "robot-7", limit: 5 }), [view]);
    assert.equal(fresh.requests.at(-1)!.url, "/api/v1/sessions?device=robot-7&limit=5");
    assert.deepEqual(await api.get(view.id), view);
    assert.equal(await api.recordingText(view.id), '{"version":2,"width":80,"height":24}\n[0.1,"o","hi"]\n');
    await assert.rejects(api.recordingText("ses_nope"), (e: any) => e.status === 404);
    assert.deepEqual(await api.settings(), settings);
    assert.deepEqual(await api.setSettings({ record: true }), {
      record: true,
      forwardAllow: ["localhost:*"],
    });
    assert.deepEqual(fresh.requests.at(-1)!.body, { record: true });
    // A malformed answer is an error naming the route, not a wrong value.
    fresh.route("GET", "/api/v1/sessions", (_q, _b, res) => sendJson(res, 200, { sessions: [{ id: 1 }] }));
    await assert.rejects(api.list(), /GET \/api\/v1\/sessions: unexpected answer/);
  } finally {
    await fresh.close();
  }
});

// @matrix: once
/**
 * `tether forward`, `tether sessions` and `tether projects tunnels` without a real server
 * (docs/protocol.md §17.5, §17.7): the forward spec and --bind; a refused forward exits 125
 * before anything listens; a local TCP connection spliced to a channel over real muxes in
 * memory (bytes both ways, half-close, many at once, the channel closed with the socket); a
 * channel that cannot open closes its connection with one line on stderr. The sessions table
 * and JSON, the export written as it comes, a missing session (exit 4); the tunnel settings
 * shown and changed, a bad destination refused before any request.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, test } from "node:test";
import { TunnelError } from "@tether/sdk";
import { run } from "../src/cli.js";
import { forwardOne, parseForwardSpec, splice } from "../src/commands/forward.js";
import { parseForwardAllow, settingsText } from "../src/commands/project-tunnels.js";
import { durationText, endText } from "../src/commands/sessions.js";
import { type FakeApi, json, startFakeApi, testIo } from "./logs-fake-api.js";
import { muxPair, refusingServer, termIo } from "./tunnel-fakes.js";

test("the forward spec: [LOCAL_PORT:]HOST:PORT, a bare PORT, IPv6 in brackets; bad ones are usage errors", () => {
  assert.deepEqual(parseForwardSpec("8080"), { localPort: 0, host: "localhost", port: 8080 });
  assert.deepEqual(parseForwardSpec("localhost:80"), { localPort: 0, host: "localhost", port: 80 });
  assert.deepEqual(parseForwardSpec("9000:10.0.0.5:554"), { localPort: 9000, host: "10.0.0.5", port: 554 });
  assert.deepEqual(parseForwardSpec("0:[::1]:22"), { localPort: 0, host: "::1", port: 22 });
  for (const bad of [
    "",
    "host",
    "host:0",
    "host:65536",
    "70000:host:80",
    "a b:80",
    "x:y:z",
    ":80",
    "[::1:80",
  ])
    assert.throws(
      () => parseForwardSpec(bad),
      (e: any) => e.exitCode === 2,
      bad,
    );
});

test("forward usage errors exit 2 before any connection", async () => {
  const io = termIo({ TETHER_URL: "http://127.0.0.1:1", TETHER_TOKEN: "t" });
  assert.equal(await run(["forward", "robot-7"], io), 2);
  assert.equal(await run(["forward", "robot-7", "nope"], io), 2);
  assert.equal(await run(["forward", "robot-7", "80", "--bind", "not an ip"], io), 2);
  assert.match(io.err(), /--bind must be an IP address/);
});

test("a refused forward exits 125 before anything listens", async () => {
  const srv = await refusingServer(
    403,
    "TETHER_ERR_FORWARD_NOT_ALLOWED",
    "10.9.9.9:22 is not on the allow-list",
  );
  try {
    const io = termIo({ TETHER_URL: srv.url, TETHER_TOKEN: "t" });
    assert.equal(await run(["forward", "robot-7", "10.9.9.9:22"], io), 125);
    assert.doesNotMatch(io.out(), /listening/);
    assert.match(
      io.err(),
      /^tether: forward to 10\.9\.9\.9:22 on robot-7: 10\.9\.9\.9:22 is not on the allow-list\n/,
    );
    assert.match(io.err(), /TETHER_ERR_FORWARD_NOT_ALLOWED/);
    assert.equal(srv.seen[0].url, "/api/v1/forward");
  } finally {
    await srv.close();
  }
});

/** A local listener whose connections are spliced to channels of `local` (the device echoes). */
async function splicedListener() {
  const { local, remote } = muxPair();
  // The device's side: an echo in capitals that half-closes after our EOF, then says "bye".
  remote.on("open", (ch) => {
    ch.ready();
    ch.on("data", (b: Buffer) => ch.write(b.toString().toUpperCase()));
    ch.on("end", () => ch.end("bye"));
  });
  let id = 1;
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, async (sock) => {
    splice(sock, await local.connect(id++, "localhost", 80));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { local, remote, server, port: (server.address() as net.AddressInfo).port };
}

function exchange(port: number, send: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true }, () => c.end(send));
    let got = "";
    c.on("data", (b) => {
      got += b.toString();
    });
    c.on("end", () => resolve(got));
    c.on("error", reject);
  });
}

test("a connection spliced to a channel: both ways, half-close, many at once, closed together", async () => {
  const l = await splicedListener();
  try {
    // After our FIN the device still answers (half-close), then ends its side.
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => exchange(l.port, `hello ${i}`)));
    for (const [i, a] of answers.entries()) assert.equal(a, `HELLO ${i}bye`);
    // Big enough to need several windows both ways.
    const big = "x".repeat(1024 * 1024);
    assert.equal(await exchange(l.port, big), `${big.toUpperCase()}bye`);
    // Every channel is gone once its connection is.
    const until = async (c: () => boolean) => {
      while (!c()) await new Promise((r) => setImmediate(r));
    };
    await until(() => l.local.size === 0 && l.remote.size === 0);
  } finally {
    l.server.close();
  }
});

test("a reset local connection closes its channel", async () => {
  const l = await splicedListener();
  try {
    const c = net.connect({ port: l.port, host: "127.0.0.1" });
    await new Promise((r) => l.remote.once("open", r));
    c.resetAndDestroy();
    while (l.local.size + l.remote.size > 0) await new Promise((r) => setImmediate(r));
  } finally {
    l.server.close();
  }
});

test("a channel that cannot open closes its connection, with one line on stderr", async () => {
  const io = testIo({});
  const fwd = {
    connect: () =>
      Promise.reject(
        new TunnelError(0, "TETHER_ERR_FORWARD_FAILED", "connect localhost:8080: connection refused"),
      ),
  };
  const server = net.createServer(
    { pauseOnConnect: true },
    (sock) => void forwardOne({ io }, fwd as any, sock),
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const c = net.connect({ port: (server.address() as net.AddressInfo).port, host: "127.0.0.1" });
    c.on("error", () => {});
    await new Promise((r) => c.once("close", r));
    assert.match(
      io.err(),
      /^tether: connection from 127\.0\.0\.1:\d+ not forwarded: connect localhost:8080: connection refused\n$/,
    );
  } finally {
    server.close();
  }
});

// --- sessions, projects tunnels --------------------------------------------------------------

let api: FakeApi;
before(async () => {
  api = await startFakeApi();
});
after(() => api.close());

const view = (o: Record<string, unknown> = {}) => ({
  id: "ses_aaaaaaaaaaaaaaaaaaaa",
  device: { id: "dev_1", name: "robot-7" },
  user: "admin",
  kind: "shell",
  via: "cli",
  target: "login shell",
  runAs: null,
  startedAt: new Date(Date.now() - 65_000).toISOString(),
  endedAt: new Date().toISOString(),
  durationMs: 65_000,
  endReason: "exited",
  exitCode: 5,
  bytesIn: 10,
  bytesOut: 2000,
  recorded: true,
  live: false,
  ...o,
});

test("how a session ended and how long it ran, in words", () => {
  assert.equal(endText(view() as any), "exited 5");
  assert.equal(endText(view({ live: true, endReason: null, exitCode: null }) as any), "live");
  assert.equal(endText(view({ endReason: "device-gone", exitCode: null }) as any), "device-gone");
  assert.equal(durationText(view() as any), "1m 5s");
  const now = Date.now();
  assert.equal(
    durationText(
      view({ live: true, durationMs: null, startedAt: new Date(now - 3000).toISOString() }) as any,
      now,
    ),
    "3s",
  );
});

test("sessions list: the table, --device/--limit passed on, --json as the server answered", async () => {
  const sessions = [
    view(),
    view({
      id: "ses_bbbbbbbbbbbbbbbbbbbb",
      kind: "forward",
      target: "localhost:8080",
      live: true,
      endedAt: null,
      durationMs: null,
      endReason: null,
      exitCode: null,
      recorded: false,
      runAs: "root",
    }),
  ];
  api.on("GET", "/api/v1/sessions", (_r, res) => json(res, 200, { sessions }));
  const io = testIo(api.env);
  assert.equal(await run(["sessions", "list", "--device", "robot-7", "--limit", "10"], io), 0);
  const q = api.requests.at(-1)!.query;
  assert.equal(q.get("device"), "robot-7");
  assert.equal(q.get("limit"), "10");
  const lines = io.out().trimEnd().split("\n");
  assert.match(lines[0], /^ID\s+DEVICE\s+USER\s+KIND\s+VIA\s+STARTED\s+DURATION\s+ENDED\s+RECORDED$/);
  assert.match(lines[1], /^ses_a{20}\s+robot-7\s+admin\s+shell\s+cli\s+\d\d:\d\d\s+1m 5s\s+exited 5\s+yes$/);
  assert.match(
    lines[2],
    /^ses_b{20}\s+robot-7\s+admin \(as root\)\s+forward localhost:8080\s+cli\s+.*\s+live\s+no$/,
  );
  const j = testIo(api.env);
  assert.equal(await run(["sessions", "list", "--json"], j), 0);
  assert.deepEqual(JSON.parse(j.out()), sessions);
  assert.equal(await run(["sessions", "list", "--limit", "0"], testIo(api.env)), 2);
  assert.equal(await run(["sessions", "list", "--limit", "501"], testIo(api.env)), 2);
});

test("sessions export writes the recording to stdout as it is; a missing one exits 4", async () => {
  const cast =
    '{"version":2,"width":80,"height":24,"timestamp":1}\n[0.25,"o","\\u001b[1mhi\\u001b[0m\\r\\n"]\n';
  api.on("GET", "/api/v1/sessions/ses_aaaaaaaaaaaaaaaaaaaa/recording", (_r, res) => {
    res.writeHead(200, { "content-type": "application/x-asciicast" });
    res.write(cast.slice(0, 20));
    res.end(cast.slice(20));
  });
  const io = testIo(api.env);
  assert.equal(await run(["sessions", "export", "ses_aaaaaaaaaaaaaaaaaaaa"], io), 0);
  assert.equal(io.out(), cast);
  assert.equal(JSON.parse(io.out().split("\n")[0]).version, 2);
  api.on("GET", "/api/v1/sessions/ses_nnnnnnnnnnnnnnnnnnnn/recording", (_r, res) =>
    json(res, 404, {
      error: { code: "TETHER_ERR_RECORDING_NOT_FOUND", message: "the session was not recorded" },
    }),
  );
  const missing = testIo(api.env);
  assert.equal(await run(["sessions", "export", "ses_nnnnnnnnnnnnnnnnnnnn"], missing), 4);
  assert.equal(missing.err(), "tether: the session was not recorded\n");
  assert.equal(missing.out(), "");
});

test("projects tunnels: shown, changed (only what was given), bad destinations refused first", async () => {
  let settings = { record: false, forwardAllow: ["localhost:*", "127.0.0.1:*", "[::1]:*"] };
  api.on("GET", "/api/v1/project/tunnels", (_r, res) => json(res, 200, settings));
  api.on("PUT", "/api/v1/project/tunnels", (r, res) => {
    settings = { ...settings, ...r.body };
    json(res, 200, settings);
  });
  const show = testIo(api.env);
  assert.equal(await run(["projects", "tunnels"], show), 0);
  assert.equal(show.out(), settingsText(settings));
  assert.match(show.out(), /recording:\s+off\nforwarding to:\s+localhost:\*, 127\.0\.0\.1:\*, \[::1\]:\*\n/);

  const rec = testIo(api.env);
  assert.equal(await run(["projects", "tunnels", "--record"], rec), 0);
  assert.deepEqual(api.requests.at(-1)!.body, { record: true });
  assert.match(rec.out(), /recording:\s+on/);

  const fwd = testIo(api.env);
  assert.equal(
    await run(
      ["projects", "tunnels", "--no-record", "--forward-allow", "10.0.0.5:80, [::1]:8000-8100", "--json"],
      fwd,
    ),
    0,
  );
  assert.deepEqual(api.requests.at(-1)!.body, {
    record: false,
    forwardAllow: ["10.0.0.5:80", "[::1]:8000-8100"],
  });
  assert.deepEqual(JSON.parse(fwd.out()), {
    record: false,
    forwardAllow: ["10.0.0.5:80", "[::1]:8000-8100"],
  });

  const n = api.requests.length;
  const bad = testIo(api.env);
  assert.equal(await run(["projects", "tunnels", "--forward-allow", "localhost"], bad), 2);
  assert.match(bad.err(), /bad destination "localhost"/);
  assert.equal(api.requests.length, n, "no request for a bad destination");

  assert.deepEqual(parseForwardAllow("default"), ["localhost:*", "127.0.0.1:*", "[::1]:*"]);
  assert.deepEqual(parseForwardAllow("none"), []);
  assert.deepEqual(parseForwardAllow(""), []);
  assert.deepEqual(parseForwardAllow("a:1,a:1"), ["a:1"]);
  assert.throws(
    () => parseForwardAllow("host:*x"),
    (e: any) => e.exitCode === 2,
  );
});

// @matrix: store
// Project scoping and clean-up of the metrics API (docs/protocol.md §14.5, docs/security.md):
// in a real server (SQLite, and PostgreSQL in its pass), a member of project A never sees
// project B's device metrics, names, gaps, rankings, summary rows, live samples or
// Prometheus series, by name, by id or by selector; a live stream whose client went away
// before it was opened is forgotten (it does not hold the user's stream bound for ever);
// remote write's close() aborts a request a hung remote never answers, so the server exits
// promptly.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import type { FleetSummary } from "@tether/protocol";
import { createServer, type TetherServer } from "@tether/server";
import { pino } from "pino";
import { type Api, cleanupTempDirs, databaseFor, makeApi, tempDir } from "../../../tests/e2e/harness.js";
import { LiveHub } from "../src/capabilities/metrics/live.js";
import { RemoteWriter } from "../src/capabilities/metrics/remote-write.js";
import { uploadMetrics } from "./metrics-support.js";
import { insertDevice } from "./support.js";

const silent = pino({ level: "silent" });
let srv: TetherServer;
let url: string;
let ca: string;
/** A member (viewer) of project "alpha" only, and its API token. */
let alice: Api;
let aliceToken: string;
const now = Date.now();
const pts = (v: number): [number, number][] =>
  Array.from({ length: 5 }, (_, i) => [now - 60_000 + i * 10_000, v]);

before(async () => {
  const dataDir = tempDir("tether-review-metrics-");
  srv = await createServer({
    dataDir,
    listen: { host: "127.0.0.1", port: 0 },
    mqttListen: { host: "127.0.0.1", port: 0 },
    database: await databaseFor(dataDir),
    log: silent,
  });
  const info = await srv.listen();
  url = info.url;
  ca = readFileSync(info.caCert, "utf8");
  const a = srv.services.accounts;
  const alpha = await a.ensureProject("alpha");
  const beta = await a.ensureProject("beta");
  const uid = await a.createUser("alice", "a-long-enough-password", alpha);
  await a.setRole(uid, alpha, "viewer");
  aliceToken = (await a.createApiToken(uid, alpha, "grafana")).token;
  alice = makeApi(url, ca, aliceToken);
  for (const [id, project, site] of [
    ["a-0001", alpha, "tokyo"],
    ["b-0001", beta, "tokyo"],
  ] as const) {
    await insertDevice(srv.store.db, project, id);
    await srv.store.db
      .updateTable("devices")
      .set({ name: id === "a-0001" ? "robot-a" : "robot-b", labels: JSON.stringify({ site }) })
      .where("id", "=", id)
      .execute();
    await srv.telemetry.rotateToken((await srv.services.devices.get(id))!);
  }
  await uploadMetrics({ srv, url, ca }, "a-0001", 1, {
    metrics: [{ name: "temperature_celsius", labels: { sensor: "cpu" }, points: pts(40) }],
  });
  // Project beta's device: a metric name and a gap only it has, and the hottest value.
  await uploadMetrics({ srv, url, ca }, "b-0001", 1, {
    metrics: [
      { name: "temperature_celsius", labels: { sensor: "cpu" }, points: pts(99) },
      { name: "beta_secret_metric", points: pts(1) },
    ],
    gaps: [{ from: now - 50_000, to: now - 40_000, count: 7, reason: "buffer-full" }],
  });
});

after(async () => {
  await srv?.close();
  await cleanupTempDirs();
});

test("a member of project alpha never sees project beta's device metrics, names or gaps", async () => {
  // Beta's device by id and by name: not found, as if it did not exist.
  for (const ref of ["b-0001", "robot-b"]) {
    const r = await alice.request("GET", `/api/v1/devices/${ref}/metrics`);
    assert.equal(r.status, 404, `${ref}: ${JSON.stringify(r.body)}`);
    const q = await alice.request("GET", `/api/v1/metrics/query?device=${ref}&metric=temperature_celsius`);
    assert.equal(q.status, 404, `${ref}: ${JSON.stringify(q.body)}`);
    assert.ok(!JSON.stringify(q.body).includes("99"));
  }
  // Beta's metric name is unknown in alpha, even with no device named.
  const secret = await alice.request("GET", "/api/v1/metrics/query?metric=beta_secret_metric");
  assert.equal(secret.status, 404);
  // A selector that beta's device matches too: alpha's device only, and alpha's (no) gaps.
  const q = await alice.call<any>(
    "GET",
    "/api/v1/metrics/query?selector=site%3Dtokyo&metric=temperature_celsius",
  );
  assert.deepEqual(
    q.series.map((s: any) => s.deviceId),
    ["a-0001"],
  );
  assert.deepEqual(q.gaps, []);
  const all = await alice.call<any>("GET", "/api/v1/metrics/query?metric=temperature_celsius");
  assert.deepEqual(
    all.series.map((s: any) => s.deviceId),
    ["a-0001"],
  );
  const top = await alice.call<any>("GET", "/api/v1/metrics/top?metric=temperature_celsius");
  assert.deepEqual(
    top.rows.map((r: any) => [r.deviceId, r.value]),
    [["a-0001", 40]],
  );
  const sum = await alice.call<FleetSummary>("GET", "/api/v1/metrics/summary");
  assert.deepEqual(
    sum.devices.map((d) => d.deviceId),
    ["a-0001"],
  );
  // The Prometheus exposition of alice's token: alpha's series only.
  const prom = await alice.request("GET", "/api/v1/metrics/prometheus");
  assert.equal(prom.status, 200);
  const text = typeof prom.body === "string" ? prom.body : JSON.stringify(prom.body);
  assert.match(text, /device_id="a-0001"/);
  assert.ok(!/b-0001|robot-b|beta/.test(text), text);
  // Naming project beta does not get alice in.
  const other = makeApi(url, ca, aliceToken, { "x-tether-project": "beta" });
  const refused = await other.request("GET", "/api/v1/metrics/prometheus");
  assert.ok([401, 403, 404].includes(refused.status), `${refused.status}`);
  assert.ok(!/b-0001|robot-b/.test(JSON.stringify(refused.body)));
  // The server's own metrics are the server admin's, not a project viewer's.
  assert.equal((await alice.request("GET", "/api/v1/server/metrics")).status, 403);
});

test("a live stream of project alpha carries no sample of project beta's devices", async () => {
  const got: string[] = [];
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = https.request(new URL("/api/v1/metrics/stream", url), {
      ca,
      headers: { authorization: `Bearer ${aliceToken}`, accept: "text/event-stream" },
    });
    req.on("response", resolve);
    req.on("error", reject);
    req.end();
  });
  assert.equal(res.status ?? res.statusCode, 200);
  res.setEncoding("utf8");
  res.on("data", (c: string) => got.push(c));
  try {
    await waitFor(() => got.join("").includes(": live"), "the stream opened");
    await uploadMetrics({ srv, url, ca }, "b-0001", 2, {
      metrics: [{ name: "beta_secret_metric", points: pts(2) }],
    });
    await uploadMetrics({ srv, url, ca }, "a-0001", 2, {
      metrics: [{ name: "temperature_celsius", labels: { sensor: "cpu" }, points: pts(41) }],
    });
    await waitFor(() => got.join("").includes("a-0001"), "alpha's samples on the stream");
    assert.ok(!/b-0001|beta_secret_metric/.test(got.join("")), got.join(""));
  } finally {
    res.destroy();
  }
});

async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test("a live stream whose client left before it opened is forgotten at once", async () => {
  const hub = new LiveHub({ maxPerUser: 1, heartbeatMs: 60_000, maxBufferedBytes: 1 << 20 }, silent);
  let gone!: (x: { req: IncomingMessage; res: ServerResponse }) => void;
  const left = new Promise<{ req: IncomingMessage; res: ServerResponse }>((r) => {
    gone = r;
  });
  let arrived!: () => void;
  const came = new Promise<void>((r) => {
    arrived = r;
  });
  const server = http.createServer((req, res) => {
    req.socket.once("close", () => gone({ req, res }));
    arrived();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const c = http.get(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    c.on("error", () => {});
    await came;
    c.destroy(); // the client leaves while the route still resolves its devices
    const { req, res } = await left;
    const who = { userId: 1, projectId: 1, username: "u" };
    hub.open(who, new Map([["d", "robot"]]), req, res, () => {});
    assert.equal(hub.size, 0, "the stream of a client that is gone is not kept");
    // The user's bound (1 here) is free for the next stream.
    const res2 = new http.ServerResponse(req);
    assert.doesNotThrow(() => {
      try {
        hub.open(who, new Map([["d", "robot"]]), req, res2, () => {});
      } finally {
        hub.closeAll();
      }
    });
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test("remote write: close() aborts a request the remote never answers", async () => {
  let socketClosed = false;
  let arrived!: () => void;
  const came = new Promise<void>((r) => {
    arrived = r;
  });
  const remote = http.createServer((req) => {
    req.socket.once("close", () => {
      socketClosed = true;
    });
    req.resume();
    arrived(); // and never answer
  });
  await new Promise<void>((r) => remote.listen(0, "127.0.0.1", r));
  try {
    const w = new RemoteWriter({
      url: `http://127.0.0.1:${(remote.address() as AddressInfo).port}/api/v1/write`,
      log: silent,
      batchSamples: 1,
      flushMs: 60_000,
      timeoutMs: 60_000,
    });
    w.push({ labels: [{ name: "__name__", value: "x" }], samples: [[now, 1]] });
    await came;
    const t0 = Date.now();
    await w.close(50);
    assert.ok(Date.now() - t0 < 2000, "close() waits only its grace");
    await waitFor(() => socketClosed, "the hung request to be aborted", 3000);
    assert.equal(w.stats().queued, 1, "the unsent sample is counted as not sent");
  } finally {
    remote.closeAllConnections();
    await new Promise((r) => remote.close(r));
  }
});

// @matrix: store
// The metrics REST API in a real server (docs/protocol.md §14.5), data uploaded through the
// real telemetry ingest (HTTPS, device tokens) into the real metric store (SQLite, and
// PostgreSQL in its pass): series names with the clock skew; range queries (step, gaps,
// selectors, bad input); top-N at a site; the fleet summary; the live SSE stream and its
// per-user bound; the Prometheus exposition (a viewer's token; promtool) and the server's
// own metrics (server admin only); remote write fed from stored samples with device names.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer as httpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type {
  DeviceMetricNames,
  FleetSummary,
  LiveSamples,
  MetricRangeResult,
  MetricTopResult,
} from "@tether/protocol";
import { createServer, type TetherServer } from "@tether/server";
import { pino } from "pino";
import SnappyJS from "snappyjs";
import {
  type Api,
  cleanupTempDirs,
  databaseFor,
  makeApi,
  tempDir,
  waitFor,
} from "../../../tests/e2e/harness.js";
import type { PromSeries } from "../src/capabilities/metrics/remote-write-proto.js";
import { assertPromtoolClean, decodeWriteRequest, promtoolSkip, uploadMetrics } from "./metrics-support.js";
import { insertDevice, sse } from "./support.js";

const PROMTOOL_SKIP = promtoolSkip();
const MIN = 60_000;

let srv: TetherServer;
let admin: Api;
let viewer: Api;
let url: string;
let ca: string;
let adminToken: string;
let viewerToken: string;
const remoteGot: PromSeries[] = [];
let remote: ReturnType<typeof httpServer>;
/** Start of the uploaded data: whole minutes, 30 min ago. */
const T0 = Math.floor((Date.now() - 30 * MIN) / MIN) * MIN;

const DEVICES = [
  { id: "r1-0001", name: "robot-1", labels: { site: "tokyo" }, state: "accepted" },
  { id: "r2-0002", name: "robot-2", labels: { site: "tokyo" }, state: "accepted" },
  { id: "r3-0003", name: "robot-3", labels: { site: "osaka" }, state: "accepted" },
  { id: "r4-0004", name: "robot-4", labels: { site: "tokyo" }, state: "pending" },
];

const upload = (deviceId: string, seq: number, body: Record<string, unknown>) =>
  uploadMetrics({ srv, url, ca }, deviceId, seq, body);

/** Ten samples 10 s apart from T0 + offset, values from `f`. */
const pts = (f: (i: number) => number, offset = 0) =>
  Array.from({ length: 10 }, (_, i) => [T0 + offset + i * 10_000, f(i)] as [number, number]);

before(async () => {
  remote = httpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      remoteGot.push(...decodeWriteRequest(SnappyJS.uncompress(new Uint8Array(Buffer.concat(chunks)))));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => remote.listen(0, "127.0.0.1", r));
  const dataDir = tempDir("tether-metrics-routes-");
  srv = await createServer({
    dataDir,
    listen: { host: "127.0.0.1", port: 0 },
    mqttListen: { host: "127.0.0.1", port: 0 },
    database: await databaseFor(dataDir),
    log: pino({ level: "silent" }),
    exec: { maxStreamsPerUser: 2 },
    metrics: { remoteWrite: `http://127.0.0.1:${(remote.address() as AddressInfo).port}/api/v1/write` },
  });
  assert.ok(
    (srv.capabilities as unknown as Record<string, unknown>).metrics,
    "the metrics capability is not listed in packages/server/src/capabilities.ts",
  );
  const info = await srv.listen();
  url = info.url;
  ca = readFileSync(info.caCert, "utf8");
  adminToken = readFileSync(join(dataDir, "admin.token"), "utf8").trim();
  admin = makeApi(url, ca, adminToken);
  const a = srv.services.accounts;
  const projectId = await a.projectId("default");
  const uid = await a.createUser("watcher", "a-long-enough-password", projectId);
  await a.setRole(uid, projectId, "viewer");
  viewerToken = (await a.createApiToken(uid, projectId, "grafana")).token;
  viewer = makeApi(url, ca, viewerToken);

  for (const d of DEVICES) {
    await insertDevice(srv.store.db, projectId, d.id);
    await srv.store.db
      .updateTable("devices")
      .set({ name: d.name, labels: JSON.stringify(d.labels), state: d.state })
      .where("id", "=", d.id)
      .execute();
    if (d.state === "accepted") await srv.telemetry.rotateToken((await srv.services.devices.get(d.id))!);
  }
  // robot-1: two temperature sensors, cpu, a battery, a counter, a gap in the middle.
  await upload("r1-0001", 1, {
    metrics: [
      { name: "temperature_celsius", labels: { sensor: "cpu" }, points: pts((i) => 50 + i) },
      { name: "temperature_celsius", labels: { sensor: "board" }, points: pts(() => 40) },
      { name: "cpu_usage_percent", points: pts((i) => i * 10) },
      { name: "battery_capacity_percent", labels: { battery: "BAT0" }, points: pts(() => 80) },
      {
        name: "net_rx_bytes_total",
        kind: "counter",
        labels: { interface: "wlan0" },
        points: pts((i) => i * 1000),
      },
      { name: "app_note", labels: { text: 'quote " backslash \\ newline \n 東京' }, points: pts(() => 1) },
    ],
    gaps: [
      {
        from: T0 + 2 * MIN,
        to: T0 + 3 * MIN,
        count: 42,
        reason: "buffer-full",
        detail: "42 samples dropped",
      },
    ],
  });
  await upload("r2-0002", 1, {
    metrics: [
      { name: "temperature_celsius", labels: { sensor: "cpu" }, points: pts(() => 75) },
      { name: "battery_capacity_percent", labels: { battery: "BAT0" }, points: pts(() => 20) },
      { name: "cpu_usage_percent", points: pts(() => 5) },
    ],
  });
  await upload("r3-0003", 1, {
    metrics: [
      { name: "temperature_celsius", labels: { sensor: "cpu" }, points: pts(() => 90) },
      { name: "battery_capacity_percent", labels: { battery: "BAT0" }, points: pts(() => 5) },
    ],
  });
});

after(async () => {
  await srv?.close();
  await new Promise((r) => remote?.close(r));
  await cleanupTempDirs();
});

describe("metrics API", () => {
  test("a device's series with newest values, its skew and last upload; by name or id", async () => {
    const r = await admin.call<DeviceMetricNames>("GET", "/api/v1/devices/robot-1/metrics");
    assert.equal(r.device, "robot-1");
    assert.equal(r.deviceId, "r1-0001");
    assert.equal(typeof r.skewMs, "number");
    assert.ok(r.lastUploadAt && Date.parse(r.lastUploadAt) > Date.now() - 60_000);
    const cpuTemp = r.series.find((s) => s.name === "temperature_celsius" && s.labels.sensor === "cpu")!;
    assert.deepEqual(cpuTemp, {
      name: "temperature_celsius",
      labels: { sensor: "cpu" },
      kind: "gauge",
      lastAt: T0 + 90_000,
      lastValue: 59,
    });
    assert.equal(r.series.find((s) => s.name === "net_rx_bytes_total")!.kind, "counter");
    const byId = await admin.call<DeviceMetricNames>("GET", "/api/v1/devices/r1-0001/metrics");
    assert.equal(byId.series.length, r.series.length);
    const none = await admin.request("GET", "/api/v1/devices/robot-4/metrics");
    assert.equal(none.status, 200);
    assert.deepEqual([none.body.series, none.body.skewMs, none.body.lastUploadAt], [[], null, null]);
    const missing = await admin.request("GET", "/api/v1/devices/robot-99/metrics");
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, "TETHER_ERR_DEVICE_NOT_FOUND");
  });

  test("a range query: points per step, the gap, device names", async () => {
    const q = new URLSearchParams({
      device: "robot-1",
      metric: "temperature_celsius",
      labels: "sensor=cpu",
      since: new Date(T0).toISOString(),
      until: new Date(T0 + 2 * MIN).toISOString(),
      step: "30s",
      agg: "max",
    });
    const r = await admin.call<MetricRangeResult>("GET", `/api/v1/metrics/query?${q}`);
    assert.equal(r.stepMs, 30_000);
    assert.equal(r.from, T0);
    assert.equal(r.agg, "max");
    assert.equal(r.series.length, 1);
    const s = r.series[0]!;
    assert.deepEqual(
      [s.device, s.deviceId, s.name, s.labels],
      ["robot-1", "r1-0001", "temperature_celsius", { sensor: "cpu" }],
    );
    assert.deepEqual(s.points, [
      [T0, 52],
      [T0 + 30_000, 55],
      [T0 + 60_000, 58],
      [T0 + 90_000, 59],
    ]);
    assert.deepEqual(r.gaps, []);
    const wide = await admin.call<MetricRangeResult>(
      "GET",
      `/api/v1/metrics/query?device=robot-1&metric=cpu_usage_percent&since=${new Date(T0).toISOString()}`,
    );
    assert.equal(wide.stepMs, 60_000, "default step: 30 min / 120 = 15 s, rounded up to 1 min");
    assert.deepEqual(
      wide.gaps.map((g) => [g.device, g.deviceId, g.count, g.reason]),
      [["robot-1", "r1-0001", 42, "buffer-full"]],
    );
  });

  test("a range query over a selector covers its devices only", async () => {
    const r = await admin.call<MetricRangeResult>(
      "GET",
      `/api/v1/metrics/query?selector=site=tokyo&metric=temperature_celsius&labels=sensor=cpu&since=1h&step=1m`,
    );
    assert.deepEqual(r.series.map((s) => s.device).sort(), ["robot-1", "robot-2"]);
    const all = await admin.call<MetricRangeResult>(
      "GET",
      "/api/v1/metrics/query?metric=temperature_celsius&since=1h&limit=2",
    );
    assert.equal(all.series.length, 2);
    assert.equal(all.truncated, true);
  });

  test("range query bad input: a clear 4xx with a stable code", async () => {
    const cases: [string, number, string, RegExp?][] = [
      ["selector=site&metric=cpu_usage_percent", 400, "TETHER_ERR_BAD_SELECTOR"],
      ["device=robot-1&metric=no_such_metric", 404, "TETHER_ERR_METRIC_NOT_FOUND", /no_such_metric/],
      [
        "device=robot-1&metric=cpu_usage_percent&since=7d&step=10s",
        400,
        "TETHER_ERR_BAD_REQUEST",
        /smallest step allowed is 55s/,
      ],
      [
        "device=robot-1&metric=cpu_usage_percent&since=soon",
        400,
        "TETHER_ERR_BAD_REQUEST",
        /neither a duration/,
      ],
      [
        "device=robot-1&selector=site=tokyo&metric=cpu_usage_percent",
        400,
        "TETHER_ERR_BAD_REQUEST",
        /not both/,
      ],
      ["device=robot-1", 400, "TETHER_ERR_BAD_REQUEST"],
      ["device=robot-1&metric=cpu_usage_percent&agg=median", 400, "TETHER_ERR_BAD_REQUEST"],
      ["selector=site=mars&metric=cpu_usage_percent", 404, "TETHER_ERR_NO_DEVICES_MATCH"],
      ["device=robot-99&metric=cpu_usage_percent", 404, "TETHER_ERR_DEVICE_NOT_FOUND"],
    ];
    for (const [q, status, code, msg] of cases) {
      const r = await admin.request("GET", `/api/v1/metrics/query?${q}`);
      assert.equal(r.status, status, `${q}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, code, q);
      if (msg) assert.match(r.body.error.message, msg);
    }
  });

  test("top: the hottest robots at a site (a device ranks by its hottest sensor); the emptiest battery first", async () => {
    const hot = await admin.call<MetricTopResult>(
      "GET",
      "/api/v1/metrics/top?metric=temperature_celsius&selector=site=tokyo&limit=10",
    );
    assert.deepEqual(
      hot.rows.map((r) => [r.device, r.deviceId, r.value, r.labels]),
      [
        ["robot-2", "r2-0002", 75, { sensor: "cpu" }],
        ["robot-1", "r1-0001", 59, { sensor: "cpu" }],
      ],
    );
    const low = await admin.call<MetricTopResult>(
      "GET",
      "/api/v1/metrics/top?metric=battery_capacity_percent&order=asc&limit=2",
    );
    assert.deepEqual(
      low.rows.map((r) => [r.device, r.value]),
      [
        ["robot-3", 5],
        ["robot-2", 20],
      ],
    );
    const r = await admin.request("GET", "/api/v1/metrics/top?metric=nope");
    assert.equal(r.body.error.code, "TETHER_ERR_METRIC_NOT_FOUND");
  });

  test("the fleet summary: accepted devices, key figures combined, an hour of cpu", async () => {
    const t = Date.now();
    const s = await viewer.call<FleetSummary>("GET", "/api/v1/metrics/summary");
    const took = Date.now() - t;
    assert.deepEqual(
      s.devices.map((d) => d.device),
      ["robot-1", "robot-2", "robot-3"],
      "the pending device is left out",
    );
    const r1 = s.devices[0]!;
    assert.deepEqual(r1.figures, { cpu: 90, memory: null, disk: null, temperature: 59, battery: 80 });
    assert.equal(r1.at, T0 + 90_000);
    assert.equal(typeof r1.skewMs, "number");
    assert.equal(r1.spark.length, 60);
    // T0 is 30 minutes ago: its minute holds samples 0..50 (max 50), the next 60..90; no others.
    const i = r1.spark.indexOf(50);
    assert.ok(i >= 25 && i <= 31, `T0's minute at ${i}`);
    assert.equal(r1.spark[i + 1], 90);
    assert.equal(r1.spark.filter((v) => v !== null).length, 2);
    assert.equal(s.devices[2]!.figures.cpu, null);
    const tokyo = await viewer.call<FleetSummary>("GET", "/api/v1/metrics/summary?selector=site=tokyo");
    assert.deepEqual(
      tokyo.devices.map((d) => d.device),
      ["robot-1", "robot-2"],
    );
    assert.ok(took < 2000, `summary took ${took} ms`);
  });

  test("the Prometheus exposition: a viewer's token, the project's latest values, promtool-clean", async () => {
    const r = await viewer.request("GET", "/api/v1/metrics/prometheus");
    assert.equal(r.status, 200);
    assert.match(String(r.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
    const text = r.body as string;
    assert.ok(
      text.includes(
        `temperature_celsius{device="robot-2",device_id="r2-0002",project="default",sensor="cpu"} 75 ${T0 + 90_000}`,
      ),
      text,
    );
    assert.ok(text.includes("# TYPE net_rx_bytes_total counter"));
    assert.ok(text.includes('text="quote \\" backslash \\\\ newline \\n 東京"'));
    if (!PROMTOOL_SKIP) await assertPromtoolClean(text);
    const anon = await makeApi(url, ca).request("GET", "/api/v1/metrics/prometheus");
    assert.equal(anon.status, 401);
  });

  test("the server's own metrics: the server admin only, promtool-clean", async () => {
    const r = await admin.request("GET", "/api/v1/server/metrics");
    assert.equal(r.status, 200);
    const text = r.body as string;
    for (const want of [
      'tether_devices{state="accepted"} 3',
      'tether_devices{state="pending"} 1',
      'tether_telemetry_batches_total{result="accepted"} 3',
      "tether_telemetry_samples_total 110",
      "tether_metric_series 11",
    ])
      assert.ok(text.split("\n").includes(want), `missing ${want} in\n${text}`);
    if (!PROMTOOL_SKIP) await assertPromtoolClean(text);
    const v = await viewer.request("GET", "/api/v1/server/metrics");
    assert.equal(v.status, 403);
    assert.equal(v.body.error.code, "TETHER_ERR_FORBIDDEN");
  });

  test("remote write: stored samples forwarded with device name, id, project and own labels", async () => {
    const found = await waitFor(
      () =>
        remoteGot.find(
          (s) =>
            s.labels.some((l) => l.name === "__name__" && l.value === "temperature_celsius") &&
            s.labels.some((l) => l.name === "device" && l.value === "robot-3"),
        ),
      "robot-3's temperature at the remote",
      10_000,
    );
    assert.deepEqual(found.labels, [
      { name: "__name__", value: "temperature_celsius" },
      { name: "device", value: "robot-3" },
      { name: "device_id", value: "r3-0003" },
      { name: "project", value: "default" },
      { name: "sensor", value: "cpu" },
    ]);
    assert.deepEqual(
      found.samples,
      pts(() => 90),
    );
  });
});

/** An SSE client of the live stream (./support.js sse): `events` the `samples` events' data so far. */
function liveSse(path: string, token: string) {
  const r = sse({ url, ca }, path, token);
  return {
    get events() {
      return r.of<LiveSamples>("samples");
    },
    opened: r.opened,
    close: r.close,
  };
}

describe("live stream", () => {
  test("samples of the watched devices arrive as they are stored; a user's streams are bounded", async () => {
    const one = liveSse("/api/v1/metrics/stream?device=robot-2", viewerToken);
    const site = liveSse("/api/v1/metrics/stream?selector=site=osaka", viewerToken);
    try {
      assert.equal((await one.opened).status, 200);
      assert.equal((await site.opened).status, 200);
      // A third stream of the same user (the server allows 2 here) is refused.
      const third = liveSse("/api/v1/metrics/stream", viewerToken);
      const refused = await third.opened;
      assert.equal(refused.status, 429);
      assert.equal(refused.body.error.code, "TETHER_ERR_TOO_MANY_STREAMS");
      const at = Date.now();
      await upload("r2-0002", 2, { metrics: [{ name: "cpu_usage_percent", points: [[at, 33]] }] });
      await upload("r3-0003", 2, { metrics: [{ name: "load1", points: [[at, 0.5]] }] });
      const e = await waitFor(() => one.events[0], "robot-2's samples on its stream");
      assert.deepEqual(e, {
        device: "robot-2",
        deviceId: "r2-0002",
        series: [{ name: "cpu_usage_percent", labels: {}, points: [[at, 33]] }],
        gaps: [],
      });
      await waitFor(() => site.events.length === 1, "robot-3's samples on the osaka stream");
      assert.equal(site.events[0]!.device, "robot-3");
      assert.equal(one.events.length, 1, "robot-3's samples are not on robot-2's stream");
      const bad = liveSse("/api/v1/metrics/stream?selector=site", adminToken);
      assert.equal((await bad.opened).status, 400);
    } finally {
      one.close();
      site.close();
    }
    // Closed streams are forgotten: the user may open new ones.
    await waitFor(async () => {
      const again = liveSse("/api/v1/metrics/stream?device=robot-1", viewerToken);
      const ok = (await again.opened).status === 200;
      again.close();
      return ok;
    }, "a stream slot freed");
  });
});

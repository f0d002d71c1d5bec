// @matrix: once
// The Prometheus text exposition (docs/protocol.md §14.5) passes Debian's `promtool check
// metrics`: the project's latest values with device labels (odd label values — quotes,
// backslashes, newlines, unicode — escaped) and the server's own health. promtool exits 1 on
// a parse error and 3 on lint findings (style: units, help, _total): the system metric names
// and the server's own must be clean (exit 0, no output); an application's own metric with a
// non-idiomatic name may draw lint findings but must still parse.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { pino } from "pino";
import { deviceFamilies, seriesLabels } from "../src/capabilities/metrics/device-export.js";
import { LiveHub } from "../src/capabilities/metrics/live.js";
import {
  escapeHelp,
  escapeLabelValue,
  exposition,
  formatValue,
} from "../src/capabilities/metrics/prometheus.js";
import { RemoteWriter } from "../src/capabilities/metrics/remote-write.js";
import { ServerMetrics } from "../src/capabilities/metrics/server-metrics.js";
import type { LatestSample } from "../src/capabilities/metrics/store/types.js";
import { openServerStore } from "../src/create-server.js";
import { nowIso } from "../src/store/db.js";
import { assertPromtoolClean, promtool, promtoolSkip } from "./metrics-support.js";
import { insertDevice } from "./support.js";

const SKIP = promtoolSkip();

const root = mkdtempSync(join(tmpdir(), "tether-expo-"));
after(() => rmSync(root, { recursive: true, force: true }));

const T = 1_700_000_000_000;
const ODD = 'say "hi"\\ C:\\temp\nline two — 東京 🤖';

function sample(
  deviceId: string,
  name: string,
  labels: Record<string, string>,
  value: number,
  kind = "gauge",
): LatestSample {
  return { deviceId, name, labels, kind: kind as "gauge" | "counter", value, at: T };
}

test("label values and help text are escaped as the format says", () => {
  assert.equal(escapeLabelValue(ODD), 'say \\"hi\\"\\\\ C:\\\\temp\\nline two — 東京 🤖');
  assert.equal(escapeHelp('a\\b\nc "q"'), 'a\\\\b\\nc "q"');
  assert.deepEqual([NaN, Infinity, -Infinity, 0.5, -2, 1e21].map(formatValue), [
    "NaN",
    "+Inf",
    "-Inf",
    "0.5",
    "-2",
    "1e+21",
  ]);
});

test("the project's latest values: device labels first, one family per metric, counters typed", {
  skip: SKIP,
}, async () => {
  const devices = new Map([
    ["id-1", { id: "id-1", name: ODD }],
    ["id-2", { id: "id-2", name: "robot-2" }],
  ]);
  const latest: LatestSample[] = [
    sample("id-1", "temperature_celsius", { sensor: ODD }, 41.5),
    sample("id-2", "net_rx_bytes_total", { interface: "wlan0" }, 1e12, "counter"),
    sample("id-2", "temperature_celsius", { sensor: "cpu" }, 38),
    sample("id-1", "net_rx_bytes_total", { interface: "eth0" }, 12, "counter"),
    sample("id-1", "cpu_usage_percent", {}, Number.NaN),
    sample("id-1", "battery_status", { battery: "BAT0", device: "clash" }, 2),
    sample("gone", "cpu_usage_percent", {}, 1), // not a device of the project: left out
  ];
  const text = exposition(deviceFamilies(latest, devices, "default"));
  await assertPromtoolClean(text);
  const lines = text.split("\n");
  // Each family in one piece, HELP then TYPE.
  const types = lines.filter((l) => l.startsWith("# TYPE"));
  assert.deepEqual(types, [
    "# TYPE battery_status gauge",
    "# TYPE cpu_usage_percent gauge",
    "# TYPE net_rx_bytes_total counter",
    "# TYPE temperature_celsius gauge",
  ]);
  assert.ok(lines.includes("# HELP temperature_celsius Temperature per sensor, degrees Celsius"));
  assert.ok(
    lines.includes(
      `temperature_celsius{device="${escapeLabelValue(ODD)}",device_id="id-1",project="default",sensor="${escapeLabelValue(ODD)}"} 41.5 ${T}`,
    ),
  );
  assert.ok(
    lines.includes(
      `cpu_usage_percent{device="${escapeLabelValue(ODD)}",device_id="id-1",project="default"} NaN ${T}`,
    ),
  );
  // A device's own label named like a server label is kept, renamed.
  assert.ok(
    lines.some(
      (l) => l.startsWith("battery_status{") && l.includes(',battery="BAT0",exported_device="clash"}'),
    ),
  );
  assert.ok(!text.includes("gone"));
  assert.deepEqual(seriesLabels({ id: "x", name: "n" }, "p", { __x: "1" }), [
    ["device", "n"],
    ["device_id", "x"],
    ["project", "p"],
    ["exported__x", "1"],
  ]);
});

test("an application's metric with a non-idiomatic name still parses (lint findings only)", {
  skip: SKIP,
}, async () => {
  const devices = new Map([["id-1", { id: "id-1", name: "r" }]]);
  const text = exposition(
    deviceFamilies(
      [sample("id-1", "nav_latency_ms", {}, 3), sample("id-1", "arm:joints", { j: "1" }, 2)],
      devices,
      "p",
    ),
  );
  const r = await promtool(text);
  assert.ok(r.code === 0 || r.code === 3, `promtool exit ${r.code}: ${r.out.join("\n")}`);
  assert.ok(!r.out.some((l) => /error|parsing/i.test(l)), r.out.join("\n"));
});

test("an empty project is a valid, empty exposition", { skip: SKIP }, async () => {
  await assertPromtoolClean(exposition(deviceFamilies([], new Map(), "p")));
});

test("the server's own health passes promtool, with the control channel's figures added", {
  skip: SKIP,
}, async () => {
  const store = await openServerStore(`sqlite:${join(root, "tether.db")}`);
  try {
    const { id: projectId } = await store.db
      .insertInto("projects")
      .values({ name: "p", created_at: nowIso() })
      .returning("id")
      .executeTakeFirstOrThrow();
    await insertDevice(store.db, projectId, "dev-a");
    await insertDevice(store.db, projectId, "dev-b");
    await store.db.updateTable("devices").set({ online: 1 }).where("id", "=", "dev-a").execute();
    await store.db.updateTable("devices").set({ state: "revoked" }).where("id", "=", "dev-b").execute();
    const log = pino({ level: "silent" });
    const remote = new RemoteWriter({ url: "http://127.0.0.1:9/api/v1/write", log, flushMs: 60_000 });
    const m = new ServerMetrics({
      db: store.db,
      telemetry: {
        stats: () => ({
          batchesAccepted: 10,
          batchesDuplicate: 2,
          batchesRejected: { "telemetry-token": 3, "batch-malformed": 1 },
          samplesAccepted: 5000,
          bytesReceived: 123456,
        }),
      },
      store: {
        stats: () => ({
          series: 42,
          recentRows: 7,
          chunks: 3,
          samplesStored: 5000,
          seriesLimitDrops: 0,
          lastCompactionMs: 12,
        }),
      },
      live: new LiveHub({ maxPerUser: 16, heartbeatMs: 15_000, maxBufferedBytes: 1 << 20 }, log),
      remote,
      serverStats: () => ({
        control_messages_up_total: 99,
        control_handshakes_total: 4,
        "bad name!": 1,
        nan: NaN,
      }),
    });
    const text = exposition(await m.families());
    m.close();
    await remote.close(0);
    await assertPromtoolClean(text);
    const lines = text.split("\n");
    for (const want of [
      'tether_devices{state="accepted"} 1',
      'tether_devices{state="revoked"} 1',
      "tether_devices_online 1",
      "tether_control_outbox_messages 0",
      'tether_telemetry_batches_total{result="accepted"} 10',
      'tether_telemetry_batches_total{result="rejected",reason="telemetry-token"} 3',
      "tether_telemetry_samples_total 5000",
      "tether_metric_series 42",
      "tether_metric_recent_rows 7",
      'tether_remote_write_samples_total{result="sent"} 0',
      "tether_control_messages_up_total 99",
      "# TYPE tether_control_messages_up_total counter",
      "tether_bad_name_ 1",
    ])
      assert.ok(lines.includes(want), `missing ${want}`);
    assert.ok(lines.some((l) => /^process_resident_memory_bytes \d+$/.test(l)));
    assert.ok(lines.some((l) => /^nodejs_eventloop_lag_p99_seconds [\d.e-]+$/.test(l)));
    assert.ok(!text.includes("tether_nan"), "a non-finite provided figure is left out");
  } finally {
    await store.close();
  }
});

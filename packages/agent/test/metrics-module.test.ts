// @matrix: once
// The metrics module end to end (docs/protocol.md §14) with a fake AgentTelemetry: from start it
// seals one batch per interval into the "metrics" stream — system metrics from the fixture trees
// and StatsD, Influx and scraped application metrics — enforces the series limit with a counted
// drop and a gap record, and applies remote settings with the device-only rules.
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { createServer } from "node:http";
import { test } from "node:test";
import type { MetricSeriesWire } from "@tether/protocol";
import type { CapabilityPorts } from "../src/capability.js";
import {
  loadMetricsSettings,
  type MetricsFlags,
  type MetricsRuntime,
  metrics,
} from "../src/capabilities/metrics/index.js";
import type { FsStats } from "../src/capabilities/metrics/collectors/collector.js";
import { captureLog, fakeTelemetry, PROC, SYS, until } from "./fixtures/metrics/support.js";

const statfs = (p: string): FsStats => {
  if (p === "/") return { bsize: 4096, blocks: 1000, bfree: 500, bavail: 500 };
  throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
};

function setup(t: import("node:test").TestContext, flags: MetricsFlags, file: object = {}) {
  const fake = fakeTelemetry();
  const { log, lines } = captureLog();
  const settings = loadMetricsSettings(
    { settingsFile: "agent.json", flags: { procRoot: PROC, sysRoot: SYS, ...flags } },
    () => JSON.stringify(file),
  );
  const rt: MetricsRuntime = metrics.create({ log } as unknown as CapabilityPorts, {
    telemetry: fake.telemetry,
    settings,
    statfs,
    ephemeralPorts: true,
  });
  t.after(() => rt.stop());
  return { ...fake, rt, lines };
}

const find = (ms: MetricSeriesWire[] | undefined, name: string, labels?: Record<string, string>) =>
  ms?.find((m) => m.name === name && (!labels || JSON.stringify(m.labels) === JSON.stringify(labels)));

test("one batch per interval from start: system metrics and StatsD, Influx and scraped application metrics", async (t) => {
  const exporter = createServer((_req, res) => res.end("# TYPE ros_msgs_total counter\nros_msgs_total 42\n"));
  await new Promise<void>((r) => exporter.listen(0, "127.0.0.1", r));
  t.after(() => {
    exporter.closeAllConnections();
    exporter.close();
  });
  const { port } = exporter.address() as { port: number };
  const scrape = `http://127.0.0.1:${port}/metrics`;
  const { rt, appended } = setup(t, { interval: "0.05", scrape: [scrape] });
  metrics.start!(rt);
  // The first batch is sealed at start, offline or not, with the fixture's system metrics.
  assert.equal(appended.length, 1);
  const first = appended[0]!;
  const at = first.span.from;
  assert.deepEqual(find(first.metrics, "battery_capacity_percent", { battery: "axp20x-battery" })?.points, [
    [at, 64],
  ]);
  assert.deepEqual(find(first.metrics, "temperature_celsius", { sensor: "cpu-thermal" })?.points, [
    [at, 48.312],
  ]);
  assert.deepEqual(find(first.metrics, "wireless_signal_dbm", { interface: "wlan0" })?.points, [[at, -56]]);
  assert.equal(find(first.metrics, "net_rx_bytes_total", { interface: "eth0" })?.kind, "counter");
  assert.deepEqual(find(first.metrics, "disk_used_percent", { mount: "/" })?.points, [[at, 50]]);
  assert.ok(find(first.metrics, "agent_rss_bytes"));
  assert.deepEqual(find(first.metrics, "agent_buffer_used_percent")?.points, [[at, 25]]);
  assert.equal(
    first.span.count,
    first.metrics!.reduce((n, m) => n + m.points.length, 0),
    "the span counts every point, for a gap record if the batch is ever dropped",
  );

  await rt.whenListening();
  const { statsd, influx } = rt.ports;
  assert.ok(statsd && influx, "both endpoints listen");
  const udp = createSocket("udp4");
  t.after(() => udp.close());
  udp.send("pick.count:2|c|#arm:left", statsd, "127.0.0.1");
  const res = await fetch(`http://127.0.0.1:${influx}/write?precision=ms`, {
    method: "POST",
    body: `gripper,arm=left force=12.5 ${Date.now()}`,
  });
  assert.equal(res.status, 204);
  const all = () => appended.flatMap((b) => b.metrics ?? []);
  await until(
    () =>
      !!find(all(), "pick_count_total") && !!find(all(), "gripper_force") && !!find(all(), "ros_msgs_total"),
    "application metrics in a batch",
  );
  assert.deepEqual(find(all(), "pick_count_total")?.labels, { arm: "left" });
  assert.equal(find(all(), "ros_msgs_total")?.kind, "counter");
  await until(() => appended.length >= 4, "more intervals");
  for (let i = 1; i < appended.length; i++)
    assert.ok(appended[i]!.span.to >= appended[i - 1]!.span.to, "batches follow each other in time");

  await rt.stop();
  const sealed = appended.length;
  metrics.onStopping!(rt); // a second stop is harmless
  assert.equal(appended.length, sealed);
});

test("the series limit: new series beyond maxSeries are dropped, counted, recorded as a gap and warned about", async (t) => {
  // A long interval: this test drives the intervals itself (tick) after each write.
  const { rt, appended, gaps, lines } = setup(
    t,
    { interval: "3600", statsdPort: "0" },
    { "tether.metrics.maxSeries": 80 },
  );
  metrics.start!(rt);
  await rt.whenListening();
  const systemSeries = appended[0]!.metrics!.length;
  assert.ok(systemSeries < 80, `${systemSeries} system series fit`);
  const room = 80 - systemSeries;
  const body = Array.from({ length: room + 5 }, (_, i) => `app,n=${i} value=${i}`).join("\n");
  const res = await fetch(`http://127.0.0.1:${rt.ports.influx}/write`, { method: "POST", body });
  assert.equal(res.status, 204);
  rt.tick();
  const batch = appended.at(-1)!;
  assert.equal(batch.metrics!.filter((m) => m.name === "app").length, room);
  assert.equal(rt.drops.get("series-limit"), 5);
  assert.equal(gaps.length, 1);
  assert.equal(gaps[0]!.reason, "series-limit");
  assert.equal(gaps[0]!.count, 5);
  const warned = lines.filter((l) => /series dropped|maxSeries/.test(l.msg));
  assert.equal(warned.length, 1);
  // The drop is visible as a metric in the next batch; the same overflow again warns no more.
  await fetch(`http://127.0.0.1:${rt.ports.influx}/write`, { method: "POST", body });
  rt.tick();
  const next = appended.at(-1)!.metrics;
  assert.equal(
    find(next, "agent_dropped_samples_total", { reason: "series-limit" })?.points[0]?.[1],
    5,
    "the agent's own series pass even at the limit",
  );
  assert.equal(next!.filter((m) => m.name === "app").length, room, "known series keep passing");
  assert.equal(rt.drops.get("series-limit"), 10);
  assert.equal(
    lines.filter((l) => /series dropped|maxSeries/.test(l.msg)).length,
    1,
    "at most once a minute",
  );
});

test("remote settings: applied over the file, device-only keys and unlisted scrape targets refused with a logged reason", async (t) => {
  const { rt, resized, lines } = setup(
    t,
    { interval: "3600", statsdPort: "0", influxPort: "0" },
    { tether: { metrics: { allowScrape: ["http://127.0.0.1:9100/"], maxSeries: 500 } } },
  );
  metrics.start!(rt);
  metrics.applySettings!(rt, {
    interval: 30,
    bufferSize: "32MiB",
    procRoot: "/tmp/elsewhere",
    scrape: ["http://127.0.0.1:9100/metrics", "http://10.1.2.3:9100/metrics"],
  });
  const s = rt.settings;
  assert.equal(s.intervalMs, 30_000);
  assert.equal(s.from.intervalMs, "remote");
  assert.equal(s.maxSeries, 500, "the file's value stays where remote says nothing");
  assert.equal(s.procRoot, PROC, "remote never moves the roots");
  assert.deepEqual(
    s.scrape.map((x) => x.url),
    ["http://127.0.0.1:9100/metrics"],
  );
  assert.deepEqual(resized, [32 * 1024 * 1024]);
  const text = lines.map((l) => l.msg).join("\n");
  assert.match(text, /procRoot is set only by the device/);
  assert.match(text, /10\.1\.2\.3:9100.*refused: not under tether\.metrics\.allowScrape/);
  // Clearing the remote layer restores the device's own settings.
  metrics.applySettings!(rt, {});
  assert.equal(rt.settings.intervalMs, 3_600_000);
  assert.deepEqual(rt.settings.scrape, []);
});

test("without a telemetry layer the module stays off instead of failing the agent", () => {
  const { log, lines } = captureLog();
  const rt = metrics.create({ log } as unknown as CapabilityPorts, undefined);
  metrics.start!(rt);
  metrics.onStopping!(rt);
  assert.ok(lines.some((l) => /collection is off/.test(l.msg)));
});

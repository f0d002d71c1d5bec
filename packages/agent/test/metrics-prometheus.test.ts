// @matrix: once
// Scraping local Prometheus endpoints (docs/protocol.md §14, application metrics): the text
// exposition format (TYPE lines, label escapes, optional timestamps, counters → kind counter,
// NaN/Inf and garbage counted) and a real scrape of a local HTTP server with a body cap and a timeout.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { test } from "node:test";
import { Drops } from "../src/capabilities/metrics/drops.js";
import { parsePrometheusText } from "../src/capabilities/metrics/prometheus-text.js";
import { scrapeOnce } from "../src/capabilities/metrics/scraper.js";

const NOW = 1_764_583_320_000;

const EXPOSITION = `# HELP ros_topic_messages_total Messages seen per topic.
# TYPE ros_topic_messages_total counter
ros_topic_messages_total{topic="/scan",node="lidar \\"front\\""} 1027 1764583319000
ros_topic_messages_total{topic="/odom",node="a\\\\b\\nc",} 88
# TYPE ros_cpu gauge
ros_cpu 12.5
# TYPE plan_seconds histogram
plan_seconds_bucket{le="0.1"} 3
plan_seconds_bucket{le="+Inf"} 5
plan_seconds_sum 0.73
plan_seconds_count 5
plan_seconds_created 1764500000
# TYPE http_requests counter
http_requests{job="ros",instance="x"} 4
untyped_thing_total 9
weird.name-here 1
broken{label=unquoted} 1
nan_metric NaN
inf_metric +Inf
`;

test("parses the text format: kinds from TYPE, label escapes, timestamps, reserved labels renamed", () => {
  const drops = new Drops();
  const s = parsePrometheusText(EXPOSITION, NOW, drops, { robot: "r1" });
  assert.deepEqual(s, [
    {
      name: "ros_topic_messages_total",
      labels: { node: 'lidar "front"', robot: "r1", topic: "/scan" },
      value: 1027,
      t: 1_764_583_319_000,
      kind: "counter",
    },
    {
      name: "ros_topic_messages_total",
      labels: { node: "a\\b\nc", robot: "r1", topic: "/odom" },
      value: 88,
      t: NOW,
      kind: "counter",
    },
    { name: "ros_cpu", labels: { robot: "r1" }, value: 12.5, t: NOW },
    { name: "plan_seconds_bucket", labels: { le: "0.1", robot: "r1" }, value: 3, t: NOW, kind: "counter" },
    { name: "plan_seconds_bucket", labels: { le: "+Inf", robot: "r1" }, value: 5, t: NOW, kind: "counter" },
    { name: "plan_seconds_sum", labels: { robot: "r1" }, value: 0.73, t: NOW, kind: "counter" },
    { name: "plan_seconds_count", labels: { robot: "r1" }, value: 5, t: NOW, kind: "counter" },
    {
      name: "http_requests",
      labels: { exported_instance: "x", exported_job: "ros", robot: "r1" },
      value: 4,
      t: NOW,
      kind: "counter",
    },
    { name: "untyped_thing_total", labels: { robot: "r1" }, value: 9, t: NOW, kind: "counter" },
  ]);
  // "weird.name-here" is not a valid exposition name; unquoted label; NaN and +Inf: counted.
  assert.equal(drops.get("parse-error"), 2);
  assert.equal(drops.get("invalid-value"), 2);
});

test("garbage of every kind is counted, never thrown", () => {
  const drops = new Drops();
  const junk = ["{}", 'x{a="b"', "x 1 2 3", 'x{a="b"} notanumber', "\u0000\u0001", 'x{="v"} 1', "🚀 1"].join(
    "\n",
  );
  assert.deepEqual(parsePrometheusText(junk, NOW, drops), []);
  assert.equal(drops.get("parse-error"), 7);
});

async function serve(t: import("node:test").TestContext, handler: Parameters<typeof createServer>[1]) {
  const server: Server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const a = server.address();
  return `http://127.0.0.1:${typeof a === "object" && a ? a.port : 0}/metrics`;
}

test("a real scrape of a local exporter, with the target's labels", async (t) => {
  const url = await serve(t, (_req, res) => {
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
    res.end('# TYPE battery_cycles_total counter\nbattery_cycles_total{pack="A"} 311\nros_nodes 14\n');
  });
  const drops = new Drops();
  const s = await scrapeOnce({ url, intervalMs: null, labels: { exporter: "ros" } }, 1000, () => NOW, drops);
  assert.deepEqual(s, [
    {
      name: "battery_cycles_total",
      labels: { exporter: "ros", pack: "A" },
      value: 311,
      t: NOW,
      kind: "counter",
    },
    { name: "ros_nodes", labels: { exporter: "ros" }, value: 14, t: NOW },
  ]);
});

test("a scrape fails cleanly on a body over the cap, an HTTP error, and a timeout", async (t) => {
  const big = await serve(t, (_req, res) => {
    res.writeHead(200);
    for (let i = 0; i < 100; i++) res.write(`m${i} ${i}\n`.padEnd(100, " "));
    res.end();
  });
  const drops = new Drops();
  const target = (url: string) => ({ url, intervalMs: null, labels: {} });
  await assert.rejects(
    scrapeOnce(target(big), 1000, () => NOW, drops, 1000),
    /body over 1000 bytes/,
  );
  const broken = await serve(t, (_req, res) => {
    res.writeHead(500);
    res.end("oops");
  });
  await assert.rejects(
    scrapeOnce(target(broken), 1000, () => NOW, drops),
    /HTTP 500/,
  );
  const slow = await serve(t, () => {
    // never answers
  });
  await assert.rejects(
    scrapeOnce(target(slow), 100, () => NOW, drops),
    /timeout|aborted/i,
  );
});

// @matrix: once
// InfluxDB line protocol on 127.0.0.1 (docs/protocol.md §14, application metrics): the parser
// (escapes, integers, floats, booleans, strings skipped and counted, precision), and real UDP
// and HTTP round trips (/write, /api/v2/write: 204, 400 naming the bad line, 413, gzip).
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { Drops } from "../src/capabilities/metrics/drops.js";
import { influxToSamples, parseInfluxLine } from "../src/capabilities/metrics/influx-line.js";
import { startInfluxEndpoint } from "../src/capabilities/metrics/influx-server.js";
import type { Sample } from "../src/capabilities/metrics/sample.js";
import { until } from "./fixtures/metrics/support.js";

const NOW = 1_764_583_320_000;

test("parses measurement, escaped tags, typed fields and the timestamp", () => {
  assert.deepEqual(
    parseInfluxLine(
      'motor\\ state,robot=r\\,1,side=left\\ arm rpm=1200i,load=0.75,ok=true,note="say \\"hi\\"" 1764583320000000000',
    ),
    {
      measurement: "motor state",
      tags: [
        ["robot", "r,1"],
        ["side", "left arm"],
      ],
      fields: [
        ["rpm", 1200],
        ["load", 0.75],
        ["ok", 1],
        ["note", 'say "hi"'],
      ],
      timestamp: 1764583320000000000,
    },
  );
  assert.equal(parseInfluxLine("# a comment"), null);
  assert.equal(parseInfluxLine("   "), null);
  for (const bad of [
    "cpu",
    "cpu,host",
    "cpu value=",
    "cpu value=abc",
    'cpu s="open',
    "cpu value=1 12x",
    ",x=1 v=1",
    "cpu,a= v=1",
  ])
    assert.throws(() => parseInfluxLine(bad), Error, bad);
});

test("samples: <measurement>_<field> (value alone: the measurement), tags as labels, precision to ms, strings counted", () => {
  const drops = new Drops();
  const { samples, bad } = influxToSamples(
    [
      "battery,pack=main value=87.5 1764583320",
      'nav.planner,robot=r1 replans_total=3i,ok=false,state="idle" 1764583321',
      "garbage here",
      "weather temp=21.5",
    ].join("\n"),
    "s",
    NOW,
    drops,
  );
  assert.deepEqual(samples, [
    { name: "battery", labels: { pack: "main" }, value: 87.5, t: 1_764_583_320_000 },
    {
      name: "nav_planner_replans_total",
      labels: { robot: "r1" },
      value: 3,
      t: 1_764_583_321_000,
      kind: "counter",
    },
    { name: "nav_planner_ok", labels: { robot: "r1" }, value: 0, t: 1_764_583_321_000 },
    { name: "weather_temp", value: 21.5, t: NOW },
  ] satisfies Sample[]);
  assert.equal(bad.length, 1);
  assert.equal(bad[0]!.line, 3);
  assert.equal(drops.get("parse-error"), 1);
  assert.equal(drops.get("string-field"), 1);
  const ns = influxToSamples("m v=1 1764583320123456789", "ns", NOW, drops).samples[0]!;
  assert.equal(ns.t, 1_764_583_320_123);
  assert.equal(influxToSamples("m v=1 1764583320123456", "us", NOW, drops).samples[0]!.t, 1_764_583_320_123);
});

async function endpoint(t: import("node:test").TestContext, maxBodyBytes?: number) {
  const drops = new Drops();
  const got: Sample[] = [];
  const ep = await startInfluxEndpoint({
    port: 0,
    drops,
    sink: (s) => got.push(...s),
    now: () => NOW,
    onError: (e) => assert.fail(e),
    maxBodyBytes,
  });
  t.after(() => ep.close());
  const url = (path: string) => `http://127.0.0.1:${ep.port}${path}`;
  return { ep, drops, got, url };
}

test("HTTP /write and /api/v2/write: 204 on success, precision honoured, gzip accepted", async (t) => {
  const { got, url } = await endpoint(t);
  let res = await fetch(url("/write?db=robots&precision=ms"), {
    method: "POST",
    body: "arm,joint=1 angle=12.5 1764583320500\n",
  });
  assert.equal(res.status, 204);
  res = await fetch(url("/api/v2/write?org=o&bucket=b&precision=s"), {
    method: "POST",
    headers: { "content-encoding": "gzip" },
    body: gzipSync("arm,joint=2 angle=7i 1764583321"),
  });
  assert.equal(res.status, 204);
  assert.deepEqual(got, [
    { name: "arm_angle", labels: { joint: "1" }, value: 12.5, t: 1_764_583_320_500 },
    { name: "arm_angle", labels: { joint: "2" }, value: 7, t: 1_764_583_321_000 },
  ]);
  assert.equal((await fetch(url("/ping"))).status, 204, "Telegraf's and clients' health check");
});

test("HTTP: 400 with a JSON error naming the bad line (the good ones kept), bad precision, 404, 413", async (t) => {
  const { got, drops, url } = await endpoint(t, 1024);
  let res = await fetch(url("/write"), {
    method: "POST",
    body: "ok v=1\nok v=2\nthis is not line protocol\nok v=3",
  });
  assert.equal(res.status, 400);
  const err = (await res.json()) as { code: string; message: string; error: string; line: number };
  assert.equal(err.code, "invalid");
  assert.equal(err.line, 3);
  assert.match(err.message, /line 3/);
  assert.match(err.message, /this is not line protocol/);
  assert.equal(got.length, 3, "the good lines are kept, as InfluxDB does");
  res = await fetch(url("/write?precision=fortnights"), { method: "POST", body: "ok v=1" });
  assert.equal(res.status, 400);
  assert.match(((await res.json()) as { message: string }).message, /precision/);
  assert.equal((await fetch(url("/query?q=x"), { method: "GET" })).status, 404);
  res = await fetch(url("/write"), { method: "POST", body: `big v=1\n`.repeat(200) });
  assert.equal(res.status, 413);
  res = await fetch(url("/write"), {
    method: "POST",
    headers: { "content-encoding": "gzip" },
    body: gzipSync("x".repeat(100_000)),
  });
  assert.equal(res.status, 413, "a decompression bomb stops at the cap");
  assert.equal(drops.get("oversize"), 2);
});

test("UDP on the same port number: a datagram of line protocol arrives, garbage counted", async (t) => {
  const { ep, got, drops } = await endpoint(t);
  const client = createSocket("udp4");
  t.after(() => client.close());
  client.send("lidar,unit=front points=20480i\n\u0000\u0000 nonsense\n", ep.port, "127.0.0.1");
  await until(() => got.length === 1 && drops.get("parse-error") === 1, "the datagram");
  assert.deepEqual(got[0], { name: "lidar_points", labels: { unit: "front" }, value: 20480, t: NOW });
});

// @matrix: once
// StatsD over UDP on 127.0.0.1 (docs/protocol.md §14, application metrics): counters with
// sample rates, gauges with deltas, timers summarised per interval, sets, DogStatsD tags kept
// as labels, garbage counted (never a crash), and a real datagram round trip.
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { test } from "node:test";
import { Drops } from "../src/capabilities/metrics/drops.js";
import type { Sample } from "../src/capabilities/metrics/sample.js";
import { startStatsdEndpoint } from "../src/capabilities/metrics/statsd-server.js";
import { parseStatsdLine, StatsdAggregator } from "../src/capabilities/metrics/statsd.js";
import { until } from "./fixtures/metrics/support.js";

const T = 1_764_583_320_000;
const byName = (s: Sample[]) =>
  Object.fromEntries(s.map((x) => [x.name + (x.labels ? JSON.stringify(x.labels) : ""), x]));

test("parses the StatsD line forms, DogStatsD tags and multi-value lines", () => {
  assert.deepEqual(parseStatsdLine("page.views:1|c|@0.1|#env:prod,region:eu-1"), {
    name: "page.views",
    type: "c",
    values: [1],
    delta: false,
    rate: 0.1,
    tags: [
      ["env", "prod"],
      ["region", "eu-1"],
    ],
  });
  assert.equal((parseStatsdLine("tank.level:-5|g") as { delta: boolean }).delta, true);
  assert.deepEqual((parseStatsdLine("lat:1:2:3.5|ms") as { values: number[] }).values, [1, 2, 3.5]);
  assert.equal(parseStatsdLine(""), null);
  assert.equal(parseStatsdLine("_e{5,4}:title|text"), null, "DogStatsD events are not metrics");
  for (const bad of ["nocolon", "x:1|zz", "x:abc|c", "x:1|c|@0", "x:1|c|@2", ":1|c", "x:1"])
    assert.ok("error" in (parseStatsdLine(bad) as object), `${bad} should be refused`);
});

test("aggregates an interval: cumulative counters, gauges with deltas, timer summaries, set sizes", () => {
  const drops = new Drops();
  const agg = new StatsdAggregator(drops);
  agg.ingest(
    [
      "robot.jobs:1|c",
      "robot.jobs:2|c",
      "robot.jobs:1|c|@0.5",
      "arm.temp:40|g",
      "arm.temp:+2.5|g",
      "arm.temp:-0.5|g",
      "plan.time:10|ms",
      "plan.time:30|ms",
      "plan.time:20|ms|@0.5",
      "visitors:alice|s",
      "visitors:bob|s",
      "visitors:alice|s",
      "motor-rpm:1200|g|#motor:left,device:arm,__x:y",
    ].join("\n"),
    T,
  );
  const first = byName(agg.flush(T));
  assert.deepEqual(first.robot_jobs_total, { name: "robot_jobs_total", value: 5, t: T, kind: "counter" });
  assert.equal(first.arm_temp!.value, 42);
  assert.equal(first.arm_temp!.kind, undefined, "gauges are gauges");
  assert.equal(first.plan_time_count!.value, 4, "a 0.5 sample rate counts twice");
  assert.equal(first.plan_time_sum!.value, 80);
  assert.equal(first.plan_time_min!.value, 10);
  assert.equal(first.plan_time_max!.value, 30);
  assert.equal(first.plan_time_avg!.value, 20);
  assert.equal(first.visitors!.value, 2);
  assert.deepEqual(
    first['motor_rpm{"exported___x":"y","exported_device":"arm","motor":"left"}']?.labels,
    { exported___x: "y", exported_device: "arm", motor: "left" },
    "tags kept; reserved and __ names prefixed exported_",
  );
  // Next interval: counters and gauges carry on, timers and sets start over.
  agg.ingest("robot.jobs:3|c\narm.temp:-2|g", T + 10_000);
  const second = byName(agg.flush(T + 10_000));
  assert.equal(second.robot_jobs_total!.value, 8, "cumulative: a counter the server can take a rate of");
  assert.equal(second.arm_temp!.value, 40);
  assert.equal(second.plan_time_count, undefined);
  assert.equal(second.visitors, undefined);
  assert.equal(drops.get("parse-error"), 0);
});

test("garbage is counted as parse-error, never thrown; the good lines around it count", () => {
  const drops = new Drops();
  const agg = new StatsdAggregator(drops);
  agg.ingest("ok:1|c\n\u0000\u0001garbage\nx:y|c\n:::|||\nok:1|c\n".repeat(3), T);
  assert.equal(drops.get("parse-error"), 9);
  assert.equal(byName(agg.flush(T)).ok_total!.value, 6);
});

test("the aggregator keeps a bounded number of entries; new ones beyond are dropped as series-limit", () => {
  const drops = new Drops();
  const agg = new StatsdAggregator(drops, { maxEntries: 3, maxSetMembers: 2, idleMs: 60_000 });
  agg.ingest("a:1|c\nb:1|c\nc:1|c\nd:1|c\ns:1|s", T);
  assert.equal(agg.size, 3);
  assert.equal(drops.get("series-limit"), 2);
  // Idle counters are forgotten after idleMs, making room again.
  agg.flush(T + 61_000);
  assert.equal(agg.size, 0);
});

test("a real StatsD datagram on 127.0.0.1 reaches the aggregator", async (t) => {
  const drops = new Drops();
  const agg = new StatsdAggregator(drops);
  const ep = await startStatsdEndpoint(
    0,
    agg,
    drops,
    () => T,
    (e) => assert.fail(e),
  );
  t.after(() => ep.close());
  const client = createSocket("udp4");
  t.after(() => client.close());
  client.send("door.opened:1|c|#door:front\nbogus line\n", ep.port, "127.0.0.1");
  await until(() => agg.size === 1 && drops.get("parse-error") === 1, "the datagram");
  const [s] = agg.flush(T);
  assert.deepEqual(s, {
    name: "door_opened_total",
    labels: { door: "front" },
    value: 1,
    t: T,
    kind: "counter",
  });
});

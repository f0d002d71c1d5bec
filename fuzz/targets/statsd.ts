/**
 * StatsD / DogStatsD datagrams as the agent's UDP listener hands them over (agent
 * capabilities/metrics/statsd.ts; docs/protocol.md §14, application metrics): the aggregator
 * ingests the text and flushes, twice (the second after an idle hour), with small limits so
 * the series and set caps are reached.
 * Contract: never throws; every line that is not blank, an event or a service check either
 * becomes an entry or is counted in Drops; every flushed sample has a name and labels the
 * server accepts (METRIC_NAME, LABEL_NAME, not reserved, at most 32 labels of ≤ 256 chars).
 */
import { Drops } from "../../packages/agent/src/capabilities/metrics/drops.js";
import { StatsdAggregator, type StatsdLimits } from "../../packages/agent/src/capabilities/metrics/statsd.js";
import type { Target } from "../lib.js";
import { assertSamples, Broken, contentLines, dropped } from "./metric-rules.js";

const NOW = 1_750_000_000_000;
const LIMITS: StatsdLimits = { maxEntries: 16, maxSetMembers: 8, idleMs: 3_600_000 };
const isEvent = (l: string) => l.startsWith("_e{") || l.startsWith("_sc|");

export const statsd: Target = {
  name: "statsd",
  what: "StatsD/DogStatsD lines: StatsdAggregator.ingest and flush",
  seeds: () =>
    [
      "robot.nav.goals_reached:1|c\nrobot.battery.voltage:24.3|g\nrobot.planner.latency:12.5|ms|@0.5\n",
      "robot.lidar.points:1024|h|#sensor:front,site:lab\nrobot.users:alice|s\nrobot.users:bob|s\n",
      "gauge.delta:+5|g\ngauge.delta:-2|g\nmulti.value:1:2:3.5|ms\n_e{5,4}:title|text\n_sc|svc.check|0\n",
      "page.views:3|c|@0.1|#device:robot-7,job:nav,__name__:x,env:lab|c:abc123|T1750000000\n",
      `${"arm.joint.shoulder.torque.".repeat(5)}newton_metres:1.25|ms\n${"x".repeat(127)}:1|c\n`,
      "bad line\nno_type:1\nwrong:1|q\nnan:abc|g\nrate:1|c|@2\n:1|c\n",
    ].map((s) => Buffer.from(s)),
  dictionary: [
    "|c",
    "|g",
    "|ms",
    "|h",
    "|d",
    "|s",
    "|@0.5",
    "|@1e-320",
    "|#",
    ":",
    "\n",
    "1e999",
    "-1e999",
    "+",
    "_e{",
    "device:",
    "__",
  ],
  run(input) {
    const text = input.toString("utf8");
    const drops = new Drops();
    const agg = new StatsdAggregator(drops, LIMITS);
    agg.ingest(text, NOW);
    assertSamples("flush", agg.flush(NOW + 10_000));
    agg.ingest(text, NOW + 20_000);
    assertSamples("flush", agg.flush(NOW + 30_000));
    assertSamples("flush after an idle hour", agg.flush(NOW + 2 * 3_600_000));
    if (agg.size > LIMITS.maxEntries) throw new Broken("more entries kept than maxEntries", agg.size);
    // Garbage is counted: one line at a time, each kept or counted.
    for (const line of contentLines(text, isEvent)) {
      const d = new Drops();
      const one = new StatsdAggregator(d, LIMITS);
      one.ingest(line, NOW);
      if (one.size === 0 && dropped(d.snapshot()) === 0) {
        throw new Broken("a line neither kept nor counted", line);
      }
    }
  },
  expected: () => false,
};

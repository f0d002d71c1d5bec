/**
 * The Prometheus text exposition format as the agent's scraper reads an exporter's answer
 * (agent capabilities/metrics/prometheus-text.ts; docs/protocol.md §14, application metrics),
 * with the scrape target's own labels set over the scraped ones.
 * Contract: never throws; every sample line gives a sample or is counted in Drops
 * (parse-error, invalid-value); every sample has a name and labels the server accepts, a
 * number value and a time within ±4e15 ms (see influx-line.ts for why).
 */
import { Drops } from "../../packages/agent/src/capabilities/metrics/drops.js";
import { parsePrometheusText } from "../../packages/agent/src/capabilities/metrics/prometheus-text.js";
import type { Target } from "../lib.js";
import { assertSamples, Broken, contentLines, dropped } from "./metric-rules.js";

const NOW = 1_750_000_000_000;
const EXTRA = { exporter: "ros" };

const EXPOSITION = `# HELP ros_topic_messages_total Messages seen per topic.
# TYPE ros_topic_messages_total counter
ros_topic_messages_total{topic="/scan"} 1234
ros_topic_messages_total{topic="/odom",node="nav"} 5678 1750000000000
# TYPE planner_seconds histogram
planner_seconds_bucket{le="0.1"} 12
planner_seconds_bucket{le="+Inf"} 20
planner_seconds_sum 3.2
planner_seconds_count 20
planner_seconds_created 1.75e9
# TYPE up gauge
up 1
`;

export const prometheusText: Target = {
  name: "prometheus-text",
  what: "Prometheus text format: parsePrometheusText (sample lines, TYPE, escapes, timestamps)",
  seeds: () =>
    [
      EXPOSITION,
      '# TYPE temp gauge\ntemp{sensor="cpu",path="C:\\\\dir\\"x\\"\\n"} 48.5\ntemp{sensor="gpu"} NaN\nnode_load1 0.5\nheat +Inf\n',
      '# TYPE rpc_total counter\nrpc_total{code="200"} 1 # {trace_id="abc"} 1.0 1750000000.123\nrpc_total{code="500",} 2 1750000000.5\n',
      'labels{device="x",job="y",instance="i",exporter="z",__meta="m",a_b="c"} 1\nlabels { a = "b" } 2\n',
      'bad{ 1\nbad{a=b} 1\nbad{a="b" 1\n1bad 1\nbad 1 2 3\nbad x\nbad 1 1e999\nbad 1 1e30\n',
    ].map((s) => Buffer.from(s)),
  dictionary: [
    "{",
    "}",
    '="',
    '"',
    ",",
    "\\",
    "\\n",
    " ",
    "# TYPE ",
    " counter",
    " histogram",
    "NaN",
    "+Inf",
    " # ",
    "1e999",
    " 1e30",
    "\n",
  ],
  run(input) {
    const text = input.toString("utf8");
    const drops = new Drops();
    assertSamples("prometheus", parsePrometheusText(text, NOW, drops, EXTRA));
    // Line by line (no TYPE lines, so no _created line is skipped as a family's start time).
    for (const line of contentLines(text, (l) => l.startsWith("#"))) {
      const d = new Drops();
      const one = parsePrometheusText(line, NOW, d, EXTRA);
      if (one.length === 0 && dropped(d.snapshot()) === 0) {
        throw new Broken("a line neither kept nor counted", line);
      }
    }
  },
  expected: () => false,
};

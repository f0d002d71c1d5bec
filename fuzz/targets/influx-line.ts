/**
 * InfluxDB line protocol as the agent's HTTP write endpoint and UDP listener read it (agent
 * capabilities/metrics/influx-line.ts; docs/protocol.md §14, application metrics), in the
 * precision the input's length picks (ns, us, ms, s, m, h).
 * Contract: never throws; every line that is not blank or a comment gives samples or is
 * counted in Drops (parse-error, string-field); every sample has a name and labels the server
 * accepts, a number value and a time within ±4e15 ms (a time beyond it would poison the gap
 * record of a lost batch: the server refuses it, again with every retry).
 */
import { Drops } from "../../packages/agent/src/capabilities/metrics/drops.js";
import {
  influxToSamples,
  type Precision,
} from "../../packages/agent/src/capabilities/metrics/influx-line.js";
import type { Target } from "../lib.js";
import { assertSamples, Broken, contentLines, dropped } from "./metric-rules.js";

const NOW = 1_750_000_000_000;
const PRECISIONS: Precision[] = ["ns", "us", "ms", "s", "m", "h"];

export const influxLine: Target = {
  name: "influx-line",
  what: "InfluxDB line protocol: influxToSamples (parseInfluxLine, names, labels, precision)",
  seeds: () =>
    [
      "cpu,host=robot-7,core=0 usage_user=12.5,usage_system=3.1 1750000000000000000\n",
      'battery,pack=main voltage=24.3,current=-12i,cycles=412u,charging=true,status="ok \\"fine\\"" 1750000000000000000\n',
      "weather\\ station,loc=lab\\,1,device=x temp=21.5\n# a comment\n\nmem value=1024u\nnav goals_total=3i 1750000000\n",
      "odom,frame=base_link x=1.25,y=-0.5,theta=3.14159 1750000000000\nimu,axis=z accel=9.81e0\n",
      'cpu usage=abc\nno_fields\n,tag=x f=1\ncpu,=x f=1\ncpu f="unterminated\ncpu f=1 12x\ncpu f=1e999 1\n',
      "sensors,__name__=x,job=y,instance=z,project=p reading=1 99999999999999999999999999\n",
    ].map((s) => Buffer.from(s)),
  dictionary: [
    ",",
    "=",
    " ",
    "\\",
    "\\ ",
    "\\,",
    '"',
    "i",
    "u",
    "true",
    "1e999",
    "\n",
    "#",
    "value=",
    " 9999999999999999999999",
  ],
  run(input) {
    const text = input.toString("utf8");
    const precision = PRECISIONS[input.length % PRECISIONS.length]!;
    const drops = new Drops();
    const { samples, bad } = influxToSamples(text, precision, NOW, drops);
    assertSamples("influx", samples);
    const lines = text.split("\n").length;
    for (const b of bad)
      if (b.line < 1 || b.line > lines) throw new Broken("a bad line reported with a wrong line number", b);
    if (drops.get("parse-error") < bad.length) throw new Broken("a bad line not counted");
    for (const line of contentLines(text, (l) => l.startsWith("#"))) {
      const d = new Drops();
      const one = influxToSamples(line, precision, NOW, d);
      if (one.samples.length === 0 && dropped(d.snapshot()) === 0) {
        throw new Broken("a line neither kept nor counted", line);
      }
    }
  },
  expected: () => false,
};

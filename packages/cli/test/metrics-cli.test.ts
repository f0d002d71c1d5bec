// @matrix: once
/**
 * `tether metrics get|names|top` against a real in-process server whose metric store holds an
 * hour of a robot's series (seeded through the store and the telemetry sequence claim, with a
 * 5-minute span lost to a full buffer and a device clock 5 minutes behind): the key-figure
 * table with units and sparklines, the gap and the skew under it, one metric's series, names,
 * the fleet top-N both ways, --json, and the exit codes of bad input, an unknown device or
 * metric, and an unreachable server. Also the pure table rendering.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { MetricRangeResult } from "@tether/sdk";
import { enrollDevice } from "../../../tests/support/enroll-device.js";
import { seedMetrics } from "../../../tests/support/metrics-seed.js";
import { overviewTable, seriesTable } from "../src/commands/metrics-view.js";
import { DEVICE_OVERVIEW } from "@tether/sdk";
import { type InProcessCli, startInProcessCli } from "./in-process-cli.js";

let cli: InProcessCli;
const tether = (args: string[], env?: Record<string, string>) => cli.tether(args, env);
const MIN = 60_000;

before(async () => {
  cli = await startInProcessCli("tether-cli-metrics-");
  const t = await tether([
    "token",
    "create",
    "--auto-accept",
    "--uses",
    "3",
    "--label",
    "site=lab",
    "--json",
  ]);
  assert.equal(t.code, 0, t.stderr);
  const token = JSON.parse(t.stdout).token as string;
  for (const name of ["robot-7", "robot-8", "quiet-1"])
    await enrollDevice({ url: cli.env.TETHER_URL, token, name });
  const now = Date.now();
  await seedMetrics(cli.srv, "robot-7", {
    from: now - 60 * MIN,
    to: now,
    lost: [{ from: now - 40 * MIN, to: now - 35 * MIN }],
    skewMs: 303_000,
    custom: true,
  });
  await seedMetrics(cli.srv, "robot-8", {
    from: now - 20 * MIN,
    to: now,
    temperature: 81,
    battery: { start: 14, drainPerHour: 12 },
  });
});

after(async () => {
  await cli?.close();
});

test("get DEVICE: the key figures with units and sparklines; the gap and the clock skew under the table", async () => {
  const r = await tether(["metrics", "get", "robot-7"]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split("\n");
  assert.match(
    lines[0],
    /^robot-7 · last upload (just now|\d+s ago) · last 1h at 1m steps \((raw samples|1m resolution)\)$/,
  );
  assert.match(lines[1], /^METRIC\s+SERIES\s+LAST\s+MIN\s+AVG\s+MAX\s+TREND \(1H\)$/);
  const row = (metric: string, series = "-") =>
    lines.find((l) => l.startsWith(metric) && l.split(/\s{2,}/)[1] === series) ?? "";
  assert.match(row("CPU"), /^CPU\s+-\s+\d+(\.\d)?%\s+\d+(\.\d)?%/);
  assert.match(row("memory"), /\d+%/);
  assert.match(row("disk", "mount=/"), /\d+%/);
  assert.match(row("disk", "mount=/data"), /75%\s+75%\s+75%\s+75%/);
  assert.match(row("temperature", "sensor=cpu"), /\d+\.\d °C/);
  assert.match(row("temperature", "sensor=board"), /\d+\.\d °C/);
  assert.match(row("battery", "battery=BAT0"), /^battery\s+battery=BAT0\s+84%\s+84%\s+87%\s+90%/);
  // Counters as rates: ~200 KiB/s in, ~50 KiB/s out.
  assert.match(row("net rx", "interface=wlan0"), /(199|200|201) KiB\/s/);
  assert.match(row("net tx", "interface=wlan0"), /50(\.\d)? KiB\/s/);
  assert.match(row("uptime"), /^uptime\s+-\s+1d 3h/);
  // The sparkline: block characters, with the lost 5 minutes as blanks inside it.
  const spark = row("CPU").slice(lines[1].indexOf("TREND"));
  assert.match(spark, /^[▁▂▃▄▅▆▇█]+ +[▁▂▃▄▅▆▇█]+$/, spark);
  assert.match(r.stdout, /\ngap: 540 samples lost \(buffer full\) \d\d:\d\d–\d\d:\d\d\n/);
  assert.match(r.stdout, /\nclock: device clock 5m 3s behind the server \(times shown are the server's\)\n$/);
  assert.equal(r.stderr, "");
});

test("get DEVICE --metric: each series with its labels, min/avg/max/last and a sparkline", async () => {
  const r = await tether(["metrics", "get", "robot-7", "--metric", "temperature_celsius", "--since", "30m"]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split("\n");
  assert.match(lines[1], /^SERIES\s+MIN\s+AVG\s+MAX\s+LAST\s+TREND \(30M\)$/);
  const rows = lines.filter((l) => l.startsWith("sensor="));
  assert.deepEqual(rows.map((l) => l.split(/\s+/)[0]).sort(), ["sensor=board", "sensor=cpu"]);
  for (const l of rows) {
    const [min, avg, max] = [...l.matchAll(/(\d+\.\d) °C/g)].map((m) => Number(m[1]));
    assert.ok(min <= avg && avg <= max, l);
  }
  const one = await tether([
    "metrics",
    "get",
    "robot-7",
    "-m",
    "temperature_celsius",
    "--labels",
    "sensor=cpu",
  ]);
  assert.equal(one.code, 0, one.stderr);
  assert.equal(one.stdout.split("\n").filter((l) => l.startsWith("sensor=")).length, 1);
  // A custom metric, and a counter read as its rate.
  const custom = await tether(["metrics", "get", "robot-7", "-m", "ros_topic_hz"]);
  assert.match(custom.stdout, /^topic=\/scan\s+\d/m);
  const rx = await tether(["metrics", "get", "robot-7", "-m", "net_rx_bytes_total", "--step", "5m"]);
  assert.match(rx.stdout, /at 5m steps/);
  assert.match(rx.stdout, /^interface=wlan0\s+.*KiB\/s/m);
});

test("get --json prints the range answers, gaps included", async () => {
  const one = await tether(["metrics", "get", "robot-7", "-m", "battery_capacity_percent", "--json"]);
  assert.equal(one.code, 0, one.stderr);
  const r = JSON.parse(one.stdout) as MetricRangeResult;
  assert.equal(r.metric, "battery_capacity_percent");
  assert.equal(r.series.length, 1);
  assert.deepEqual(r.series[0].labels, { battery: "BAT0" });
  assert.equal(r.gaps.length, 1);
  assert.equal(r.gaps[0].reason, "buffer-full");
  assert.equal(r.gaps[0].count, 540);
  // The lost span holds no values; the rest does.
  const inGap = r.series[0].points.filter(([t]) => t > r.gaps[0].from && t + r.stepMs < r.gaps[0].to);
  assert.ok(inGap.length >= 3 && inGap.every(([, v]) => v === null), JSON.stringify(inGap));
  const all = await tether(["metrics", "get", "robot-7", "--json"]);
  const list = JSON.parse(all.stdout) as MetricRangeResult[];
  assert.deepEqual(
    list.map((x) => x.metric),
    DEVICE_OVERVIEW.map((d) => d.metric),
  );
});

test("names DEVICE: every series with labels, kind, last value and age", async () => {
  const r = await tether(["metrics", "names", "robot-7"]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split("\n");
  assert.match(lines[0], /^NAME\s+LABELS\s+KIND\s+LAST\s+AGE$/);
  assert.match(r.stdout, /^battery_status\s+battery=BAT0\s+gauge\s+discharging\s+(just now|\d+s ago)$/m);
  assert.match(
    r.stdout,
    /^net_rx_bytes_total\s+interface=wlan0\s+counter\s+\d+\.\d GiB\s+(just now|\d+s ago)$/m,
  );
  assert.match(r.stdout, /^memory_total_bytes\s+-\s+gauge\s+8\.0 GiB/m);
  assert.match(r.stdout, /^uptime_seconds\s+-\s+gauge\s+1d 3h/m);
  assert.match(r.stdout, /clock: device clock 5m 3s behind the server/);
  const json = JSON.parse((await tether(["metrics", "names", "robot-7", "--json"])).stdout);
  assert.equal(json.device, "robot-7");
  assert.equal(json.skewMs, 303_000);
  assert.ok(json.series.length >= 18);
});

test("top METRIC: the hottest first, --asc the emptiest battery first, --limit, --json", async () => {
  const hot = await tether(["metrics", "top", "temperature_celsius"]);
  assert.equal(hot.code, 0, hot.stderr);
  const rows = hot.stdout.trimEnd().split("\n");
  assert.match(rows[0], /^DEVICE\s+LABELS\s+VALUE\s+AGE$/);
  assert.match(rows[1], /^robot-8\s+sensor=cpu\s+\d+\.\d °C\s+(just now|\d+s ago)$/);
  assert.match(rows[2], /^robot-7\s+sensor=cpu\s/);
  const low = await tether(["metrics", "top", "battery_capacity_percent", "--asc", "--limit", "1"]);
  assert.equal(low.code, 0, low.stderr);
  assert.deepEqual(
    low.stdout
      .trimEnd()
      .split("\n")
      .slice(1)
      .map((l) => l.split(/\s+/)[0]),
    ["robot-8"],
  );
  const sel = JSON.parse(
    (await tether(["metrics", "top", "cpu_usage_percent", "--selector", "site=lab", "--json"])).stdout,
  );
  assert.equal(sel.metric, "cpu_usage_percent");
  assert.deepEqual(sel.rows.map((x: { device: string }) => x.device).sort(), ["robot-7", "robot-8"]);
});

test("a device without metrics says so in a sentence", async () => {
  for (const cmd of ["get", "names"]) {
    const r = await tether(["metrics", cmd, "quiet-1"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "");
    assert.equal(
      r.stderr,
      "quiet-1 has sent no metrics yet. Metrics arrive over the telemetry channel once the agent has its token.\n",
    );
  }
});

test("bad input: usage errors (2), unknown device or metric (4), server unreachable (255)", async () => {
  const cases: [string[], number, RegExp][] = [
    [["metrics", "get", "robot-7", "--since", "yesterday"], 2, /--since must be a duration/],
    [["metrics", "get", "robot-7", "--step", "fast"], 2, /--step must be a duration/],
    [["metrics", "get", "robot-7", "--metric", "cpu usage"], 2, /bad metric name "cpu usage"/],
    [["metrics", "get", "robot-7", "--labels", "mount=/"], 2, /--labels needs --metric/],
    [
      ["metrics", "get", "robot-7", "-m", "disk_used_percent", "--labels", "mount"],
      2,
      /--labels must be k=v/,
    ],
    [["metrics", "get", "robot-7", "-m", "cpu_usage_percent", "--agg", "median"], 2, /--agg must be one of/],
    [["metrics", "top", "temperature_celsius", "--selector", "site=="], 2, /bad --selector/],
    [["metrics", "top", "temperature_celsius", "--limit", "0"], 2, /--limit must be an integer >= 1/],
    [["metrics", "top", "temperature_celsius", "--limit", "5000"], 2, /at most 1000/],
    [["metrics", "get", "no-such-robot"], 4, /no-such-robot/],
    [["metrics", "names", "no-such-robot"], 4, /no-such-robot/],
    [["metrics", "get", "robot-7", "-m", "no_such_metric"], 4, /no_such_metric/],
    [["metrics", "top", "no_such_metric"], 4, /no_such_metric/],
  ];
  for (const [args, code, msg] of cases) {
    const r = await tether(args);
    assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, msg, args.join(" "));
    assert.equal(r.stdout, "", args.join(" "));
  }
  const away = await tether(["metrics", "get", "robot-7"], { ...cli.env, TETHER_URL: "https://127.0.0.1:1" });
  assert.equal(away.code, 255, away.stderr);
});

test("help lists the commands with examples", async () => {
  const r = await tether(["metrics", "--help"]);
  assert.equal(r.code, 0);
  for (const w of ["get", "names", "top", "tether metrics top battery_capacity_percent --asc", "Exit codes"])
    assert.ok(r.stdout.includes(w), w);
});

test("the tables render empty series, a single point and percent scales without breaking", () => {
  const base = {
    from: 0,
    to: 180_000,
    stepMs: 60_000,
    agg: "avg",
    resolution: "raw",
    gaps: [],
    truncated: false,
  };
  const r: MetricRangeResult = {
    ...base,
    metric: "cpu_usage_percent",
    series: [
      {
        device: "r",
        deviceId: "d",
        name: "cpu_usage_percent",
        labels: {},
        points: [
          [0, 0],
          [60_000, null],
          [120_000, 100],
        ],
      },
      { device: "r", deviceId: "d", name: "cpu_usage_percent", labels: { x: "1" }, points: [[0, null]] },
    ],
  };
  const t = seriesTable(r, "trend");
  assert.match(t, /^\(no labels\)\s+0%\s+50%\s+100%\s+100%\s+▁ █$/m);
  assert.match(t, /^x=1\s+–\s+–\s+–\s+–\s+-$/m);
  const o = overviewTable([{ def: DEVICE_OVERVIEW[0], result: r }], "trend");
  assert.match(o, /^CPU\s+-\s+100%\s+0%\s+50%\s+100%\s+▁ █$/m);
});

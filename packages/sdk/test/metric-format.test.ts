// @matrix: once
// How metrics read to an operator in the CLI and the console: values in the unit the metric's
// name implies (bytes in KiB/MiB/GiB, %, °C, V, A, W, uptime as "1d 2h"), the terminal
// sparkline with gaps as spaces, range statistics, gap and clock-skew sentences, and odd input
// (NaN, no values, a flat line) that must not break a table.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  fmtBytesIec,
  fmtMetricValue,
  fmtNumber,
  gapText,
  labelsText,
  metricUnit,
  resample,
  seriesStats,
  skewText,
  sparkline,
  unitSuffix,
} from "../src/index.js";

test("the unit comes from the name's suffix", () => {
  assert.equal(metricUnit("memory_used_bytes"), "bytes");
  assert.equal(metricUnit("net_rx_bytes_total"), "bytes");
  assert.equal(metricUnit("cpu_usage_percent"), "percent");
  assert.equal(metricUnit("temperature_celsius"), "celsius");
  assert.equal(metricUnit("battery_voltage_volts"), "volts");
  assert.equal(metricUnit("battery_current_amps"), "amps");
  assert.equal(metricUnit("battery_power_watts"), "watts");
  assert.equal(metricUnit("uptime_seconds"), "seconds");
  assert.equal(metricUnit("battery_status"), "battery-status");
  assert.equal(metricUnit("ros_topic_hz"), "number");
  assert.equal(unitSuffix("bytes", true), "B/s");
  assert.equal(unitSuffix("celsius"), "°C");
});

test("values read in their unit", () => {
  assert.equal(fmtMetricValue("memory_used_bytes", 512), "512 B");
  assert.equal(fmtMetricValue("memory_used_bytes", 1536), "1.5 KiB");
  assert.equal(fmtMetricValue("memory_total_bytes", 8 * 1024 ** 3), "8.0 GiB");
  assert.equal(fmtMetricValue("disk_total_bytes", 256 * 1024 ** 3), "256 GiB");
  assert.equal(fmtMetricValue("net_rx_bytes_total", 2.5 * 1024 ** 2, { rate: true }), "2.5 MiB/s");
  assert.equal(fmtMetricValue("cpu_usage_percent", 42.44), "42%");
  assert.equal(fmtMetricValue("cpu_usage_percent", 3.14), "3.1%");
  assert.equal(fmtMetricValue("battery_capacity_percent", 100), "100%");
  assert.equal(fmtMetricValue("temperature_celsius", 48.46), "48.5 °C");
  assert.equal(fmtMetricValue("battery_voltage_volts", 12.414), "12.41 V");
  assert.equal(fmtMetricValue("battery_current_amps", -1.2), "-1.20 A");
  assert.equal(fmtMetricValue("battery_power_watts", 14.92), "14.9 W");
  assert.equal(fmtMetricValue("uptime_seconds", 93_600), "1d 2h");
  assert.equal(fmtMetricValue("uptime_seconds", 42), "42s");
  assert.equal(fmtMetricValue("battery_status", 1), "charging");
  assert.equal(fmtMetricValue("battery_status", 2), "discharging");
  assert.equal(fmtMetricValue("ros_nodes", 1204), "1,204");
  assert.equal(fmtMetricValue("ros_rate", 12.5, { rate: true }), "12.5/s");
  assert.equal(fmtMetricValue("x", null), "–");
  assert.equal(fmtMetricValue("x", Number.NaN), "–");
  assert.equal(fmtBytesIec(-2048), "-2.0 KiB");
  assert.equal(fmtNumber(0.004), "0.004");
  assert.equal(fmtNumber(0), "0");
});

test("sparkline: lowest to highest, a gap is a space, a fixed range scales absolutely", () => {
  assert.equal(sparkline([0, 1, 2, 3, 4, 5, 6, 7]), "▁▂▃▄▅▆▇█");
  assert.equal(sparkline([0, null, 7]), "▁ █");
  assert.equal(sparkline([50, 50], { range: { min: 0, max: 100 } }), "▅▅");
  assert.equal(sparkline([100, 0], { range: { min: 0, max: 100 } }), "█▁");
  // Out of range values clamp instead of indexing past the bars.
  assert.equal(sparkline([-5, 150], { range: { min: 0, max: 100 } }), "▁█");
  // A flat line, and nothing at all.
  assert.equal(sparkline([3, 3, 3]), "▄▄▄");
  assert.equal(sparkline([]), "");
  assert.equal(sparkline([null, null]), "");
  assert.equal(sparkline([Number.NaN, 1, 2]), " ▁█");
  // Longer than the width: averaged per character; a character mostly without data is a gap.
  const long = [...Array(60).fill(10), ...Array(30).fill(null), ...Array(30).fill(20)];
  const s = sparkline(long, { width: 12 });
  assert.equal(s.length, 12);
  assert.equal(s, "▁▁▁▁▁▁   ███");
  assert.deepEqual(resample([1, 2, 3, 4], 2), [1.5, 3.5]);
  assert.deepEqual(resample([1, null, null, 4], 2), [1, 4]);
  assert.deepEqual(resample([null, null, null, 4], 2), [null, 4]);
});

test("range statistics skip missing steps", () => {
  assert.deepEqual(
    seriesStats([
      [0, 4],
      [1, null],
      [2, 2],
      [3, 6],
    ]),
    { min: 2, avg: 4, max: 6, last: 6, count: 3 },
  );
  assert.deepEqual(seriesStats([[0, null]]), { min: null, avg: null, max: null, last: null, count: 0 });
});

test("gaps and clock skew in words", () => {
  const now = new Date(2026, 4, 1, 12, 0).getTime();
  const g = {
    from: new Date(2026, 4, 1, 10, 2).getTime(),
    to: new Date(2026, 4, 1, 10, 5).getTime(),
    count: 1204,
    reason: "buffer-full",
  };
  assert.equal(gapText(g, now), "1,204 samples lost (buffer full) 10:02–10:05");
  assert.equal(
    gapText({ ...g, count: 1, reason: "series-limit" }, now + 2 * 86_400_000),
    "1 sample lost (series limit) 2026-05-01 10:02–10:05",
  );
  assert.equal(
    gapText({ ...g, to: g.from, reason: "odd-thing" }, now),
    "1,204 samples lost (odd thing) 10:02",
  );
  assert.equal(skewText(1500), null);
  assert.equal(skewText(null), null);
  assert.equal(skewText(2500), "device clock 3s behind the server");
  assert.equal(skewText(-303_000), "device clock 5m 3s ahead of the server");
  assert.equal(labelsText({ mount: "/", device: "sda" }), "device=sda,mount=/");
  assert.equal(labelsText({}), "");
});

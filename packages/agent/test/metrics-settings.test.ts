// @matrix: once
// The agent's metrics settings (docs/protocol.md §14, tether.metrics.*): flat and nested files,
// validation naming the key and the file, flags, precedence remote > file > flags > defaults,
// and the device-only rule: remote settings never set allowScrape/procRoot/sysRoot, and remote
// scrape targets must match the device's allow-list.
import assert from "node:assert/strict";
import { test } from "node:test";
import { metricsSettingsMarkdown } from "../src/capabilities/metrics/settings-doc.js";
import { loadMetricsSettings } from "../src/capabilities/metrics/settings-load.js";
import {
  DEFAULT_METRICS_SETTINGS,
  METRICS_SETTING_KEYS,
  MetricsSettingsError,
  parseByteSize,
  parseFlags,
  parseRemoteSettings,
  parseSettingsFile,
  resolveSettings,
} from "../src/capabilities/metrics/settings.js";

const FILE = "/etc/tether/agent.json";

test("a settings file may be flat, nested or both; the values are typed", () => {
  const flat = parseSettingsFile(
    JSON.stringify({
      "tether.metrics.interval": 5,
      "tether.metrics.bufferSize": "16MiB",
      "tether.metrics.scrape": [
        "http://127.0.0.1:9100/metrics",
        { url: "http://127.0.0.1:9200/m", interval: "30s", labels: { exporter: "ros" } },
      ],
    }),
    FILE,
  );
  assert.deepEqual(flat.layer, {
    intervalMs: 5000,
    bufferBytes: 16 * 1024 * 1024,
    scrape: [
      { url: "http://127.0.0.1:9100/metrics", intervalMs: null, labels: {} },
      { url: "http://127.0.0.1:9200/m", intervalMs: 30_000, labels: { exporter: "ros" } },
    ],
  });
  const nested = parseSettingsFile(
    JSON.stringify({ tether: { metrics: { interval: 5, statsdPort: 0 } } }),
    FILE,
  );
  assert.deepEqual(nested.layer, { intervalMs: 5000, statsdPort: 0 });
  const mixed = parseSettingsFile(
    JSON.stringify({ tether: { "metrics.maxSeries": 100, logs: { x: 1 } } }),
    FILE,
  );
  assert.deepEqual(mixed.layer, { maxSeries: 100 }, "other modules' keys are left alone");
  assert.deepEqual(mixed.warnings, []);
});

test("unknown tether.metrics keys warn; bad values are errors naming the key and the file", () => {
  const { warnings } = parseSettingsFile(JSON.stringify({ "tether.metrics.intervall": 5 }), FILE);
  assert.deepEqual(warnings, [`${FILE}: unknown setting tether.metrics.intervall (ignored)`]);
  const cases: [unknown, string, RegExp][] = [
    [{ "tether.metrics.interval": "soon" }, "tether.metrics.interval", /seconds/],
    [{ "tether.metrics.interval": 0 }, "tether.metrics.interval", /between/],
    [{ tether: { metrics: { statsdPort: 70000 } } }, "tether.metrics.statsdPort", /port/],
    [{ "tether.metrics.bufferSize": "lots" }, "tether.metrics.bufferSize", /64MiB/],
    [{ "tether.metrics.maxSeries": 20_000 }, "tether.metrics.maxSeries", /10000/],
    [{ "tether.metrics.scrape": ["ftp://x/"] }, "tether.metrics.scrape", /entry 0: .*not an http/],
    [
      { "tether.metrics.scrape": [{ url: "http://x/", labels: { job: "a" } }] },
      "tether.metrics.scrape",
      /not a usable label/,
    ],
    [{ "tether.metrics.allowScrape": "x" }, "tether.metrics.allowScrape", /URL prefix/],
    [
      { "tether.metrics.interval": 5, tether: { metrics: { interval: 6 } } },
      "tether.metrics.interval",
      /twice/,
    ],
  ];
  for (const [raw, key, re] of cases) {
    assert.throws(
      () => parseSettingsFile(JSON.stringify(raw), FILE),
      (err: unknown) => {
        assert.ok(err instanceof MetricsSettingsError);
        assert.equal(err.key, key);
        assert.ok(err.message.startsWith(`${FILE}: ${key}: `), err.message);
        assert.match(err.message, re);
        return true;
      },
    );
  }
  assert.throws(() => parseSettingsFile("{not json", FILE), /not valid JSON/);
  assert.throws(() => parseSettingsFile("[1]", FILE), /expected a JSON object/);
});

test("flags: strings from the command line; an error names the flag", () => {
  assert.deepEqual(
    parseFlags({
      interval: "2",
      statsdPort: "0",
      scrape: ["http://127.0.0.1:1/m"],
      bufferSize: "1G",
      procRoot: "/p",
    }),
    {
      intervalMs: 2000,
      statsdPort: 0,
      scrape: [{ url: "http://127.0.0.1:1/m", intervalMs: null, labels: {} }],
      bufferBytes: 1024 ** 3,
      procRoot: "/p",
    },
  );
  assert.throws(() => parseFlags({ influxPort: "eighty" }), /--influx-port/);
  assert.equal(parseByteSize("64MiB"), 64 * 1024 * 1024);
  assert.equal(parseByteSize("500MB"), 500_000_000);
  assert.equal(parseByteSize("1.5k"), 1536);
  assert.equal(parseByteSize("12 parsecs"), undefined);
});

test("precedence: remote > file > flags > defaults", () => {
  const flags = parseFlags({ interval: "2", statsdPort: "9000", influxPort: "9001" });
  const file = parseSettingsFile(
    JSON.stringify({ "tether.metrics.interval": 3, "tether.metrics.statsdPort": 9100 }),
    FILE,
  ).layer;
  const remote = parseRemoteSettings({ interval: 4 }, []).layer;
  const tooFast = parseRemoteSettings({ interval: 0.1 }, []);
  assert.deepEqual(
    tooFast.layer,
    {},
    "remote settings cannot make the agent collect more than once a second",
  );
  assert.match(tooFast.refused.join("\n"), /at least 1 second/);
  const r = resolveSettings({ flags, file, remote });
  assert.equal(r.intervalMs, 4000);
  assert.equal(r.statsdPort, 9100);
  assert.equal(r.influxPort, 9001);
  assert.equal(r.maxSeries, DEFAULT_METRICS_SETTINGS.maxSeries);
  assert.deepEqual(
    {
      interval: r.from.intervalMs,
      statsd: r.from.statsdPort,
      influx: r.from.influxPort,
      max: r.from.maxSeries,
    },
    { interval: "remote", statsd: "file", influx: "flag", max: "default" },
  );
});

test("remote settings never set device-only keys, and remote scrape targets must match the allow-list", () => {
  const allow = ["http://127.0.0.1:9100/"];
  const { layer, refused } = parseRemoteSettings(
    {
      "tether.metrics.procRoot": "/tmp/evil",
      tether: {
        metrics: {
          allowScrape: ["http://"],
          sysRoot: "/x",
          scrape: [
            "http://127.0.0.1:9100/metrics",
            "http://169.254.169.254/latest/meta-data",
            "http://127.0.0.1:9101/metrics",
          ],
          maxSeries: "lots",
          statsdPort: 8200,
          colour: "red",
        },
      },
    },
    allow,
  );
  assert.deepEqual(layer, {
    scrape: [{ url: "http://127.0.0.1:9100/metrics", intervalMs: null, labels: {} }],
    statsdPort: 8200,
  });
  const text = refused.join("\n");
  for (const re of [
    /procRoot is set only by the device/,
    /sysRoot is set only by the device/,
    /allowScrape is set only/,
    /169\.254\.169\.254.*refused: not under tether\.metrics\.allowScrape/,
    /127\.0\.0\.1:9101.*refused/,
    /maxSeries/,
    /unknown setting tether\.metrics\.colour/,
  ])
    assert.match(text, re);
  // Even a layer that slipped a device-only value through cannot win over the device's own.
  const r = resolveSettings({ file: { procRoot: "/proc" }, remote: { procRoot: "/tmp/evil" } });
  assert.equal(r.procRoot, "/proc");
  // Local scrape targets need no allow-list.
  assert.equal(
    loadMetricsSettings({ flags: { scrape: ["http://10.0.0.5:9100/metrics"] } }).resolved.scrape.length,
    1,
  );
  // Same origin exactly: a host that merely starts with the allowed one is refused.
  const lh = parseRemoteSettings({ scrape: ["http://localhost.evil.example/m", "http://localhost/m"] }, [
    "http://localhost",
  ]);
  assert.deepEqual(
    lh.layer.scrape?.map((s) => s.url),
    ["http://localhost/m"],
  );
  // Garbage from the server is refused, never thrown.
  assert.deepEqual(parseRemoteSettings("nonsense", allow).refused, ["remote settings: expected an object"]);
});

test("loading: the file over the flags; an unreadable file names itself", () => {
  const files: Record<string, string> = {
    [FILE]: JSON.stringify({ tether: { metrics: { interval: 7, bogus: 1 } } }),
  };
  const read = (p: string) => {
    const t = files[p];
    if (t === undefined) throw new Error("ENOENT: no such file");
    return t;
  };
  const l = loadMetricsSettings({ settingsFile: FILE, flags: { interval: "2", influxPort: "0" } }, read);
  assert.equal(l.resolved.intervalMs, 7000);
  assert.equal(l.resolved.influxPort, 0);
  assert.equal(l.warnings.length, 1);
  assert.throws(
    () => loadMetricsSettings({ settingsFile: "/nope.json" }, read),
    /\/nope\.json: \(file\): cannot read/,
  );
});

test("every key is listed with type, default and description (docs/protocol.md is checked against it)", () => {
  assert.deepEqual(
    METRICS_SETTING_KEYS.map((k) => k.key),
    [
      "tether.metrics.interval",
      "tether.metrics.statsdPort",
      "tether.metrics.influxPort",
      "tether.metrics.scrape",
      "tether.metrics.bufferSize",
      "tether.metrics.maxSeries",
      "tether.metrics.allowScrape",
      "tether.metrics.procRoot",
      "tether.metrics.sysRoot",
    ],
  );
  for (const k of METRICS_SETTING_KEYS) {
    assert.ok(k.type && k.description.length > 20, k.key);
    assert.equal(k.deviceOnly, ["allowScrape", "procRoot", "sysRoot"].includes(k.name), k.key);
  }
});

test("the keys render as the Markdown table docs/protocol.md carries", () => {
  const md = metricsSettingsMarkdown().split("\n");
  assert.equal(md.length, 2 + METRICS_SETTING_KEYS.length);
  assert.match(
    md[2]!,
    /^\| `tether\.metrics\.interval` \| seconds \| `10` \| `--metrics-interval` \| device, remote \|/,
  );
  assert.ok(md.some((l) => l.startsWith("| `tether.metrics.allowScrape`") && l.includes("device only")));
});

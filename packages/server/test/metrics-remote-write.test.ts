// @matrix: once
// Prometheus remote write (docs/protocol.md §14.6): the hand-written protobuf WriteRequest
// decodes back to the same series (odd label values, negative and NaN values); the client
// batches, retries a 5xx with the same batch, drops a 4xx batch (counted, no retry) and
// drops the oldest samples (counted) when the remote stays down; samples written through it
// land in a real VictoriaMetrics (Debian's victoria-metrics), queried back with labels; and
// VictoriaMetrics's own Prometheus-text parser reads the exposition's escaped labels back.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import SnappyJS from "snappyjs";
import { deviceFamilies } from "../src/capabilities/metrics/device-export.js";
import { exposition } from "../src/capabilities/metrics/prometheus.js";
import { RemoteWriter } from "../src/capabilities/metrics/remote-write.js";
import { promLabels } from "../src/capabilities/metrics/remote-write-feed.js";
import { encodeWriteRequest, type PromSeries } from "../src/capabilities/metrics/remote-write-proto.js";
import {
  decodeWriteRequest,
  startVictoriaMetrics,
  type VictoriaMetrics,
  victoriaMetricsSkip,
} from "./metrics-support.js";

const silent = pino({ level: "silent" });

test("the WriteRequest encoder round-trips labels (sorted, odd values) and samples", () => {
  const series: PromSeries[] = [
    {
      labels: promLabels(
        "temperature_celsius",
        { id: "d-1", name: 'robot "one"', projectId: 1, project: "default" },
        { sensor: "cpu\\0\nzone 東京", a_first: "x" },
      ),
      samples: [
        [1_700_000_000_123, 41.5],
        [1_700_000_010_123, -0.25],
        [0, 0],
        [-5, Number.NaN], // a negative int64 takes 10 bytes
        [2 ** 52, Infinity],
      ],
    },
    { labels: [{ name: "__name__", value: "up" }], samples: [[1, 1]] },
    { labels: [{ name: "__name__", value: "empty" }], samples: [] },
  ];
  const names = series[0]!.labels.map((l) => l.name);
  assert.deepEqual(names, [...names].sort(), "labels sorted by name");
  assert.deepEqual(names, ["__name__", "a_first", "device", "device_id", "project", "sensor"]);
  const back = decodeWriteRequest(encodeWriteRequest(series));
  assert.equal(back.length, 3);
  assert.deepEqual(back[0]!.labels, series[0]!.labels);
  assert.deepEqual(back[0]!.samples.slice(0, 3), series[0]!.samples.slice(0, 3));
  assert.equal(back[0]!.samples[3]![0], -5);
  assert.ok(Number.isNaN(back[0]!.samples[3]![1]));
  assert.deepEqual(back[0]!.samples[4], [2 ** 52, Infinity]);
  assert.deepEqual(back[1], series[1]);
  assert.deepEqual(back[2], series[2]);
  assert.equal(encodeWriteRequest([]).length, 0);
});

test("a series' own label named like a server label is kept as exported_<name>", () => {
  const l = promLabels(
    "m",
    { id: "id-1", name: "real", projectId: 1, project: "p" },
    {
      device: "fake",
      project: "other",
    },
  );
  assert.deepEqual(Object.fromEntries(l.map((x) => [x.name, x.value])), {
    __name__: "m",
    device: "real",
    device_id: "id-1",
    project: "p",
    exported_device: "fake",
    exported_project: "other",
  });
});

// ---- the client against a scripted HTTP receiver ----

interface Received {
  headers: IncomingMessage["headers"];
  series: PromSeries[];
}

async function receiver(
  answer: (n: number) => number,
): Promise<{ url: string; got: Received[]; close(): Promise<void> }> {
  const got: Received[] = [];
  let n = 0;
  const srv: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const status = answer(n++);
      if (status === 204) {
        const body = SnappyJS.uncompress(new Uint8Array(Buffer.concat(chunks)));
        got.push({ headers: req.headers, series: decodeWriteRequest(body) });
      }
      res.writeHead(status).end(status >= 400 ? "nope" : "");
    });
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/api/v1/write`,
    got,
    close: () => new Promise((r) => srv.close(() => r())),
  };
}

const series = (name: string, n: number, t0 = 1_700_000_000_000): PromSeries => ({
  labels: [
    { name: "__name__", value: name },
    { name: "device", value: "r1" },
  ],
  samples: Array.from({ length: n }, (_, i) => [t0 + i * 1000, i] as [number, number]),
});

describe("remote-write client", () => {
  test("sends the spec's headers and snappy protobuf, in batches of at most batchSamples", async () => {
    const r = await receiver(() => 204);
    const w = new RemoteWriter({ url: r.url, log: silent, batchSamples: 100, flushMs: 60_000 });
    try {
      w.push(series("a", 30));
      w.push(series("b", 250)); // split across requests
      await w.flush();
      assert.equal(r.got[0]!.headers["content-encoding"], "snappy");
      assert.equal(r.got[0]!.headers["content-type"], "application/x-protobuf");
      assert.equal(r.got[0]!.headers["x-prometheus-remote-write-version"], "0.1.0");
      const counts = r.got.map((g) => g.series.reduce((n, s) => n + s.samples.length, 0));
      assert.ok(
        counts.every((c) => c <= 100),
        `batches ${counts}`,
      );
      assert.equal(
        counts.reduce((a, b) => a + b, 0),
        280,
      );
      const b = r.got.flatMap((g) => g.series).filter((s) => s.labels[0]!.value === "b");
      assert.deepEqual(
        b.flatMap((s) => s.samples.map(([, v]) => v)),
        Array.from({ length: 250 }, (_, i) => i),
        "in order, nothing lost or repeated",
      );
      assert.deepEqual(
        { ...w.stats(), lastSuccessAt: 0 },
        {
          queued: 0,
          sent: 280,
          dropped: 0,
          rejected: 0,
          retries: 0,
          requests: r.got.length,
          lastError: null,
          lastSuccessAt: 0,
        },
      );
    } finally {
      await w.close();
      await r.close();
    }
  });

  test("a 5xx is retried with the same batch; a 4xx is dropped and counted, not retried", async () => {
    const statuses = [503, 500, 204, 400, 204];
    const r = await receiver((n) => statuses[n] ?? 204);
    const w = new RemoteWriter({
      url: r.url,
      log: silent,
      batchSamples: 10,
      flushMs: 5,
      backoff: { minMs: 5, maxMs: 20 },
    });
    try {
      w.push(series("first", 10));
      // Retried twice (503, 500), then accepted.
      while (w.stats().sent < 10) await new Promise((res) => setTimeout(res, 5));
      assert.equal(w.stats().retries, 2);
      assert.deepEqual(
        r.got[0]!.series[0]!.samples.map(([, v]) => v),
        Array.from({ length: 10 }, (_, i) => i),
      );
      w.push(series("refused", 10));
      while (w.stats().rejected < 10) await new Promise((res) => setTimeout(res, 5));
      w.push(series("after", 5));
      while (w.stats().sent < 15) await new Promise((res) => setTimeout(res, 5));
      const s = w.stats();
      assert.equal(s.rejected, 10);
      assert.equal(s.retries, 2, "the 400 was not retried");
      assert.equal(s.requests, 5);
      assert.deepEqual(
        r.got.map((g) => g.series[0]!.labels[0]!.value),
        ["first", "after"],
      );
    } finally {
      await w.close();
      await r.close();
    }
  });

  test("while the remote is down the queue stays bounded: the oldest samples are dropped and counted", async () => {
    let up = false;
    const r = await receiver(() => (up ? 204 : 503));
    const w = new RemoteWriter({
      url: r.url,
      log: silent,
      batchSamples: 10,
      maxQueueSamples: 50,
      flushMs: 5,
      backoff: { minMs: 5, maxMs: 10 },
    });
    try {
      w.push(series("s0", 10));
      while (w.stats().retries < 1) await new Promise((res) => setTimeout(res, 5));
      for (let i = 1; i < 20; i++) w.push(series(`s${i}`, 10));
      const s = w.stats();
      assert.match(s.lastError ?? "", /HTTP 503/);
      // One batch of 10 is held for retry; the queue keeps the newest 50.
      assert.equal(s.queued, 60);
      assert.equal(s.dropped, 140);
      up = true;
      while (w.stats().sent < 60) await new Promise((res) => setTimeout(res, 5));
      const names = r.got.flatMap((g) => g.series.map((x) => x.labels[0]!.value));
      assert.deepEqual(names, ["s0", "s15", "s16", "s17", "s18", "s19"], "the held batch, then the newest");
    } finally {
      await w.close();
      await r.close();
    }
  });

  test("bad configuration is refused at start", () => {
    assert.throws(() => new RemoteWriter({ url: "ftp://x/", log: silent }), /not an http/);
    assert.throws(() => new RemoteWriter({ url: "not a url", log: silent }));
  });
});

// ---- a real VictoriaMetrics ----

describe("remote write into VictoriaMetrics", { skip: victoriaMetricsSkip() }, () => {
  let vm: VictoriaMetrics;
  let base: string;
  before(async () => {
    vm = await startVictoriaMetrics();
    base = vm.base;
  });
  after(() => vm?.stop());
  const exported = (match: string, since: number, want: number) => vm.exported(match, since, want);

  test("a real parser reads the exposition's escaped label values back unchanged", async () => {
    const odd = 'say "hi"\\ C:\\temp\nline two — 東京 🤖';
    const at = Math.floor(Date.now() / 1000) * 1000 - 30_000;
    const text = exposition(
      deviceFamilies(
        [
          {
            deviceId: "expo-1",
            name: "temperature_celsius",
            labels: { sensor: odd },
            kind: "gauge",
            value: 40.5,
            at,
          },
        ],
        new Map([["expo-1", { id: "expo-1", name: odd }]]),
        "default",
      ),
    );
    const res = await fetch(`${base}/api/v1/import/prometheus`, { method: "POST", body: text });
    assert.equal(res.status, 204, await res.text());
    const [row] = await exported('{device_id="expo-1"}', at, 1);
    assert.deepEqual(row!.metric, {
      __name__: "temperature_celsius",
      device: odd,
      device_id: "expo-1",
      project: "default",
      sensor: odd,
    });
    assert.deepEqual(row!.values, [40.5]);
    assert.deepEqual(row!.timestamps, [at]);
  });

  test("samples with device labels are stored and queried back with the same values", async () => {
    const w = new RemoteWriter({ url: `${base}/api/v1/write`, log: silent, flushMs: 60_000 });
    const t0 = Math.floor(Date.now() / 1000) * 1000 - 60_000;
    const device = { id: "0a1b2c", name: 'robot "7" 東京', projectId: 1, project: "default" };
    w.push({
      labels: promLabels("temperature_celsius", device, { sensor: "cpu\\zone0" }),
      samples: [
        [t0, 41.5],
        [t0 + 10_000, 42.25],
        [t0 + 20_000, -3],
      ],
    });
    w.push({
      labels: promLabels("net_rx_bytes_total", device, { interface: "wlan0" }),
      samples: [[t0, 1e12]],
    });
    await w.flush();
    await w.close();
    assert.equal(w.stats().sent, 4, `remote write failed: ${w.stats().lastError}`);

    const rows = await exported('{device_id="0a1b2c"}', t0, 2);
    const temp = rows.find((r) => r.metric.__name__ === "temperature_celsius")!;
    assert.deepEqual(temp.metric, {
      __name__: "temperature_celsius",
      device: device.name,
      device_id: device.id,
      project: "default",
      sensor: "cpu\\zone0",
    });
    assert.deepEqual(temp.values, [41.5, 42.25, -3]);
    assert.deepEqual(temp.timestamps, [t0, t0 + 10_000, t0 + 20_000]);
    const rx = rows.find((r) => r.metric.__name__ === "net_rx_bytes_total")!;
    assert.equal(rx.metric.interface, "wlan0");
    assert.deepEqual(rx.values, [1e12]);
  });
});

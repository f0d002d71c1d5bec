// @matrix: once
// The agent's on-disk telemetry buffer (docs/protocol.md §14.4): a full buffer drops the
// OLDEST batches and the next uploaded batch carries a gap with the right count and span
// (also after a restart and a resize); a failing disk (ENOSPC injected) never crashes the
// agent and becomes a `disk-full` gap with one warning a minute; gap lists stay bounded.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { TelemetryGap } from "@tether/protocol";
import pino from "pino";
import { GapList, MAX_GAPS } from "../src/telemetry/gap-list.js";
import { type BatchContent, createTelemetry, type TelemetryLayerOptions } from "../src/telemetry/index.js";
import { delivered, makeCert, metricsBatch, TelemetryTestServer, tokenOf } from "./telemetry-test-server.js";

const tls = makeCert();
const TOKEN = tokenOf("b");
const T0 = 1_760_000_000_000;

/** About 1 KiB compressed: random values do not compress much. */
function noisyBatch(t0: number, points = 60): BatchContent {
  const b = metricsBatch(t0, points);
  b.metrics[0].points = b.metrics[0].points.map(([t]) => [t, Math.random()]);
  return b;
}

async function setup(t: import("node:test").TestContext) {
  const server = new TelemetryTestServer(tls);
  server.tokens.add(TOKEN);
  await server.start();
  const dataDir = mkdtempSync(join(tmpdir(), "tether-tel-"));
  let clock = T0;
  const layers: ReturnType<typeof createTelemetry>[] = [];
  const open = (o: Partial<TelemetryLayerOptions> = {}) => {
    const layer = createTelemetry({
      dataDir,
      deviceId: "dev_buf",
      apiUrl: server.url,
      caCert: tls.cert,
      log: pino({ level: "silent" }),
      now: () => clock,
      retry: { baseMs: 10, maxMs: 50 },
      ...o,
    });
    layers.push(layer);
    return layer;
  };
  t.after(async () => {
    for (const l of layers) await l.stop();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { server, dataDir, open, tick: (ms: number) => (clock += ms) };
}

test("a full buffer drops the oldest batches; the next uploaded batch carries one merged gap", async (t) => {
  const { server, open } = await setup(t);
  const tel = open({ bufferBytes: 4096 });
  const w = tel.stream("metrics");
  for (let i = 0; i < 10; i++) w.append(noisyBatch(T0 + i * 60_000));
  const st = tel.status();
  const kept = st.pending.metrics;
  const lost = 10 - kept;
  assert.ok(kept >= 1 && lost >= 3, `kept ${kept}`);
  assert.ok(st.bufferBytes <= 4096);
  assert.deepEqual(st.dropped, { "buffer-full": lost * 60 });

  tel.storeToken(TOKEN);
  tel.start();
  await delivered(server, tel, kept, "the kept batches");
  assert.deepEqual(
    server.stored.map((b) => b.seq),
    Array.from({ length: kept }, (_, i) => lost + 1 + i),
    "the newest batches survive, in order",
  );
  const gaps = server.stored[0].gaps as TelemetryGap[];
  assert.equal(gaps.length, 1);
  assert.equal(gaps[0].reason, "buffer-full");
  assert.equal(gaps[0].count, lost * 60);
  assert.equal(gaps[0].from, T0);
  assert.equal(gaps[0].to, T0 + (lost - 1) * 60_000 + 59_000);
  assert.equal(gaps[0].detail, `${lost * 60} samples dropped: buffer full`);
  for (const b of server.stored.slice(1)) assert.equal(b.gaps, undefined, "a gap is delivered once");
});

test("gaps survive a restart; a smaller buffer at start drops leftovers with their span read from disk", async (t) => {
  const { server, open } = await setup(t);
  const a = open({ bufferBytes: 64 * 1024 });
  for (let i = 0; i < 6; i++) a.stream("metrics").append(noisyBatch(T0 + i * 60_000));
  assert.equal(a.status().pending.metrics, 6);
  await a.stop();

  const b = open({ bufferBytes: 4096 });
  const kept = b.status().pending.metrics;
  const lost = 6 - kept;
  assert.ok(lost >= 2, `kept ${kept}`);
  await b.stop();

  const c = open({ bufferBytes: 4096 }); // the gap was persisted (gaps.json), not only in memory
  c.storeToken(TOKEN);
  c.start();
  await delivered(server, c, kept, "the kept batches");
  const [gap] = server.stored[0].gaps as TelemetryGap[];
  assert.equal(server.stored[0].seq, lost + 1);
  assert.deepEqual(
    { reason: gap.reason, count: gap.count, from: gap.from, to: gap.to },
    { reason: "buffer-full", count: lost * 60, from: T0, to: T0 + (lost - 1) * 60_000 + 59_000 },
  );
});

test("resize() applies a new quota at once, dropping the oldest with a gap; bad sizes are refused", async (t) => {
  const { open } = await setup(t);
  const tel = open({ bufferBytes: 1024 * 1024 });
  for (let i = 0; i < 8; i++) tel.stream("metrics").append(noisyBatch(T0 + i * 60_000));
  assert.equal(tel.status().pending.metrics, 8);
  tel.resize(4096);
  const st = tel.status();
  assert.equal(st.bufferLimit, 4096);
  assert.ok(st.bufferBytes <= 4096);
  assert.equal(st.dropped["buffer-full"], (8 - st.pending.metrics) * 60);
  assert.throws(() => tel.resize(0), RangeError);
  assert.throws(() => tel.resize(Number.NaN), RangeError);
  assert.equal(tel.status().bufferLimit, 4096, "a refused size changes nothing");
  assert.throws(() => open({ bufferBytes: 100 }), RangeError);
});

test("a full disk (ENOSPC) never crashes: the batch becomes a `disk-full` gap, one warning a minute", async (t) => {
  const { server, open, tick, dataDir } = await setup(t);
  let full = true;
  const lines: string[] = [];
  const log = pino({ level: "warn" }, { write: (s: string) => void lines.push(s) });
  const tel = open({
    log,
    io: {
      writeFile(path, data) {
        if (full)
          throw Object.assign(new Error(`ENOSPC: no space left on device, write '${path}'`), {
            code: "ENOSPC",
          });
        writeFileSync(path, data);
      },
    },
  });
  const w = tel.stream("metrics");
  assert.doesNotThrow(() => w.append(metricsBatch(T0, 5)));
  w.append(metricsBatch(T0 + 10_000, 7));
  assert.equal(tel.status().pending.metrics, 0);
  assert.deepEqual(tel.status().dropped, { "disk-full": 12 });
  const warnings = () => lines.filter((l) => l.includes("cannot write to disk")).length;
  assert.equal(warnings(), 1, "one warning, not one per batch");
  tick(61_000);
  w.append(metricsBatch(T0 + 20_000, 1));
  assert.equal(warnings(), 2, "again after a minute");
  assert.deepEqual(
    readdirSync(join(dataDir, "telemetry", "metrics")).filter((n) => n.endsWith(".tmp")),
    [],
    "no temp file left behind",
  );

  full = false;
  tel.storeToken(TOKEN);
  w.append(metricsBatch(T0 + 30_000, 2));
  tel.start();
  await delivered(server, tel, 1, "the batch after the disk recovered");
  const [gap] = server.stored[0].gaps as TelemetryGap[];
  assert.deepEqual(
    { reason: gap.reason, count: gap.count, from: gap.from, to: gap.to },
    { reason: "disk-full", count: 13, from: T0, to: T0 + 20_000 },
  );
  assert.deepEqual(server.stored[0].metrics, metricsBatch(T0 + 30_000, 2).metrics);
  assert.ok(server.stored[0].seq > 3, "seqs taken by failed writes are never reused");
});

test("recordGap: a loss before the buffer rides the next batch; `dropped` counts it", async (t) => {
  const { server, open } = await setup(t);
  const tel = open();
  tel.storeToken(TOKEN);
  const w = tel.stream("metrics");
  w.recordGap({ from: T0, to: T0, count: 3, reason: "series-limit", detail: "3 new series over the limit" });
  w.append(metricsBatch(T0 + 1000));
  tel.start();
  await delivered(server, tel, 1, "the batch");
  assert.deepEqual(server.stored[0].gaps, [
    { from: T0, to: T0, count: 3, reason: "series-limit", detail: "3 new series over the limit" },
  ]);
  assert.equal(tel.status().dropped["series-limit"], 3);
});

test("streams have their own seq and share; a stream without a share is refused", async (t) => {
  const { server, open } = await setup(t);
  const only = open();
  assert.throws(() => only.stream("logs"), /logs has no share/);
  await only.stop();
  const tel = open({ quotas: { metrics: 0.5, logs: 0.5 }, bufferBytes: 1024 * 1024 });
  tel.storeToken(TOKEN);
  tel.start();
  tel.stream("metrics").append(metricsBatch(T0));
  tel.stream("logs").append({ logs: [{ t: T0, line: "hello" }], span: { from: T0, to: T0, count: 1 } });
  await delivered(server, tel, 2, "one batch per stream");
  const bySream = Object.fromEntries(server.stored.map((b) => [b.stream, b.seq]));
  assert.deepEqual(bySream, { metrics: 1, logs: 1 }, "seq 1 of logs is not a duplicate of seq 1 of metrics");
});

test("GapList: adjacent losses of one reason merge; the list stays bounded; gaps in flight are never changed", () => {
  const saved: TelemetryGap[][] = [];
  const g = new GapList([], "samples", (gaps) => saved.push(gaps.slice()));
  g.add({ from: 10, to: 20, count: 5, reason: "buffer-full" });
  g.add({ from: 30, to: 40, count: 7, reason: "buffer-full" });
  assert.deepEqual(g.attach(), [
    { from: 10, to: 40, count: 12, reason: "buffer-full", detail: "12 samples dropped: buffer full" },
  ]);
  g.add({ from: 50, to: 60, count: 1, reason: "buffer-full" }); // the first one is in flight
  assert.equal(g.size, 2);
  g.acknowledged();
  assert.deepEqual(g.attach(), [
    { from: 50, to: 60, count: 1, reason: "buffer-full", detail: "1 samples dropped: buffer full" },
  ]);
  g.release();

  const big = new GapList([], "samples", () => {});
  let total = 0;
  for (let i = 0; i < 1000; i++) {
    const reason = ["buffer-full", "disk-full", "rejected"][i % 3];
    big.add({ from: i, to: i, count: i + 1, reason });
    total += i + 1;
  }
  const all = big.attach();
  assert.ok(all.length <= MAX_GAPS, `${all.length} gaps`);
  assert.equal(
    all.reduce((s, x) => s + x.count, 0),
    total,
    "merging never loses a count",
  );
  assert.equal(Math.min(...all.map((x) => x.from)), 0);
  assert.equal(Math.max(...all.map((x) => x.to)), 999);
});

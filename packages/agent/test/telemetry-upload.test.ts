// @matrix: once
// The agent's telemetry uploader against a real HTTPS endpoint (docs/protocol.md §14.3):
// batches arrive in seq order exactly once across a server outage, a hung server and an
// agent restart; a refused batch becomes a gap and does not block the queue; no token means
// nothing is sent and nothing is lost; only the pinned CA is trusted.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import pino from "pino";
import { createTelemetry, type TelemetryLayerOptions } from "../src/telemetry/index.js";
import {
  delivered,
  makeCert,
  metricsBatch,
  TelemetryTestServer,
  tokenOf,
  until,
} from "./telemetry-test-server.js";

const tls = makeCert();
const TOKEN = tokenOf("a");
const T0 = 1_760_000_000_000;

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
      deviceId: "dev_test",
      apiUrl: server.url,
      caCert: tls.cert,
      log: pino({ level: "silent" }),
      now: () => clock,
      retry: { baseMs: 10, maxMs: 50 },
      requestTimeoutMs: 2000,
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

test("batches arrive in seq order exactly once, with the envelope and headers of §14.2", async (t) => {
  const { server, open } = await setup(t);
  const tel = open();
  tel.storeToken(TOKEN);
  tel.start();
  tel.stream("metrics").append(metricsBatch(T0));
  tel.stream("metrics").append(metricsBatch(T0 + 3000));
  await delivered(server, tel, 2, "two batches");
  await tel.flush();
  const [r1] = server.received;
  assert.equal(r1.headers["content-encoding"], "gzip");
  assert.equal(r1.headers["content-type"], "application/json");
  assert.equal(r1.token, TOKEN);
  assert.deepEqual(r1.batch, {
    sentAt: T0,
    v: 1,
    device: "dev_test",
    stream: "metrics",
    seq: 1,
    metrics: metricsBatch(T0).metrics,
  });
  assert.deepEqual(
    server.received.map((r) => r.batch.seq),
    [1, 2],
  );
  const st = tel.status();
  assert.equal(st.pending.metrics, 0);
  assert.equal(st.bufferBytes, 0);
  assert.equal(st.lastUploadAt, T0);
  assert.equal(st.lastError, null);
  assert.equal(st.hasToken, true);
});

test("a server outage keeps the batches; they all arrive once, in order, when it is back", async (t) => {
  const { server, open } = await setup(t);
  const tel = open();
  tel.storeToken(TOKEN);
  tel.start();
  const w = tel.stream("metrics");
  w.append(metricsBatch(T0));
  await delivered(server, tel, 1, "first batch");
  await server.stop();
  for (let i = 1; i <= 4; i++) w.append(metricsBatch(T0 + i * 3000));
  await until(() => tel.status().lastError?.startsWith("upload failed") === true, "a failed upload");
  await tel.flush(); // resolves on the failure: it never waits for the server
  assert.equal(tel.status().pending.metrics, 4, "nothing dropped while the server is down");
  await server.start(); // same port
  await delivered(server, tel, 5, "all batches after the outage");
  assert.deepEqual(
    server.stored.map((b) => b.seq),
    [1, 2, 3, 4, 5],
  );
  assert.equal(server.received.filter((r) => r.status === 200).length, 5, "each sent once");
  assert.equal(tel.status().pending.metrics, 0);
});

test("a hung request times out and is retried; the batch is stored once", async (t) => {
  const { server, open } = await setup(t);
  let hang = true;
  server.answer = () => (hang ? "hang" : undefined);
  const tel = open({ requestTimeoutMs: 100 });
  tel.storeToken(TOKEN);
  tel.start();
  tel.stream("metrics").append(metricsBatch(T0));
  await until(() => /timed out/.test(tel.status().lastError ?? ""), "a timeout");
  hang = false;
  await delivered(server, tel, 1, "the batch after the hang");
  assert.deepEqual(
    server.stored.map((b) => b.seq),
    [1],
  );
  assert.equal(tel.status().pending.metrics, 0);
});

test("stop() aborts a hung upload at once; a restarted agent uploads the leftovers and continues the seq", async (t) => {
  const { server, open, dataDir } = await setup(t);
  server.answer = () => "hang";
  const a = open({ requestTimeoutMs: 60_000 });
  a.storeToken(TOKEN);
  a.start();
  a.stream("metrics").append(metricsBatch(T0));
  a.stream("metrics").append(metricsBatch(T0 + 3000));
  await until(() => server.received.length === 1, "the hung request");
  const t0 = Date.now();
  await a.stop();
  assert.ok(Date.now() - t0 < 1000, "stop does not wait for the hung request");
  assert.equal(readdirSync(join(dataDir, "telemetry", "metrics")).filter((n) => n.endsWith(".gz")).length, 2);

  server.answer = () => undefined;
  const b = open();
  assert.equal(b.status().pending.metrics, 2, "the new agent sees the leftovers");
  assert.equal(b.status().hasToken, true, "the token survived the restart");
  b.start();
  b.stream("metrics").append(metricsBatch(T0 + 6000));
  await delivered(server, b, 3, "leftovers and the new batch");
  assert.deepEqual(
    server.stored.map((s) => s.seq),
    [1, 2, 3],
  );
  assert.deepEqual(server.stored[2].metrics, metricsBatch(T0 + 6000).metrics);
});

test("the seq keeps increasing after a restart even when every batch was uploaded", async (t) => {
  const { server, open, dataDir } = await setup(t);
  const a = open();
  a.storeToken(TOKEN);
  a.start();
  a.stream("metrics").append(metricsBatch(T0));
  a.stream("metrics").append(metricsBatch(T0 + 3000));
  await delivered(server, a, 2, "two batches");
  await a.stop();
  assert.deepEqual(
    readdirSync(join(dataDir, "telemetry", "metrics")).filter((n) => n.endsWith(".gz")),
    [],
    "the buffer is empty",
  );
  const b = open();
  b.start();
  b.stream("metrics").append(metricsBatch(T0 + 6000));
  await until(() => server.received.length === 3, "the third batch");
  assert.equal(server.received[2].batch.seq, 3);
  assert.equal(server.stored.length, 3, "not taken for a duplicate");
});

test("a refused batch (400/413) becomes a `rejected` gap on the next batch and does not block the queue", async (t) => {
  const { server, open } = await setup(t);
  server.answer = (b) => (b.seq === 2 ? { status: 413, code: "TETHER_ERR_BATCH_MALFORMED" } : undefined);
  const tel = open();
  tel.storeToken(TOKEN);
  const w = tel.stream("metrics");
  w.append(metricsBatch(T0, 2));
  w.append(metricsBatch(T0 + 5000, 4));
  w.append(metricsBatch(T0 + 20_000, 1));
  tel.start();
  await delivered(server, tel, 2, "batches 1 and 3");
  assert.deepEqual(
    server.stored.map((b) => b.seq),
    [1, 3],
  );
  assert.equal(server.stored[0].gaps, undefined);
  const gaps = server.stored[1].gaps ?? [];
  assert.equal(gaps.length, 1);
  assert.equal(gaps[0].reason, "rejected");
  assert.equal(gaps[0].count, 4);
  assert.equal(gaps[0].from, T0 + 5000);
  assert.equal(gaps[0].to, T0 + 8000);
  assert.match(gaps[0].detail ?? "", /4 samples dropped.*TETHER_ERR_BATCH_MALFORMED/);
  assert.equal(tel.status().dropped.rejected, 4);
  // Delivered with batch 3: the next batch carries no gap again.
  w.append(metricsBatch(T0 + 30_000));
  await delivered(server, tel, 3, "batch 4");
  assert.equal(server.stored[2].gaps, undefined);
});

test("a refused last batch: its gap goes out at once in an empty carrier batch", async (t) => {
  const { server, open } = await setup(t);
  server.answer = (b) => (b.seq === 1 ? { status: 400, code: "TETHER_ERR_BATCH_MALFORMED" } : undefined);
  const tel = open();
  tel.storeToken(TOKEN);
  tel.stream("metrics").append(metricsBatch(T0, 3));
  tel.start();
  await delivered(server, tel, 1, "the carrier");
  const [carrier] = server.stored;
  assert.equal(carrier.seq, 2);
  assert.deepEqual(carrier.metrics, []);
  assert.equal(carrier.gaps?.[0].reason, "rejected");
  assert.equal(carrier.gaps?.[0].count, 3);
  await tel.flush();
  assert.equal(server.received.length, 2, "no carrier loop");
});

test("without a token nothing is sent and nothing is dropped; the first token starts the uploads", async (t) => {
  const { server, open } = await setup(t);
  const tel = open();
  tel.start();
  tel.stream("metrics").append(metricsBatch(T0));
  tel.stream("metrics").append(metricsBatch(T0 + 3000));
  await tel.flush();
  const st = tel.status();
  assert.equal(server.received.length, 0);
  assert.equal(st.pending.metrics, 2);
  assert.equal(st.hasToken, false);
  assert.match(st.lastError ?? "", /no telemetry token/);
  tel.storeToken(TOKEN);
  await delivered(server, tel, 2, "uploads after the token");
  assert.deepEqual(
    server.stored.map((b) => b.seq),
    [1, 2],
  );
});

test("5xx and 429 are retried with backoff, keeping the batch", async (t) => {
  const { server, open } = await setup(t);
  let fails = 3;
  server.answer = () => (fails-- > 0 ? { status: fails % 2 ? 500 : 429 } : undefined);
  const tel = open();
  tel.storeToken(TOKEN);
  tel.start();
  tel.stream("metrics").append(metricsBatch(T0));
  await delivered(server, tel, 1, "the batch after three failures");
  assert.equal(server.received.length, 4);
  assert.ok(server.received.every((r) => r.batch.seq === 1));
});

test("a server whose certificate is not the pinned CA never sees the token", async (t) => {
  const { server, open } = await setup(t);
  const other = makeCert("someone-else");
  const tel = open({ caCert: other.cert });
  tel.storeToken(TOKEN);
  tel.start();
  tel.stream("metrics").append(metricsBatch(T0));
  await until(() => /certificate|self-signed|verify/i.test(tel.status().lastError ?? ""), "a TLS failure");
  assert.equal(server.received.length, 0);
  assert.equal(tel.status().pending.metrics, 1);
});

test("a duplicate answer deletes the batch but keeps its gaps for the next batch", async (t) => {
  const { server, open } = await setup(t);
  server.last.set("metrics", 1); // batch 1 was stored before the agent could record it
  const tel = open();
  tel.storeToken(TOKEN);
  const w = tel.stream("metrics");
  w.recordGap({ from: T0, to: T0 + 1000, count: 2, reason: "series-limit" });
  w.append(metricsBatch(T0));
  tel.start();
  await delivered(server, tel, 1, "the gap in the next batch");
  assert.deepEqual(
    server.received.map((r) => [r.batch.seq, r.stored, r.batch.gaps?.length ?? 0]),
    [
      [1, false, 1],
      [2, true, 1],
    ],
  );
  assert.equal(server.stored[0].gaps?.[0].reason, "series-limit");
});

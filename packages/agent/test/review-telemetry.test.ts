// @matrix: once
// A gap record the server would refuse must never reach it (docs/protocol.md §14.2): pending
// gaps ride every batch until one is accepted, so one bad gap (a lost sample's time out of
// range or not a number, a gaps.json written elsewhere) would have every later batch refused
// (400) and dropped — a permanent blackout. The agent clamps gaps to the server's rules and
// its batches keep arriving, the losses still reported.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { TelemetryBatch, TelemetryGap } from "@tether/protocol";
import pino from "pino";
import { createTelemetry } from "../src/telemetry/index.js";
import { delivered, makeCert, metricsBatch, TelemetryTestServer, tokenOf } from "./telemetry-test-server.js";

const tls = makeCert();
const TOKEN = tokenOf("g");
const T0 = 1_760_000_000_000;

/** The server's envelope rule for one gap (packages/server/src/telemetry/envelope.ts). */
function serverTakes(g: TelemetryGap): boolean {
  const time = (t: unknown) => typeof t === "number" && Number.isFinite(t) && Math.abs(t) <= 4e15;
  return (
    time(g.from) &&
    time(g.to) &&
    g.to >= g.from &&
    Number.isSafeInteger(g.count) &&
    g.count >= 0 &&
    /^[a-z][a-z0-9-]{0,31}$/.test(g.reason) &&
    (g.stream === undefined || g.stream === "metrics" || g.stream === "logs") &&
    (g.detail === undefined || (typeof g.detail === "string" && g.detail.length <= 500))
  );
}

test("gaps out of the server's range are clamped, so later batches are not refused with them", async (t) => {
  const server = new TelemetryTestServer(tls);
  server.tokens.add(TOKEN);
  server.answer = (b: TelemetryBatch) =>
    (b.gaps ?? []).every(serverTakes) ? undefined : { status: 400, code: "TETHER_ERR_BATCH_MALFORMED" };
  await server.start();
  const dataDir = mkdtempSync(join(tmpdir(), "tether-tel-gap-"));
  // A gaps.json left by an older agent: a time that is no number, an odd stream, a long detail.
  mkdirSync(join(dataDir, "telemetry", "metrics"), { recursive: true });
  writeFileSync(
    join(dataDir, "telemetry", "metrics", "gaps.json"),
    JSON.stringify([
      { from: null, to: T0, count: 3, reason: "buffer-full", stream: "x", detail: "d".repeat(900) },
    ]),
  );
  const tel = createTelemetry({
    dataDir,
    deviceId: "dev_test",
    apiUrl: server.url,
    caCert: tls.cert,
    log: pino({ level: "silent" }),
    now: () => T0,
    retry: { baseMs: 10, maxMs: 50 },
    requestTimeoutMs: 2000,
  });
  t.after(async () => {
    await tel.stop();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const w = tel.stream("metrics");
  // Losses whose times came from applications: far beyond any clock, and not a number at all.
  w.recordGap({ from: 1e17, to: 1e17, count: 2, reason: "series-limit" });
  w.recordGap({ from: Number.POSITIVE_INFINITY, to: Number.NaN, count: 1, reason: "rate-limit" });
  w.recordGap({ from: 5, to: 1, count: 1, reason: "disk-full" });
  w.append(metricsBatch(T0));
  w.append(metricsBatch(T0 + 10_000));
  tel.storeToken(TOKEN);
  tel.start();
  await delivered(server, tel, 2, "both batches stored");
  assert.deepEqual(
    server.received.map((r) => r.status),
    [200, 200],
    "no batch was refused for its gaps",
  );
  const gaps = server.stored.flatMap((b) => b.gaps ?? []);
  assert.ok(gaps.every(serverTakes), JSON.stringify(gaps));
  // Every loss is still reported, with its count and reason.
  const by = Object.fromEntries(gaps.map((g) => [g.reason, g]));
  assert.equal(by["buffer-full"]?.count, 3);
  assert.equal(by["buffer-full"]?.from, T0);
  assert.equal(by["series-limit"]?.count, 2);
  assert.equal(by["series-limit"]?.from, 4e15);
  assert.equal(by["rate-limit"]?.count, 1);
  assert.deepEqual([by["disk-full"]?.from, by["disk-full"]?.to], [1, 5]);
  assert.equal(tel.status().dropped.rejected, undefined, "nothing was dropped as refused");
});

// @matrix: once
// The logs module over the real telemetry layer (docs/protocol.md §14, §15): a followed file's
// lines are sealed into the "logs" stream (its own seq, its share of the buffer) and uploaded
// to a real HTTPS endpoint as soon as they are sealed; rate-limit gaps ride the upload with
// their source, one per source (the layer does not merge gaps of different sources).
import assert from "node:assert/strict";
import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { LogLineWire, TelemetryGap } from "@tether/protocol";
import pino from "pino";
import type { CapabilityPorts } from "../src/capability.js";
import { loadLogsSettings, logs } from "../src/capabilities/logs/index.js";
import { createTelemetry } from "../src/telemetry/index.js";
import { tempDir } from "./fixtures/logs/support.js";
import { makeCert, TelemetryTestServer, tokenOf, until } from "./telemetry-test-server.js";

const tls = makeCert();
const TOKEN = tokenOf("l");

test("followed lines reach the ingest endpoint in the logs stream; gaps carry their source", async (t) => {
  const server = new TelemetryTestServer(tls);
  server.tokens.add(TOKEN);
  await server.start();
  const dir = tempDir(t);
  const tel = createTelemetry({
    dataDir: dir,
    deviceId: "dev_logs",
    apiUrl: server.url,
    caCert: tls.cert,
    log: pino({ level: "silent" }),
    quotas: { metrics: 0.5, logs: 0.5 },
    bufferBytes: 4 * 1024 * 1024,
    retry: { baseMs: 10, maxMs: 50 },
  });
  tel.storeToken(TOKEN);
  tel.start();
  const a = join(dir, "a.log");
  const b = join(dir, "b.log");
  writeFileSync(a, "");
  writeFileSync(b, "");
  const rt = logs.create({ log: pino({ level: "silent" }) } as unknown as CapabilityPorts, {
    telemetry: tel,
    settings: loadLogsSettings({ flags: { follow: [a, b], journal: false, rate: 5, burst: 5 } }),
    dataDir: dir,
    pollMs: 20,
  });
  t.after(async () => {
    await rt.stop();
    await tel.stop();
    await server.stop();
  });
  await rt.start();
  const batches = () => server.stored.filter((x) => x.stream === "logs");
  const lines = () => batches().flatMap((x) => x.logs as LogLineWire[]);
  const gaps = () => server.stored.flatMap((x) => (x.gaps ?? []) as TelemetryGap[]);

  appendFileSync(a, "hello from the robot\n");
  await until(() => lines().some((l) => l.msg === "hello from the robot"), "the line uploaded");
  assert.equal(batches()[0]!.seq, 1, "the logs stream has its own sequence");
  assert.equal(lines()[0]!.src, a);

  appendFileSync(a, Array.from({ length: 30 }, (_, i) => `a ${i}\n`).join(""));
  appendFileSync(b, Array.from({ length: 40 }, (_, i) => `b ${i}\n`).join(""));
  const accounted = (src: string, prefix: string) =>
    lines().filter((l) => l.src === src && l.msg.startsWith(prefix)).length +
    gaps()
      .filter((g) => g.source === src)
      .reduce((n, g) => n + g.count, 0);
  // Every line: uploaded, or counted in a gap of its own source.
  await until(() => accounted(a, "a ") === 30 && accounted(b, "b ") === 40, "every line accounted for");
  assert.ok(gaps().length >= 2);
  for (const g of gaps()) {
    assert.equal(g.reason, "rate-limit");
    assert.equal(g.stream, "logs");
    assert.ok(g.source === a || g.source === b, JSON.stringify(g));
    assert.match(g.detail!, /lines dropped from .*[ab]\.log/);
  }
  assert.ok(tel.status().pending.logs !== undefined);
});

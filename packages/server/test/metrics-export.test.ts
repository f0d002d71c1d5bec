// @matrix: once
// Remote write through a whole server (docs/protocol.md §14.6; `tether server
// --metrics-remote-write URL`): samples uploaded by a device over the telemetry channel land
// in a real VictoriaMetrics (Debian's victoria-metrics) with the device's name, id, project
// and the series' own labels, values and times unchanged; the server counts them as sent.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { createServer, type TetherServer } from "@tether/server";
import { pino } from "pino";
import { cleanupTempDirs, databaseFor, tempDir, waitFor } from "../../../tests/e2e/harness.js";
import {
  startVictoriaMetrics,
  type VictoriaMetrics,
  uploadMetrics,
  victoriaMetricsSkip,
} from "./metrics-support.js";
import { insertDevice } from "./support.js";

const SKIP = victoriaMetricsSkip();
let vm: VictoriaMetrics;
let srv: TetherServer;
let url: string;
let ca: string;

before(async () => {
  if (SKIP) return;
  vm = await startVictoriaMetrics();
  const dataDir = tempDir("tether-metrics-export-");
  srv = await createServer({
    dataDir,
    listen: { host: "127.0.0.1", port: 0 },
    mqttListen: { host: "127.0.0.1", port: 0 },
    database: await databaseFor(dataDir),
    log: pino({ level: "silent" }),
    metrics: { remoteWrite: `${vm.base}/api/v1/write` },
  });
  assert.ok(
    (srv.capabilities as unknown as Record<string, unknown>).metrics,
    "the metrics capability is not listed in packages/server/src/capabilities.ts",
  );
  const info = await srv.listen();
  url = info.url;
  ca = readFileSync(info.caCert, "utf8");
});

after(async () => {
  await srv?.close();
  await vm?.stop();
  await cleanupTempDirs();
});

test("uploaded samples land in VictoriaMetrics with device labels", { skip: SKIP }, async () => {
  const projectId = await srv.services.accounts.projectId("default");
  await insertDevice(srv.store.db, projectId, "vm-dev-1");
  await srv.store.db
    .updateTable("devices")
    .set({ name: 'forklift "7"' })
    .where("id", "=", "vm-dev-1")
    .execute();
  await srv.telemetry.rotateToken((await srv.services.devices.get("vm-dev-1"))!);
  const t0 = Math.floor(Date.now() / 1000) * 1000 - 60_000;
  const r = await uploadMetrics({ srv, url, ca }, "vm-dev-1", 1, {
    metrics: [
      {
        name: "battery_voltage_volts",
        labels: { battery: "BAT0" },
        points: [
          [t0, 24.1],
          [t0 + 10_000, 23.9],
        ],
      },
      { name: "disk_reads_total", kind: "counter", labels: { disk: "sda" }, points: [[t0, 1234]] },
    ],
  });
  assert.equal(r.accepted, 3);
  const rows = await vm.exported('{device_id="vm-dev-1"}', t0, 2);
  const volts = rows.find((x) => x.metric.__name__ === "battery_voltage_volts")!;
  assert.deepEqual(volts.metric, {
    __name__: "battery_voltage_volts",
    battery: "BAT0",
    device: 'forklift "7"',
    device_id: "vm-dev-1",
    project: "default",
  });
  assert.deepEqual(volts.values, [24.1, 23.9]);
  assert.deepEqual(volts.timestamps, [t0, t0 + 10_000]);
  const reads = rows.find((x) => x.metric.__name__ === "disk_reads_total")!;
  assert.deepEqual([reads.metric.disk, reads.metric.device], ["sda", 'forklift "7"']);
  assert.deepEqual(reads.values, [1234]);
  // The remote has stored them; its answer may still be on its way to the server.
  const writer = (srv.capabilities as unknown as { metrics: { remoteWrite: { stats(): { sent: number } } } })
    .metrics.remoteWrite;
  await waitFor(() => writer.stats().sent === 3, "the server to count 3 samples sent", 10_000);
});

/**
 * The search row's fill (bench:logs), in its own process, BEFORE the measured server starts:
 * `lines` lines (./lines.ts fillLine: RARE_TERM in 1 of 10⁶, COMMON_TERM in 1 of 100) written
 * into the server's telemetry database through the log store's own ingest (the stream handler
 * the telemetry layer calls; its multi-row inserts, the FTS triggers in the same transaction,
 * the byte count), as batches of `perBatch` lines of the devices already in the database (round
 * robin), `perTx` batches per transaction, with the sequence claim skipped (these batches never
 * came over the wire). Receipt times spread evenly over the last `spanMs` up to a minute ago, so
 * a search's default window (24 h) covers them all. Uploading 10 M lines over HTTPS would take
 * longer than the rest of the benchmark; the row measures the search, not the fill.
 * Usage: fill.ts '<json options>' { dataDir, database?, lines, perBatch, perTx, spanMs, config }
 * Events: {ev:"progress", done, of, elapsedS}, {ev:"done", lines, ms, rate, devices}.
 */
import type { TelemetryBatch } from "@tether/protocol";
import { createServer } from "@tether/server";
import pino from "pino";
import type { DeviceRow } from "../../packages/server/src/devices.js";
import type { IncomingBatch } from "../../packages/server/src/telemetry/types.js";
import { emit } from "../lib/util.js";
import { fillLine } from "./lines.js";

const o = JSON.parse(process.argv[2]!) as {
  dataDir: string;
  database?: string;
  lines: number;
  perBatch: number;
  perTx: number;
  spanMs: number;
  config?: Record<string, unknown>;
};

const srv = await createServer({
  dataDir: o.dataDir,
  database: o.database,
  listen: { host: "127.0.0.1", port: 0 },
  mqttListen: { host: "127.0.0.1", port: 0 },
  log: pino({ level: "warn" }, pino.destination(2)),
  ...o.config,
});
try {
  const store = (srv.capabilities as any).logs?.store;
  if (!store || typeof store.ingest !== "function")
    throw new Error("the log store is not reachable from the server object (capabilities.logs.store)");
  const devices = (await srv.store.db.selectFrom("devices").selectAll().execute()) as DeviceRow[];
  if (devices.length === 0) throw new Error("no devices in the database to attribute lines to");
  const claim = async () => true;
  const end = Date.now() - 60_000;
  const start = end - o.spanMs;
  const t0 = performance.now();
  let last = t0;
  let seq = 0;
  for (let i = 0; i < o.lines; ) {
    const group: IncomingBatch[] = [];
    for (let b = 0; b < o.perTx && i < o.lines; b++) {
      const n = Math.min(o.perBatch, o.lines - i);
      const receivedAt = Math.round(start + ((i + n) / o.lines) * o.spanMs);
      const device = devices[seq % devices.length]!;
      const logs = [];
      for (let j = 0; j < n; j++, i++) {
        const l = fillLine(i);
        l.t = receivedAt - (n - j);
        logs.push(l);
      }
      const batch: TelemetryBatch = {
        v: 1,
        device: device.id,
        stream: "logs",
        seq: ++seq,
        sentAt: receivedAt,
        logs,
      } as TelemetryBatch;
      group.push({ device, batch, receivedAt, skewMs: 0 });
    }
    const results = await store.ingest(group, claim);
    for (const r of results)
      if (r === "duplicate" || Object.keys(r.dropped).length)
        throw new Error(`the store did not take a fill batch: ${JSON.stringify(r)}`);
    if (performance.now() - last > 5000) {
      last = performance.now();
      emit({ ev: "progress", done: i, of: o.lines, elapsedS: (last - t0) / 1000 });
    }
  }
  const ms = performance.now() - t0;
  emit({ ev: "done", lines: o.lines, ms, rate: (o.lines / ms) * 1000, devices: devices.length });
} finally {
  await srv.close();
}
process.exit(0);

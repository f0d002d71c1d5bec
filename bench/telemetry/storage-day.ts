/**
 * The storage row of bench:telemetry, in its own process: a simulated day of a fleet fed to
 * the server's metric store through its ingest API (the stream handler the telemetry layer
 * calls, with the layer's own sequence claim), batches 10 s apart over 24 h of device time —
 * each interval's batches of all devices in one call, as group commit hands them over — and
 * compaction every simulated minute, as the server's timer runs it; at the end one more
 * compaction with the clock past the recent-row window, so that everything is in chunks and
 * rollups. Then the telemetry database's size: SQLite (page_count − freelist_count) ×
 * page_size of telemetry.db; PostgreSQL pg_total_relation_size of the metric and telemetry
 * tables as they are, and again after VACUUM FULL of them (detail.bytesAfterVacuumFull). Usage: storage-day.ts '<json options>'
 *   { dataDir, database?, devices, series, hours, intervalMs, compactEveryMs }
 * Events: {ev:"progress", ...}, {ev:"done", samples, bytes, bytesPerSample, ...}.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { TelemetryBatch } from "@tether/protocol";
import { createServer } from "@tether/server";
import Database from "better-sqlite3";
import pino from "pino";
import pg from "pg";
// The layer's sequence claim: the store stores a batch only inside the transaction that claims its seq.
import { claimSeq } from "../../packages/server/src/telemetry/seq-claim.js";
import { emit } from "../lib/util.js";
import { DeviceModel } from "./generator.js";

const o = JSON.parse(process.argv[2]!) as {
  dataDir: string;
  database?: string;
  devices: number;
  series: number;
  hours: number;
  intervalMs: number;
  compactEveryMs: number;
};

const COMPACT_AFTER_MS = 10 * 60_000; // the server's default (config.metrics.compactAfterMs)
const srv = await createServer({
  dataDir: o.dataDir,
  database: o.database,
  listen: { host: "127.0.0.1", port: 0 },
  mqttListen: { host: "127.0.0.1", port: 0 },
  log: pino({ level: "warn" }, pino.destination(2)),
  metrics: { compactAfterMs: COMPACT_AFTER_MS },
});
const metrics = (srv.capabilities as unknown as Record<string, any>).metrics;
const store = metrics?.store;
if (!store?.ingest) throw new Error("the metrics capability (its store) is not wired into the server yet");

const db = srv.store.db;
const projectId = await srv.services.accounts.projectId("default");
const rows = [];
for (let i = 0; i < o.devices; i++) {
  const id = `dev_${randomBytes(10).toString("hex")}`;
  await db
    .insertInto("devices")
    .values({
      id,
      project_id: projectId,
      name: `day-${i}`,
      state: "accepted",
      sign_key: randomBytes(32).toString("base64url"),
      noise_key: randomBytes(32).toString("base64url"),
      fingerprint: "bench",
      hostname: `day-${i}`,
      source_address: "127.0.0.1",
      labels: "{}",
      facts: null,
      shard: 0,
      broker_password_hash: null,
      enroll_token_id: null,
      created_at: new Date().toISOString(),
      last_seen_at: null,
      online: 0,
      conn_id: null,
      hs_counter: "0",
      down_next_mid: 1,
      up_low: 0,
      up_above: "[]",
    })
    .execute();
  rows.push((await srv.services.devices.get(id))!);
}

const intervals = Math.round((o.hours * 3_600_000) / o.intervalMs);
// Device time: the day ends an hour ago (every sample plausible to the server's clock).
const end = Date.now() - 3_600_000;
const start = end - (intervals - 1) * o.intervalMs;
const models = rows.map((_, i) => new DeviceModel(i, o.series, 11, o.intervalMs / 1000));
const values = models.map((m) => new Float64Array(m.series.length));
let accepted = 0;
const dropped: Record<string, number> = {};
let ingestMs = 0;
let vacuum: (() => Promise<void>) | undefined;
let vacuumEnd: (() => Promise<void>) | undefined;
if (srv.store.dialect === "postgres") {
  const vc = new pg.Client({ connectionString: o.database });
  await vc.connect();
  vacuum = async () => {
    await vc.query("vacuum metric_recent");
  };
  vacuumEnd = () => vc.end();
}
let compactMs = 0;
let compactions = 0;
let lastCompact = start;
let lastVacuum = start;
const t0 = performance.now();
let lastProgress = t0;
for (let k = 0; k < intervals; k++) {
  const t = start + k * o.intervalMs;
  const batches = rows.map((device, d) => {
    const m = models[d]!;
    const v = values[d]!;
    m.next(v);
    const batch: TelemetryBatch = {
      v: 1,
      device: device.id,
      stream: "metrics",
      seq: k + 1,
      sentAt: t + 20,
      metrics: m.series.map((s, j) => ({
        name: s.name,
        labels: s.labels,
        kind: s.kind,
        points: [[t, v[j]!]],
      })),
    };
    return { device, batch, receivedAt: t + 30, skewMs: 10 };
  });
  const ti = performance.now();
  const res = (await store.ingest(batches, claimSeq)) as (
    | { accepted: number; dropped: Record<string, number> }
    | "duplicate"
  )[];
  ingestMs += performance.now() - ti;
  for (const r of res) {
    if (r === "duplicate") throw new Error("a fresh batch was taken for a duplicate");
    accepted += r.accepted;
    for (const [k2, n] of Object.entries(r.dropped)) dropped[k2] = (dropped[k2] ?? 0) + n;
  }
  if (t - lastCompact >= o.compactEveryMs) {
    lastCompact = t;
    const tc = performance.now();
    await store.compact(t + 30);
    compactMs += performance.now() - tc;
    compactions++;
  }
  // PostgreSQL reclaims compacted recent rows by (auto)vacuum, which in real time runs many
  // times an hour; the simulated day passes in about a minute, so run a plain VACUUM (no
  // rewrite, no lock) once per simulated hour, as autovacuum would at least.
  if (vacuum && t - lastVacuum >= 3_600_000) {
    lastVacuum = t;
    await vacuum();
  }
  if (performance.now() - lastProgress > 10_000) {
    lastProgress = performance.now();
    emit({ ev: "progress", done: k + 1, of: intervals, accepted, elapsedS: (performance.now() - t0) / 1000 });
  }
}
// Everything past the recent-row window: chunks and rollups only.
const tc = performance.now();
// A run may compact a bounded page of rows, and an hour only once it is over: the clock two
// hours past the day, repeated until nothing is left.
let last = await store.compact(end + 2 * 3_600_000 + COMPACT_AFTER_MS);
for (let i = 0; i < 10_000 && (last.rows > 0 || store.stats().recentRows > 0); i++)
  last = await store.compact(end + 2 * 3_600_000 + COMPACT_AFTER_MS);
compactMs += performance.now() - tc;
const stats = store.stats();
const wallS = (performance.now() - t0) / 1000;

let bytes: number;
let detail: Record<string, number> = {};
if (srv.store.dialect === "sqlite") {
  await srv.close();
  const f = new Database(join(o.dataDir, "telemetry.db"));
  f.pragma("wal_checkpoint(TRUNCATE)");
  const pageCount = f.pragma("page_count", { simple: true }) as number;
  const freelist = f.pragma("freelist_count", { simple: true }) as number;
  const pageSize = f.pragma("page_size", { simple: true }) as number;
  bytes = (pageCount - freelist) * pageSize;
  detail = { pageCount, freelist, pageSize };
  try {
    // Per table, for the report (dbstat is compiled into better-sqlite3's SQLite).
    for (const r of f
      .prepare("select name, sum(pgsize) as b from dbstat group by name order by b desc")
      .all() as { name: string; b: number }[])
      detail[`table:${r.name}`] = r.b;
  } catch {}
  f.close();
} else {
  const c = new pg.Client({ connectionString: o.database });
  await c.connect();
  const sizes = async () =>
    (
      await c.query(
        `select c.relname, pg_total_relation_size(c.oid) as b from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = current_schema() and c.relkind = 'r'
           and (c.relname like 'metric\\_%' or c.relname in ('telemetry_streams', 'telemetry_gaps'))`,
      )
    ).rows as { relname: string; b: string }[];
  bytes = 0;
  for (const x of await sizes()) {
    bytes += Number(x.b);
    detail[`table:${x.relname}`] = Number(x.b);
  }
  // The same tables rewritten without dead rows (what SQLite's used pages measure).
  await c.query(`vacuum full ${(await sizes()).map((x) => `"${x.relname}"`).join(", ")}`);
  detail.bytesAfterVacuumFull = 0;
  for (const x of await sizes()) detail.bytesAfterVacuumFull += Number(x.b);
  await c.end();
  await vacuumEnd?.();
  await srv.close();
}
emit({
  ev: "done",
  devices: o.devices,
  series: o.series,
  intervals,
  samples: accepted,
  dropped,
  bytes,
  bytesPerSample: bytes / accepted,
  wallS,
  ingestS: ingestMs / 1000,
  compactS: compactMs / 1000,
  compactions,
  lastCompaction: last,
  stats,
  detail,
});
process.exit(0);

// @matrix: once
// Storage size of the metric store (docs/protocol.md §14.4; issue 11's goal ≤ 2 bytes per
// stored sample, rollups included, measured on the database's used pages): a simulated day of
// three dozen series at a 10 s interval from noon to noon — drifting gauges with 1 and 2
// decimals, noisy percentages, integer counters (slow and bursty) — ingested batch by batch and
// compacted every 10 minutes as the server does. Bounds, on the SQLite pages of every metric
// table (rows, indexes, free space inside pages; the freelist is not counted): ≤ 2 bytes per
// sample an hour after the day (the first half in day chunks and 1-hour buckets, the second in
// hour chunks) and once the second calendar day is over too (all in day chunks); once raw data
// expires, its 1-minute buckets take less than the raw samples did.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sql } from "kysely";
import { createMetricStore } from "../src/capabilities/metrics/store/index.js";
import {
  batch,
  claim,
  memoryLog,
  openTelemetryDb,
  rng,
  TEST_DB,
  type TelemetryDb,
} from "./metric-store-support.js";

// Noon: the simulated day spans two calendar days, as a day measured at any time of day does.
const T0 = Date.UTC(2025, 5, 1, 12);
const INTERVAL = 10_000;
const DAY_SAMPLES = 8640;
const DAY = 86_400_000;
let tdb: TelemetryDb;
before(async () => {
  tdb = await openTelemetryDb();
});
after(async () => {
  await tdb.store.close();
  await tdb.cleanup();
});

/** Bytes of used pages per table (SQLite dbstat), metric tables and their indexes. */
async function pages(): Promise<Map<string, number>> {
  const { rows } = await sql<{ name: string; bytes: number }>`
    select name, sum(pgsize) as bytes from dbstat where name like 'metric%' group by name`.execute(
    tdb.store.db,
  );
  return new Map(rows.map((r) => [r.name, Number(r.bytes)]));
}

function sum(m: Map<string, number>, filter: (name: string) => boolean = () => true): number {
  let n = 0;
  for (const [k, v] of m) if (filter(k)) n += v;
  return n;
}

// SQLite's page accounting (dbstat); the file runs once, on SQLite.
const skip = TEST_DB === "postgres" ? "SQLite page accounting" : false;

test("a day of gauges and counters: ≤ 2 bytes per sample on the database pages, rollups included", {
  skip,
}, async (t) => {
  const s = createMetricStore({ db: tdb.store.db, dialect: tdb.store.dialect, log: memoryLog().log });
  const r = rng(11);
  const noise = () => (r() + r() + r() + r() - 2) * 1.7;
  // Temperatures: 1 decimal, slow drift.
  const temps = Array.from({ length: 10 }, (_, i) => ({ v: 35 + i * 3 }));
  // Loads, voltages, percentages: 2 decimals, drifting.
  const drifts = Array.from({ length: 8 }, (_, i) => ({ v: 1 + i * 10 }));
  // CPU-like percentages: 2 decimals, mean-reverting and noisy.
  const cpus = Array.from({ length: 6 }, (_, i) => ({ v: 20 + i * 8, mean: 20 + i * 8 }));
  // Counters: events and packets at steady-ish rates; byte counters in bursts.
  const counters = Array.from({ length: 12 }, (_, i) => ({
    v: 1_000_000 * (i + 1),
    rate: i < 9 ? 20 + i * 40 : 20_000 * (i - 8),
  }));
  const perGroup = 60; // ten minutes of batches per ingest call
  let seq = 0;
  let samples = 0;
  const day = async (from: number, to: number) => {
    for (let i = from; i < to; i += perGroup) {
      const group = [];
      for (let j = i; j < i + perGroup; j++) {
        const at = T0 + j * INTERVAL;
        const point = (v: number) => [[at, v]] as [number, number][];
        const metrics = [
          ...temps.map((g, k) => {
            g.v = Math.round((g.v + (r() - 0.5) * 0.4) * 10) / 10;
            return { name: "temperature_celsius", labels: { sensor: String(k) }, points: point(g.v) };
          }),
          ...drifts.map((g, k) => {
            g.v = Math.round((g.v + (r() - 0.5) * 0.2) * 100) / 100;
            return { name: "app_level", labels: { n: String(k) }, points: point(g.v) };
          }),
          ...cpus.map((g, k) => {
            g.v = Math.min(100, Math.max(0, g.v + 0.2 * (g.mean - g.v) + 2 * noise()));
            return {
              name: "cpu_core_usage_percent",
              labels: { cpu: String(k) },
              points: point(Math.round(g.v * 100) / 100),
            };
          }),
          ...counters.map((c, k) => {
            const burst = k >= 9 && r() < 0.05 ? 5 : 1;
            c.v += Math.floor(c.rate * burst * (0.6 + 0.8 * r()));
            return { name: "app_events_total", labels: { n: String(k) }, points: point(c.v) };
          }),
        ];
        samples += metrics.length;
        group.push(batch("day", ++seq, metrics, { receivedAt: at + 200 }));
      }
      await s.ingest(group, claim);
      await s.compact(T0 + (i + perGroup) * INTERVAL);
    }
  };
  await day(0, DAY_SAMPLES);
  const series = 36;
  assert.equal(samples, DAY_SAMPLES * series);

  const report = (label: string, m: Map<string, number>, n: number) => {
    const detail = [...m].filter(([, b]) => b > 4096).map(([k, b]) => `${k} ${(b / n).toFixed(3)}`);
    const per = sum(m) / n;
    t.diagnostic(`${label}: ${per.toFixed(3)} bytes/sample on pages (${detail.join(", ")})`);
    return per;
  };
  // Right after the last batch, the last hour is still in recent rows (a transient buffer of
  // about an hour, kept fast to write rather than small).
  report("right after the last batch (with the last hour's recent rows)", await pages(), samples);
  // An hour later: the first calendar day consolidated, the second half of the day in hour chunks.
  await s.compact(T0 + DAY + 60 * 60_000);
  const mixed = report("an hour after the day (day chunks + hour chunks)", await pages(), samples);
  assert.ok(mixed <= 2, `${mixed} bytes/sample`);
  // The second calendar day is over too: everything in day chunks and 1-hour buckets.
  await s.compact(T0 + DAY + 13 * 60 * 60_000);
  const consolidated = await pages();
  const perSample = report("both calendar days consolidated", consolidated, samples);
  const { rows: blobs } = await sql<{ c: number; h: number }>`
    select (select sum(length(data)) from metric_chunks) as c,
      (select sum(length(data)) from metric_rollups_1h) as h`.execute(tdb.store.db);
  t.diagnostic(
    `encoded: day chunks ${(Number(blobs[0]!.c) / samples).toFixed(3)}, 1-hour buckets ${(Number(blobs[0]!.h) / samples).toFixed(3)} bytes/sample`,
  );
  assert.ok(perSample <= 2, `${perSample} bytes/sample`);
  // Every sample is still there, at each resolution.
  for (const stepMs of [INTERVAL, 60_000, 3_600_000]) {
    const count = await s.range({
      deviceIds: ["day"],
      metric: "temperature_celsius",
      from: T0,
      to: T0 + DAY,
      stepMs,
      agg: "count",
      limit: 100,
    });
    assert.equal(
      count.series.reduce((a, x) => a + x.points.reduce((b, p) => b + (p[1] ?? 0), 0), 0),
      DAY_SAMPLES * temps.length,
      `count at a ${stepMs} ms step`,
    );
  }

  // Raw data expires (7 days): 1-minute buckets replace it, smaller than the raw samples were.
  await s.compact(T0 + 9 * DAY);
  const expired = await pages();
  const rawBytes = sum(consolidated, (k) => k.startsWith("metric_chunks"));
  const minuteBytes = sum(
    expired,
    (k) => k.startsWith("metric_rollups") && !k.startsWith("metric_rollups_1h"),
  );
  t.diagnostic(
    `after expiry: 1-minute buckets ${(minuteBytes / samples).toFixed(3)} bytes per sample they summarise (raw was ${(rawBytes / samples).toFixed(3)})`,
  );
  assert.ok(minuteBytes < rawBytes);
  const { rows: file } = await sql<{ n: number }>`
    select (select page_count from pragma_page_count()) - (select freelist_count from pragma_freelist_count()) as n`.execute(
    tdb.store.db,
  );
  t.diagnostic(`telemetry file: ${Number(file[0]!.n)} used pages`);
  await s.close();
});

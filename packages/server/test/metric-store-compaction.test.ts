// @matrix: store
// Compaction, consolidation, expiry and retention of the metric store (docs/protocol.md §14.4):
// every sample survives compaction into hour chunks and consolidation into day chunks (raw
// queries before, midway and after give the same points); 1-minute and 1-hour steps give the
// same avg/min/max/last/sum/count/rate as the raw samples at every stage — from raw data, from
// 1-hour buckets once the day is consolidated, from 1-minute buckets once raw data expired;
// late data merges into the hour chunk, the day chunk and buckets, or the 1-minute buckets of
// its window; retention deletes each resolution in turn.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { MetricAgg } from "@tether/protocol";
import { sql } from "kysely";
import { createMetricStore, type MetricStore } from "../src/capabilities/metrics/store/index.js";
import { batch, claim, memoryLog, openTelemetryDb, rng, type TelemetryDb } from "./metric-store-support.js";

const T0 = Date.UTC(2025, 2, 3, 0);
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
let tdb: TelemetryDb;
before(async () => {
  tdb = await openTelemetryDb();
});
after(async () => {
  await tdb.store.close();
  await tdb.cleanup();
});

function open(): MetricStore {
  return createMetricStore({
    db: tdb.store.db,
    dialect: tdb.store.dialect,
    log: memoryLog().log,
    now: () => T0 + 4 * HOUR,
  });
}

interface Sample {
  t: number;
  v: number;
}

/**
 * Three hours of a gauge (2 decimals, jittered ~10 s interval) and a counter (a reset at a
 * minute's first sample), uploaded one minute per batch; a few batches arrive out of order.
 */
function generate(deviceId: string): {
  batches: ReturnType<typeof batch>[];
  gauge: Sample[];
  counter: Sample[];
} {
  const r = rng(7);
  const gauge: Sample[] = [];
  const counter: Sample[] = [];
  let g = 50;
  let c = 1_000_000;
  for (let i = 0; i < 3 * 360; i++) {
    const t = T0 + i * 10_000 + Math.floor(r() * 3000);
    g = Math.round((g + (r() - 0.5) * 2) * 100) / 100;
    c = i === 498 ? 70 : c + 100; // sample 498 is minute 83's first: the counter restarts
    gauge.push({ t, v: g });
    counter.push({ t: T0 + i * 10_000, v: c });
  }
  const batches: ReturnType<typeof batch>[] = [];
  for (let m = 0; m < 180; m++) {
    const pick = (s: Sample[]) =>
      s
        .filter((x) => x.t >= T0 + m * MIN && x.t < T0 + (m + 1) * MIN)
        .map((x) => [x.t, x.v] as [number, number]);
    batches.push(
      batch(
        deviceId,
        m + 1,
        [
          { name: "temperature_celsius", labels: { sensor: "cpu" }, points: pick(gauge) },
          { name: "net_rx_bytes_total", labels: { interface: "eth0" }, points: pick(counter) },
        ],
        { receivedAt: T0 + (m + 1) * MIN + 500 },
      ),
    );
  }
  // Out of order: minute 10's batch is uploaded after minute 12's (with a later seq).
  const [b10, b11, b12] = [batches[10]!, batches[11]!, batches[12]!];
  batches[10] = { ...b11, batch: { ...b11.batch, seq: 11 } };
  batches[11] = { ...b12, batch: { ...b12.batch, seq: 12 } };
  batches[12] = { ...b10, batch: { ...b10.batch, seq: 13 }, receivedAt: b12.receivedAt };
  return { batches, gauge, counter };
}

/** What a query must answer, computed straight from the samples. */
function expected(
  samples: Sample[],
  from: number,
  to: number,
  step: number,
  agg: MetricAgg,
): (number | null)[] {
  const n = Math.ceil((to - from) / step);
  const out: (number | null)[] = [];
  for (let b = 0; b < n; b++) {
    const lo = from + b * step;
    const hi = Math.min(lo + step, to);
    const inStep = samples.filter((s) => s.t >= lo && s.t < hi);
    if (agg === "rate") {
      const sorted = [...samples].sort((x, y) => x.t - y.t);
      let inc = 0;
      let span = 0;
      for (let i = 1; i < sorted.length; i++) {
        const s = sorted[i]!;
        if (s.t < lo || s.t >= hi) continue;
        const d = s.v - sorted[i - 1]!.v;
        inc += d >= 0 ? d : s.v;
        span += s.t - sorted[i - 1]!.t;
      }
      out.push(span > 0 ? (inc / span) * 1000 : null);
      continue;
    }
    if (inStep.length === 0) {
      out.push(null);
      continue;
    }
    const vs = inStep.map((s) => s.v);
    const sum = vs.reduce((a, v) => a + v, 0);
    const last = inStep.reduce((a, s) => (s.t >= a.t ? s : a));
    out.push(
      {
        avg: sum / vs.length,
        sum,
        min: Math.min(...vs),
        max: Math.max(...vs),
        count: vs.length,
        last: last.v,
      }[agg],
    );
  }
  return out;
}

function close(actual: (number | null)[], want: (number | null)[], what: string): void {
  assert.equal(actual.length, want.length, `${what}: steps`);
  for (let i = 0; i < want.length; i++) {
    const a = actual[i];
    const w = want[i];
    if (w === null || a === null || a === undefined) {
      assert.equal(a, w, `${what}[${i}]`);
      continue;
    }
    assert.ok(Math.abs(a - w) <= 1e-9 * Math.max(1, Math.abs(w)), `${what}[${i}]: ${a} != ${w}`);
  }
}

async function values(
  s: MetricStore,
  metric: string,
  from: number,
  to: number,
  stepMs: number,
  agg: MetricAgg,
) {
  const r = await s.range({ deviceIds: ["c1"], metric, from, to, stepMs, agg, limit: 10 });
  assert.equal(r.series.length, 1, `${metric}: one series`);
  return { resolution: r.resolution, points: r.series[0]!.points };
}

async function countRows(table: string, where = sql`1 = 1`): Promise<number> {
  const { rows } = await sql<{
    n: number;
  }>`select count(*) as n from ${sql.table(table)} where ${where}`.execute(tdb.store.db);
  return Number(rows[0]!.n);
}

test("every sample survives compaction, consolidation and expiry, and 1 min / 1 h steps answer like the raw samples at each stage", async () => {
  let s = open();
  const { batches, gauge, counter } = generate("c1");
  for (let i = 0; i < batches.length; i += 16) {
    const res = await s.ingest(batches.slice(i, i + 16), claim);
    assert.ok(res.every((x) => x !== "duplicate" && Object.keys(x.dropped).length === 0));
  }
  const from = T0;
  const to = T0 + 3 * HOUR;
  const everySample = async () => {
    const g = await values(s, "temperature_celsius", from, to, 1000, "last");
    assert.equal(g.resolution, "raw");
    assert.deepEqual(
      g.points.filter((p) => p[1] !== null),
      gauge.map((x) => [Math.floor((x.t - from) / 1000) * 1000 + from, x.v]),
    );
    const c = await values(s, "net_rx_bytes_total", from, to, 10_000, "count");
    assert.equal(
      c.points.reduce((a, p) => a + (p[1] ?? 0), 0),
      counter.length,
    );
  };
  const rollupsMatch = async (label: string, reference = gauge) => {
    for (const [step, resolution] of [
      [MIN, "1m"],
      [5 * MIN, "1m"],
      [HOUR, "1h"],
    ] as const) {
      for (const agg of ["avg", "min", "max", "last", "sum", "count"] as const) {
        const got = await values(s, "temperature_celsius", from, to, step, agg);
        assert.equal(got.resolution, resolution);
        close(
          got.points.map((p) => p[1]),
          expected(reference, from, to, step, agg),
          `${label} gauge ${agg}/${step}`,
        );
      }
      // A whole-minute query window: rates over rollups equal rates over raw samples.
      const rate = await values(s, "net_rx_bytes_total", from + HOUR, to, step, "rate");
      close(
        rate.points.map((p) => p[1]),
        expected(counter, from + HOUR, to, step, "rate"),
        `${label} counter rate/${step}`,
      );
      assert.ok(
        rate.points.every((p) => p[1] === null || p[1] >= 0),
        "a counter reset is no negative rate",
      );
    }
    const steady = await values(s, "net_rx_bytes_total", from + 90 * MIN, from + 2 * HOUR, MIN, "rate");
    assert.ok(
      steady.points.every((p) => p[1] === 10),
      `100 per 10 s is 10/s: ${JSON.stringify(steady.points)}`,
    );
  };

  await everySample();
  await rollupsMatch("before compaction");
  assert.equal(await countRows("metric_chunks"), 0);

  // Midway (cutoff at 100 min): the first hour is compacted, the rest still recent rows.
  const mid = await s.compact(T0 + 110 * MIN);
  assert.ok(mid.rows >= 59 && mid.rows <= 61, `compacted ${mid.rows} rows: the first hour`);
  assert.ok((await countRows("metric_recent")) > 0);
  await everySample();
  await rollupsMatch("midway");

  const all = await s.compact(T0 + 4 * HOUR);
  assert.equal(all.deleted, 0);
  assert.equal(await countRows("metric_recent"), 0);
  // One hour chunk per series per hour; no rollup yet (the day is not over, raw data is young).
  const tables = async () => [
    await countRows("metric_hour_chunks"),
    await countRows("metric_chunks"),
    await countRows("metric_rollups_1h", sql`res = ${HOUR}`),
    await countRows("metric_rollups", sql`res = ${MIN}`),
  ];
  assert.deepEqual(await tables(), [2 * 3, 0, 0, 0], "hour chunks, day chunks, 1 h rows, 1 min rows");
  await everySample();
  await rollupsMatch("after compaction");
  assert.deepEqual(await s.compact(T0 + 4 * HOUR), { rows: 0, chunks: 0, deleted: 0 }, "nothing twice");
  await s.close();

  // Late data: an hour-old sample into a compacted window merges into that window's hour chunk.
  s = open();
  const late = s;
  let seq = 500;
  const lateSample = async (t: number, v: number, receivedAt: number) => {
    const r = await late.ingest(
      [
        batch("c1", ++seq, [{ name: "temperature_celsius", labels: { sensor: "cpu" }, points: [[t, v]] }], {
          receivedAt,
        }),
      ],
      claim,
    );
    assert.deepEqual(r, [{ accepted: 1, dropped: {} }]);
  };
  let merged = [...gauge, { t: T0 + 30 * MIN + 1, v: 99.5 }];
  const lateMatch = async (what: string) => {
    for (const step of [MIN, HOUR]) {
      for (const agg of ["max", "count", "avg", "last"] as const) {
        const got = await values(late, "temperature_celsius", from, to, step, agg);
        close(
          got.points.map((p) => p[1]),
          expected(merged, from, to, step, agg),
          `${what} ${agg}/${step}`,
        );
      }
    }
  };
  await lateSample(T0 + 30 * MIN + 1, 99.5, T0 + 4 * HOUR);
  await late.compact(T0 + 5 * HOUR);
  assert.deepEqual(await tables(), [6, 0, 0, 0], "merged into the hour's chunk, not a new row");
  await lateMatch("late into an hour chunk");
  const raw = await values(late, "temperature_celsius", T0 + 30 * MIN, T0 + 31 * MIN, 1000, "max");
  assert.equal(raw.points[0]![1], 99.5);

  // The day is over: its hour chunks become one day chunk and 1-hour buckets per series.
  const day = await late.compact(T0 + DAY + 11 * MIN);
  assert.deepEqual(day, { rows: 0, chunks: 2, deleted: 0 });
  assert.deepEqual(await tables(), [0, 2, 2, 0], "one day chunk and one 1-hour row per series");
  gauge.splice(0, gauge.length, ...[...merged].sort((a, b) => a.t - b.t));
  await everySample();
  await rollupsMatch("after consolidation", merged);

  // Late data of a consolidated day merges into its day chunk and 1-hour buckets.
  merged = [...merged, { t: T0 + 90 * MIN + 2, v: 12.25 }];
  await lateSample(T0 + 90 * MIN + 2, 12.25, T0 + DAY + 20 * MIN);
  await late.compact(T0 + DAY + 2 * HOUR);
  assert.deepEqual(await tables(), [0, 2, 2, 0]);
  await lateMatch("late into a day chunk");

  // Raw data expires after 7 days: the day chunks become 1-minute buckets (downsampling at
  // expiry), and every 1-minute and 1-hour answer stays the same.
  const expiry = await late.compact(T0 + 8 * DAY + 2 * HOUR);
  assert.equal(expiry.deleted, 2, "two day chunks expired");
  assert.deepEqual(await tables(), [0, 0, 2, 2]);
  const gone = await values(late, "temperature_celsius", from, to, 1000, "count");
  assert.ok(
    gone.points.every((p) => p[1] === null),
    "no raw sample is left",
  );
  await rollupsMatch("after expiry", merged);
  await lateMatch("after expiry");

  // Late data of an expired day merges into its 1-minute and 1-hour buckets.
  merged = [...merged, { t: T0 + 100 * MIN + 3, v: 0.5 }];
  await lateSample(T0 + 100 * MIN + 3, 0.5, T0 + 8 * DAY + 3 * HOUR);
  await late.compact(T0 + 8 * DAY + 4 * HOUR);
  assert.deepEqual(await tables(), [0, 0, 2, 2]);
  await lateMatch("late into expired data");
  await late.close();
});

test("retention deletes raw samples after 7 days, 1-minute rollups after 30, 1-hour rollups after 400", async () => {
  const s = open();
  const t = T0 + 10 * DAY;
  const points: [number, number][] = Array.from({ length: 60 }, (_, i) => [t + i * 10_000, i]);
  await s.ingest([batch("ret", 1, [{ name: "load1", points }], { receivedAt: t + 11 * MIN })], claim);
  await s.compact(t + HOUR);
  const q = (stepMs: number) =>
    s
      .range({
        deviceIds: ["ret"],
        metric: "load1",
        from: t,
        to: t + 2 * HOUR,
        stepMs,
        agg: "count",
        limit: 1,
      })
      .then((r) => r.series[0]!.points.reduce((a, p) => a + (p[1] ?? 0), 0));
  assert.deepEqual([await q(10_000), await q(MIN), await q(HOUR)], [60, 60, 60]);
  const after8d = await s.compact(t + 8 * DAY);
  assert.equal(after8d.deleted, 1);
  assert.deepEqual([await q(10_000), await q(MIN), await q(HOUR)], [0, 60, 60]);
  await s.compact(t + 31 * DAY);
  assert.deepEqual([await q(10_000), await q(MIN), await q(HOUR)], [0, 0, 60]);
  await s.compact(t + 401 * DAY);
  assert.deepEqual([await q(10_000), await q(MIN), await q(HOUR)], [0, 0, 0]);
  // The series itself stays known (its name, no newest sample).
  const names = await s.names("ret");
  assert.deepEqual(
    names.map((n) => [n.name, n.lastAt]),
    [["load1", t + 590_000]],
  );
  await s.close();

  // A custom policy.
  const short = createMetricStore({
    db: tdb.store.db,
    dialect: tdb.store.dialect,
    log: memoryLog().log,
    retention: { rawMs: HOUR },
  });
  await short.ingest([batch("ret", 2, [{ name: "load1", points }], { receivedAt: t + 11 * MIN })], claim);
  const out = await short.compact(t + 3 * HOUR);
  assert.equal(out.deleted, 1, "raw kept one hour only");
  await short.close();
});

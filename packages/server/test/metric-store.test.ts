// @matrix: store
// The metric store's ingest (docs/protocol.md §14.3–14.4) on the real telemetry database:
// exactly once with the sequence claim (also across a failed transaction and a restart), the
// per-device series limit, bad names, labels, values and times dropped and counted, device
// clocks corrected by the skew, newest samples, names, fleet summary, listeners, dropDevice.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sql } from "kysely";
import { createMetricStore, type MetricStore } from "../src/capabilities/metrics/store/index.js";
import type { SeqClaim } from "../src/telemetry/index.js";
import { batch, claim, memoryLog, openTelemetryDb, type TelemetryDb } from "./metric-store-support.js";

const T0 = Date.UTC(2025, 0, 1, 12);
const MIN = 60_000;
let tdb: TelemetryDb;
before(async () => {
  tdb = await openTelemetryDb();
});
after(async () => {
  await tdb.store.close();
  await tdb.cleanup();
});

function store(o: { maxSeriesPerDevice?: number } = {}) {
  const { log, lines } = memoryLog();
  const s = createMetricStore({
    db: tdb.store.db,
    dialect: tdb.store.dialect,
    log,
    now: () => T0 + 5 * MIN,
    ...o,
  });
  return { s, lines };
}

async function rawValues(
  s: MetricStore,
  deviceId: string,
  metric: string,
  from = T0 - 10 * MIN,
  to = T0 + 10 * MIN,
) {
  const r = await s.range({ deviceIds: [deviceId], metric, from, to, stepMs: 1000, agg: "sum", limit: 100 });
  return r.series.map((x) => ({
    labels: x.labels,
    points: x.points.filter((p) => p[1] !== null),
  }));
}

test("each batch is stored exactly once: duplicates in a group, replays, a failed transaction, a restart", async () => {
  const { s } = store();
  const cpu = (t: number, v: number) => [
    { name: "cpu_usage_percent", points: [[t, v]] as [number, number][] },
  ];
  const first = await s.ingest([batch("d1", 1, cpu(T0, 10), { receivedAt: T0 })], claim);
  assert.deepEqual(first, [{ accepted: 1, dropped: {} }]);
  // A replay of seq 1, seq 2 twice in one group, and seq 3.
  const group = await s.ingest(
    [
      batch("d1", 1, cpu(T0, 99), { receivedAt: T0 + 1000 }),
      batch("d1", 2, cpu(T0 + 10_000, 20), { receivedAt: T0 + 10_000 }),
      batch("d1", 2, cpu(T0 + 10_000, 99), { receivedAt: T0 + 10_000 }),
      batch("d1", 3, cpu(T0 + 20_000, 30), { receivedAt: T0 + 20_000 }),
    ],
    claim,
  );
  assert.deepEqual(group, [
    "duplicate",
    { accepted: 1, dropped: {} },
    "duplicate",
    { accepted: 1, dropped: {} },
  ]);

  // The claim fails in the middle of a group: nothing of the group is stored, including its new series.
  let calls = 0;
  const failing: SeqClaim = async (trx, b) => {
    if (++calls === 2) throw new Error("database went away");
    return claim(trx, b);
  };
  const newSeries = [{ name: "brand_new_gauge", points: [[T0 + 30_000, 1]] as [number, number][] }];
  await assert.rejects(
    s.ingest(
      [
        batch("d1", 4, [...cpu(T0 + 30_000, 40), ...newSeries], { receivedAt: T0 + 30_000 }),
        batch("d1", 5, cpu(T0 + 40_000, 50), { receivedAt: T0 + 40_000 }),
      ],
      failing,
    ),
    /database went away/,
  );
  assert.deepEqual(
    (await s.names("d1")).map((n) => n.name),
    ["cpu_usage_percent"],
    "the failed group's new series is not registered",
  );
  // The agent retries the same batches: stored now, once.
  const retry = await s.ingest(
    [
      batch("d1", 4, [...cpu(T0 + 30_000, 40), ...newSeries], { receivedAt: T0 + 30_000 }),
      batch("d1", 5, cpu(T0 + 40_000, 50), { receivedAt: T0 + 40_000 }),
    ],
    claim,
  );
  assert.deepEqual(retry, [
    { accepted: 2, dropped: {} },
    { accepted: 1, dropped: {} },
  ]);
  const [series] = await rawValues(s, "d1", "cpu_usage_percent");
  assert.deepEqual(series!.points, [
    [T0, 10],
    [T0 + 10_000, 20],
    [T0 + 20_000, 30],
    [T0 + 30_000, 40],
    [T0 + 40_000, 50],
  ]);
  assert.equal(s.stats().samplesStored, 6);

  // A restart: a new store on the same database still refuses the replay and knows the series.
  await s.close();
  const { s: again } = store();
  assert.deepEqual(await again.ingest([batch("d1", 5, cpu(T0 + 40_000, 99))], claim), ["duplicate"]);
  const names = await again.names("d1");
  assert.deepEqual(
    names.map((n) => [n.name, n.lastAt, n.lastValue]),
    [
      ["brand_new_gauge", T0 + 30_000, 1],
      ["cpu_usage_percent", T0 + 40_000, 50],
    ],
  );
  await again.close();
});

test("the series limit drops and counts samples of new series, warns once, and keeps the known ones", async () => {
  const { s, lines } = store({ maxSeriesPerDevice: 5 });
  const wide = (n: number, t: number) =>
    Array.from({ length: n }, (_, i) => ({
      name: "app_queue_depth",
      labels: { queue: `q${i}` },
      points: [
        [t, i],
        [t + 1000, i],
      ] as [number, number][],
    }));
  const r1 = await s.ingest([batch("lim", 1, wide(8, T0), { receivedAt: T0 })], claim);
  assert.deepEqual(r1, [{ accepted: 10, dropped: { "series-limit": 6 } }]);
  // Again: the five known series still take samples; the three others are still dropped.
  const r2 = await s.ingest([batch("lim", 2, wide(8, T0 + 10_000), { receivedAt: T0 + 10_000 })], claim);
  assert.deepEqual(r2, [{ accepted: 10, dropped: { "series-limit": 6 } }]);
  const warnings = lines.filter((l) => l.level === "warn" && l.msg.includes("TETHER_ERR_SERIES_LIMIT"));
  assert.equal(warnings.length, 1, "one warning per device per minute, not one per sample");
  assert.equal(s.stats().seriesLimitDrops, 12);
  // Another device has its own limit.
  assert.deepEqual(await s.ingest([batch("lim2", 1, wide(3, T0), { receivedAt: T0 })], claim), [
    { accepted: 6, dropped: {} },
  ]);
  const stored = await rawValues(s, "lim", "app_queue_depth");
  assert.deepEqual(stored.map((x) => x.labels.queue).sort(), ["q0", "q1", "q2", "q3", "q4"]);
  assert.equal((await s.names("lim")).length, 5);
  await s.close();
});

test("bad names, labels, values and times are dropped and counted; the rest of the batch is stored", async () => {
  const { s } = store();
  const t = T0;
  const long = "x".repeat(257);
  const manyLabels = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`l${i}`, "v"]));
  const result = await s.ingest(
    [
      batch(
        "bad",
        1,
        [
          { name: "ok_gauge", labels: { b: "2", a: "1" }, points: [[t, 1]] },
          { name: "1starts_with_digit", points: [[t, 1]] },
          { name: "has-dash", points: [[t, 1]] },
          { name: "", points: [[t, 1]] },
          { name: "ok_gauge", labels: { "bad-label": "x" }, points: [[t, 1]] },
          { name: "ok_gauge", labels: { __reserved: "x" }, points: [[t, 1]] },
          { name: "ok_gauge", labels: { device: "spoofed" }, points: [[t, 1]] },
          {
            name: "ok_gauge",
            labels: { a: long },
            points: [
              [t, 1],
              [t + 1, 2],
            ],
          },
          { name: "ok_gauge", labels: { a: 5 as unknown as string }, points: [[t, 1]] },
          { name: "ok_gauge", labels: manyLabels, points: [[t, 1]] },
          {
            name: "values",
            points: [
              [t, "NaN"],
              [t, "+Inf"],
              [t, "-Inf"],
              [t, null],
              [t, "12"],
              [t, Number.NaN],
              [t, Number.POSITIVE_INFINITY],
              [t + 1, -0.5],
            ],
          },
          {
            name: "times",
            points: [
              [Date.UTC(1999, 11, 31), 1],
              [t + 11 * MIN, 2],
              [Number.NaN, 3],
              ["soon" as unknown as number, 4],
              [t + 9 * MIN, 5],
            ],
          },
          null as unknown as { name: string; points: [number, number][] },
        ],
        { receivedAt: t },
      ),
    ],
    claim,
  );
  assert.deepEqual(result, [
    {
      accepted: 3,
      dropped: { "bad-name": 3, "bad-label": 7, "invalid-value": 7, "bad-time": 4, malformed: 1 },
    },
  ]);
  const names = await s.names("bad");
  assert.deepEqual(
    names.map((n) => [n.name, n.labels, n.kind, n.lastValue]),
    [
      ["ok_gauge", { a: "1", b: "2" }, "gauge", 1],
      ["times", {}, "gauge", 5],
      ["values", {}, "gauge", -0.5],
    ],
  );
  // The same labels in another order are the same series.
  await s.ingest(
    [batch("bad", 2, [{ name: "ok_gauge", labels: { a: "1", b: "2" }, points: [[t + 1000, 7]] }])],
    claim,
  );
  const again = await rawValues(s, "bad", "ok_gauge");
  assert.equal(again.length, 1);
  assert.deepEqual(again[0]!.points, [
    [t, 1],
    [t + 1000, 7],
  ]);
  await s.close();
});

test("a device clock at 1970 is corrected by the batch's skew; counters are recognised by _total", async () => {
  const { s } = store();
  const deviceNow = 86_400_000; // 1970-01-02 on the robot
  const receivedAt = T0;
  const skewMs = receivedAt - deviceNow;
  const r = await s.ingest(
    [
      batch(
        "clock",
        1,
        [
          {
            name: "uptime_seconds",
            points: [
              [deviceNow - 10_000, 5],
              [deviceNow, 15],
            ],
          },
          { name: "net_rx_bytes_total", labels: { interface: "eth0" }, points: [[deviceNow, 1000]] },
          { name: "odd_counter", kind: "counter", points: [[deviceNow + 20 * MIN, 1]] },
        ],
        { receivedAt, skewMs },
      ),
    ],
    claim,
  );
  assert.deepEqual(
    r,
    [{ accepted: 3, dropped: { "bad-time": 1 } }],
    "even corrected, 20 min ahead is implausible",
  );
  const [up] = await rawValues(s, "clock", "uptime_seconds");
  assert.deepEqual(up!.points, [
    [T0 - 10_000, 5],
    [T0, 15],
  ]);
  const names = await s.names("clock");
  assert.deepEqual(
    names.map((n) => [n.name, n.kind]),
    [
      ["net_rx_bytes_total", "counter"],
      ["odd_counter", "counter"],
      ["uptime_seconds", "gauge"],
    ],
  );
  await s.close();
});

test("latest, summary and listeners: served from memory, rebuilt from the database after a restart", async () => {
  const { s } = store();
  const seen: { deviceId: string; points: [number, number][] }[] = [];
  const off = s.onStored((x) =>
    seen.push({ deviceId: x.deviceId, points: x.series.flatMap((y) => y.points) }),
  );
  const batches = [];
  for (let m = 0; m < 5; m++) {
    const t = T0 + m * MIN;
    batches.push(
      batch(
        "robot",
        m + 1,
        [
          { name: "cpu_usage_percent", points: [[t, 10 + m]] },
          { name: "temperature_celsius", labels: { sensor: "cpu" }, points: [[t, 40 + m]] },
          { name: "temperature_celsius", labels: { sensor: "gpu" }, points: [[t, 60 - m]] },
          { name: "battery_capacity_percent", labels: { battery: "BAT0" }, points: [[t, 90 - m]] },
          { name: "battery_capacity_percent", labels: { battery: "BAT1" }, points: [[t, 50 + m]] },
        ],
        { receivedAt: t + 500 },
      ),
    );
  }
  await s.ingest(batches, claim);
  assert.equal(seen.length, 5);
  assert.deepEqual(seen[0], {
    deviceId: "robot",
    points: [
      [T0, 10],
      [T0, 40],
      [T0, 60],
      [T0, 90],
      [T0, 50],
    ],
  });
  off();
  await s.ingest([batch("robot", 6, [{ name: "load1", points: [[T0, 1]] }])], claim);
  assert.equal(seen.length, 5, "an unsubscribed listener hears nothing");

  const latest = await s.latest({
    deviceIds: ["robot"],
    metric: "temperature_celsius",
    labels: { sensor: "gpu" },
  });
  assert.deepEqual(
    latest.map((l) => [l.name, l.labels, l.value, l.at, l.kind]),
    [["temperature_celsius", { sensor: "gpu" }, 56, T0 + 4 * MIN, "gauge"]],
  );
  const check = async (m: MetricStore) => {
    const [row] = await m.summary(["robot", "never-sent"], {
      now: T0 + 4 * MIN + 1000,
      sparks: ["cpu", "battery"],
    });
    assert.equal(row!.at, T0 + 4 * MIN);
    assert.deepEqual(row!.figures, { cpu: 14, memory: null, disk: null, temperature: 56, battery: 54 });
    const cpu = row!.spark.cpu!;
    assert.equal(cpu.length, 60);
    assert.deepEqual(cpu.slice(-5), [10, 11, 12, 13, 14]);
    assert.ok(cpu.slice(0, -5).every((v) => v === null));
    assert.deepEqual(
      row!.spark.battery!.slice(-5),
      [50, 51, 52, 53, 54],
      "battery: the lowest of the batteries",
    );
  };
  await check(s);
  const [none] = (await s.summary(["never-sent"])).map((x) => [x.at, x.figures.cpu]);
  assert.deepEqual(none, [null, null]);
  await s.close();

  // After a restart the caches are rebuilt: from recent rows, and from chunks once compacted.
  const { s: fresh } = store();
  await check(fresh);
  await fresh.compact(T0 + 2 * 60 * MIN);
  await fresh.close();
  const { s: compacted } = store();
  const after = await compacted.latest({ deviceIds: ["robot"], metric: "cpu_usage_percent" });
  assert.deepEqual(
    after.map((l) => [l.value, l.at]),
    [[14, T0 + 4 * MIN]],
  );
  await check(compacted);
  await compacted.close();
});

test("dropDevice forgets a device's series and every sample of it, and nothing of other devices", async () => {
  const { s } = store();
  for (const d of ["gone", "kept"]) {
    await s.ingest(
      [
        batch(
          d,
          1,
          [
            {
              name: "load1",
              points: [
                [T0 - 30 * MIN, 1],
                [T0, 2],
              ],
            },
          ],
          { receivedAt: T0 },
        ),
      ],
      claim,
    );
  }
  await s.compact(T0 + 2 * 60 * MIN);
  await s.ingest(
    [batch("gone", 2, [{ name: "load1", points: [[T0 + 1000, 3]] }], { receivedAt: T0 + 1000 })],
    claim,
  );
  await s.dropDevice("gone");
  assert.deepEqual(await s.names("gone"), []);
  assert.deepEqual(await rawValues(s, "gone", "load1", T0 - 60 * MIN), []);
  const db = tdb.store.db;
  const left = await sql<{ n: number }>`
    select count(*) as n from metric_series where device_id = ${"gone"}`.execute(db);
  assert.equal(Number(left.rows[0]!.n), 0);
  const kept = await rawValues(s, "kept", "load1", T0 - 60 * MIN);
  assert.deepEqual(kept[0]!.points, [
    [T0 - 30 * MIN, 1],
    [T0, 2],
  ]);
  await s.close();
});

test("bad range queries are refused with a clear error", async () => {
  const { s } = store();
  const q = { deviceIds: ["x"], metric: "load1", agg: "avg" as const, limit: 10 };
  await assert.rejects(s.range({ ...q, from: T0, to: T0, stepMs: 1000 }), { code: "TETHER_ERR_BAD_REQUEST" });
  await assert.rejects(s.range({ ...q, from: T0, to: T0 + 1000, stepMs: 0 }), {
    code: "TETHER_ERR_BAD_REQUEST",
  });
  await assert.rejects(s.range({ ...q, from: 0, to: T0, stepMs: 1000 }), /steps/);
  const r = await s.range({ ...q, from: T0, to: T0 + MIN, stepMs: 1000 });
  assert.deepEqual(r, { resolution: "raw", truncated: false, series: [] });
  await s.close();
});

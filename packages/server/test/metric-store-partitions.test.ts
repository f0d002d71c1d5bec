// @matrix: store
// Day partitions of the metric store on PostgreSQL (docs/protocol.md §14.5 "Storage"; skipped on
// SQLite, which keeps plain tables): compaction creates the days it writes and the next days
// ahead; rows land in their day's partition and queries span several; emptied raw days and
// rollup days wholly past retention are dropped, while the day retention is in only loses its
// expired rows (no answer holds data past retention); data from outside retention makes no
// partition and passes through the default partition; rows the default partition took move into
// their day when it is created; two stores creating the same days at once both succeed.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { MetricAgg } from "@tether/protocol";
import { sql } from "kysely";
import { createPartitions } from "../src/capabilities/metrics/store/partitions.js";
import {
  createMetricStore,
  DEFAULT_RETENTION,
  encodeChunk,
  type MetricStore,
} from "../src/capabilities/metrics/store/index.js";
import {
  batch,
  claim,
  memoryLog,
  openTelemetryDb,
  TEST_DB,
  type TelemetryDb,
} from "./metric-store-support.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const D0 = Date.UTC(2025, 2, 3);
const TABLES = ["metric_hour_chunks", "metric_chunks", "metric_rollups", "metric_rollups_1h"] as const;
type Table = (typeof TABLES)[number];

const skip = TEST_DB === "postgres" ? false : "PostgreSQL only: SQLite keeps plain tables";
let tdb: TelemetryDb;
before(async () => {
  if (!skip) tdb = await openTelemetryDb();
});
after(async () => {
  if (skip) return;
  await tdb.store.close();
  await tdb.cleanup();
});

/** `YYYYMMDD` of the day d days after D0. */
function dayTag(d: number, base = D0): string {
  return new Date(base + d * DAY).toISOString().slice(0, 10).replaceAll("-", "");
}

/** Day partitions of a table, by their date tag, sorted; whether it has its default partition. */
async function partitions(table: Table): Promise<{ days: string[]; hasDefault: boolean }> {
  const { rows } = await sql<{ name: string }>`
    select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
    where i.inhparent = ${table}::regclass order by 1`.execute(tdb.store.db);
  const names = rows.map((r) => r.name);
  return {
    days: names.filter((n) => n !== `${table}_default`).map((n) => n.slice(`${table}_p`.length)),
    hasDefault: names.includes(`${table}_default`),
  };
}

/** Rows of a table per partition (date tag, or "default"). */
async function rowsPer(table: Table): Promise<Record<string, number>> {
  const { rows } = await sql<{ p: string; n: string }>`
    select tableoid::regclass::text as p, count(*) as n from ${sql.table(table)} group by 1`.execute(
    tdb.store.db,
  );
  const out: Record<string, number> = {};
  for (const r of rows)
    out[r.p === `${table}_default` ? "default" : r.p.slice(`${table}_p`.length)] = Number(r.n);
  return out;
}

async function count(s: MetricStore, deviceId: string, from: number, to: number, stepMs: number) {
  const r = await s.range({
    deviceIds: [deviceId],
    metric: "load1",
    from,
    to,
    stepMs,
    agg: "count",
    limit: 5,
  });
  return r.series.reduce((a, x) => a + x.points.reduce((b, p) => b + (p[1] ?? 0), 0), 0);
}

async function values(
  s: MetricStore,
  deviceId: string,
  from: number,
  to: number,
  stepMs: number,
  agg: MetricAgg,
) {
  const r = await s.range({ deviceIds: [deviceId], metric: "load1", from, to, stepMs, agg, limit: 5 });
  return r.series[0]!.points.filter((p) => p[1] !== null);
}

/** One batch per hour of load1 samples every 10 minutes over [from, to), uploaded a minute after each hour. */
function hourly(deviceId: string, from: number, to: number, seq0: number) {
  const out = [];
  let seq = seq0;
  for (let h = from; h < to; h += HOUR) {
    const points: [number, number][] = [];
    for (let t = h; t < Math.min(h + HOUR, to); t += 10 * MIN) points.push([t, (t - D0) / HOUR]);
    out.push(batch(deviceId, ++seq, [{ name: "load1", points }], { receivedAt: h + HOUR + MIN }));
  }
  return out;
}

test("days get partitions ahead and as written, rows land in them, queries span them, retention drops whole days", {
  skip,
}, async () => {
  let clock = D0 + 2 * DAY + 6 * HOUR;
  const s = createMetricStore({
    db: tdb.store.db,
    dialect: "postgres",
    log: memoryLog().log,
    now: () => clock,
  });
  for (const t of TABLES) assert.ok((await partitions(t)).hasDefault, `${t} is partitioned with a default`);

  // "p1" reports from D0 20:00 to D0+2 04:00 (192 samples over three days); "early" only D0+1 00:00–02:00.
  await s.ingest(hourly("p1", D0 + 20 * HOUR, D0 + 2 * DAY + 4 * HOUR, 0), claim);
  await s.ingest(hourly("early", D0 + DAY, D0 + DAY + 2 * HOUR, 0), claim);
  const span = [D0, D0 + 3 * DAY] as const;
  const all = async (deviceId: string) => [
    await count(s, deviceId, ...span, 30_000),
    await count(s, deviceId, ...span, MIN),
    await count(s, deviceId, ...span, HOUR),
  ];
  assert.deepEqual(await all("p1"), [192, 192, 192]);

  // D0 and D0+1 are over: consolidated into day chunks and 1-hour buckets; D0+2 in hour chunks.
  await s.compact(clock);
  assert.deepEqual(
    (await partitions("metric_hour_chunks")).days,
    [dayTag(2), dayTag(3)],
    "days emptied are dropped",
  );
  for (const t of ["metric_chunks", "metric_rollups_1h"] as const) {
    assert.deepEqual((await partitions(t)).days, [dayTag(0), dayTag(1), dayTag(2), dayTag(3)], t);
    assert.deepEqual(await rowsPer(t), { [dayTag(0)]: 1, [dayTag(1)]: 2 }, `${t}: rows in their days`);
  }
  assert.deepEqual(await rowsPer("metric_hour_chunks"), { [dayTag(2)]: 4 });
  // 1-minute buckets are written when raw data expires: the days expiring next are made ahead.
  assert.deepEqual((await partitions("metric_rollups")).days, [dayTag(-5), dayTag(-4)]);
  assert.deepEqual(
    await all("p1"),
    [192, 192, 192],
    "a query spans day chunks, hour chunks and their partitions",
  );
  assert.deepEqual(await all("early"), [12, 12, 12]);
  assert.deepEqual((await values(s, "p1", D0 + 23 * HOUR, D0 + 25 * HOUR, HOUR, "max")).length, 2);

  // Raw data of D0..D0+2 expires into 1-minute buckets (their days' partitions are made as
  // written); the emptied raw days are dropped.
  clock = D0 + 9 * DAY + 12 * HOUR;
  const expiry = await s.compact(clock);
  assert.equal(expiry.deleted, 4, "four day chunks expired");
  assert.deepEqual(await rowsPer("metric_chunks"), {});
  // D0+2 and D0+3 (made ahead) are empty too but not yet past raw retention; D0+8..10 are ahead.
  assert.deepEqual((await partitions("metric_chunks")).days, [
    dayTag(2),
    dayTag(3),
    dayTag(8),
    dayTag(9),
    dayTag(10),
  ]);
  assert.deepEqual((await partitions("metric_hour_chunks")).days, [dayTag(9), dayTag(10)]);
  assert.deepEqual(await rowsPer("metric_rollups"), { [dayTag(0)]: 1, [dayTag(1)]: 2, [dayTag(2)]: 1 });
  assert.deepEqual(await all("p1"), [0, 192, 192]);

  // The 1-minute retention (30 days) reaches D0+1 12:00: D0's partition is dropped whole (its row
  // counted), D0+1 keeps the row still inside retention and loses "early"'s, which ended at 01:50.
  clock = D0 + 31 * DAY + 12 * HOUR;
  const minute = await s.compact(clock);
  assert.equal(minute.deleted, 2, "one row in a dropped partition, one deleted");
  const kept = (await partitions("metric_rollups")).days;
  assert.ok(!kept.includes(dayTag(0)) && kept.includes(dayTag(1)), `D0 dropped, D0+1 kept: ${kept}`);
  assert.deepEqual(await rowsPer("metric_rollups"), { [dayTag(1)]: 1, [dayTag(2)]: 1 });
  assert.deepEqual(await all("early"), [0, 0, 12], "no 1-minute answer past retention");
  assert.deepEqual(await all("p1"), [0, 168, 192]);

  // The 1-hour retention (400 days) passes D0+1: its partitions go, D0+2's stays.
  clock = D0 + 402 * DAY;
  await s.compact(clock);
  const hours = (await partitions("metric_rollups_1h")).days;
  assert.ok(
    !hours.includes(dayTag(0)) && !hours.includes(dayTag(1)) && hours.includes(dayTag(2)),
    `${hours}`,
  );
  assert.deepEqual(await rowsPer("metric_rollups_1h"), { [dayTag(2)]: 1 });
  assert.deepEqual(await all("p1"), [0, 0, 24]);
  assert.deepEqual(await all("early"), [0, 0, 0]);
  // No partition is left behind beyond what retention keeps plus the days ahead.
  for (const t of TABLES) {
    const { days } = await partitions(t);
    assert.ok(days.length <= 3 || t === "metric_rollups_1h", `${t}: ${days}`);
  }
  await s.close();
});

test("rows outside retention make no partition; the default partition takes a day without one until it is created; racing creators both succeed", {
  skip,
}, async () => {
  const now = D0 + 600 * DAY + 6 * HOUR;
  const base = D0 + 600 * DAY;
  const { log, lines } = memoryLog();
  const s = createMetricStore({ db: tdb.store.db, dialect: "postgres", log, now: () => now });
  // 20 days old (past raw retention, within the 1-minute one), and from 2001 (past every retention).
  const old = base - 20 * DAY;
  const ancient = Date.UTC(2001, 0, 1);
  await s.ingest(hourly("old", old, old + 2 * HOUR, 0), claim);
  await s.ingest(
    [batch("old", 100, [{ name: "load1", points: [[ancient, 1]] }], { receivedAt: now })],
    claim,
  );
  await s.compact(now);
  const oldTag = dayTag(-20, base);
  assert.ok(
    !(await partitions("metric_hour_chunks")).days.includes(oldTag),
    "no raw partition past raw retention",
  );
  assert.ok(!(await partitions("metric_chunks")).days.includes(oldTag));
  assert.ok((await partitions("metric_rollups")).days.includes(oldTag), "its 1-minute buckets' day is kept");
  for (const t of TABLES) {
    assert.ok(!(await partitions(t)).days.some((d) => d.startsWith("2001")), `${t}: no partition of 2001`);
    assert.equal((await rowsPer(t)).default, undefined, `${t}: the default partition is empty again`);
  }
  assert.equal(await count(s, "old", old, old + DAY, MIN), 12, "the old samples are in 1-minute buckets");
  assert.equal(await count(s, "old", ancient, ancient + DAY, HOUR), 0, "the 2001 sample is past retention");

  // A day chunk stored while its day had no partition (e.g. its creation timed out) is in the
  // default partition, readable; the next pass creates the day and moves it in.
  const later = now + 50 * DAY;
  const yesterday = base + 49 * DAY;
  const { rows } = await sql<{ id: number }>`
    select id from metric_series where device_id = 'old' and name = 'load1'`.execute(tdb.store.db);
  const sid = rows[0]!.id;
  await sql`insert into metric_chunks (series_id, t_start, t_end, n, data)
    values (${sid}, ${yesterday}, ${yesterday + 1000}, 2, ${encodeChunk([yesterday, yesterday + 1000], [5, 6], 2)})`.execute(
    tdb.store.db,
  );
  assert.deepEqual(
    await rowsPer("metric_chunks"),
    { default: 1 },
    "a write without its partition does not fail",
  );
  assert.equal(await count(s, "old", yesterday, yesterday + HOUR, 1000), 2);
  await s.compact(later);
  assert.deepEqual(await rowsPer("metric_chunks"), { [dayTag(49, base)]: 1 }, "moved into its day");
  assert.equal(await count(s, "old", yesterday, yesterday + HOUR, 1000), 2);
  await s.close();

  // Two stores (or servers) make the same days at once: both succeed, each day exists once.
  const farther = later + 30 * DAY;
  const a = createPartitions({ db: tdb.store.db, dialect: "postgres", log, retention: DEFAULT_RETENTION });
  const b = createPartitions({ db: tdb.store.db, dialect: "postgres", log, retention: DEFAULT_RETENTION });
  await Promise.all([a.ahead(farther), b.ahead(farther), a.ensurer(farther)("metric_rollups_1h", [farther])]);
  const today = new Date(farther).toISOString().slice(0, 10).replaceAll("-", "");
  for (const t of ["metric_hour_chunks", "metric_chunks", "metric_rollups_1h"] as const) {
    assert.equal((await partitions(t)).days.filter((d) => d === today).length, 1, t);
  }
  assert.deepEqual(
    lines.filter((l) => l.level === "warn" || l.level === "error"),
    [],
    "no creation failed or was skipped",
  );
});

test("a database from before partitioning (plain tables) keeps working, with one warning", {
  skip,
}, async () => {
  const plain = await openTelemetryDb();
  try {
    // The 1-hour table as unreleased builds made it on PostgreSQL.
    await sql`drop table metric_rollups_1h`.execute(plain.store.db);
    await sql`create table metric_rollups_1h (id bigint generated by default as identity primary key,
      series_id integer not null, res integer not null, t_start bigint not null, t_end bigint not null,
      n integer not null, data bytea not null)`.execute(plain.store.db);
    await sql`create unique index metric_rollups_1h_key on metric_rollups_1h (series_id, res, t_start)`.execute(
      plain.store.db,
    );
    const at = D0 + 402 * DAY + 6 * HOUR;
    const base = D0 + 402 * DAY;
    const { log, lines } = memoryLog();
    const s = createMetricStore({ db: plain.store.db, dialect: "postgres", log, now: () => at });
    await s.ingest(hourly("m", base - DAY, base + 2 * HOUR, 0), claim);
    await s.compact(at);
    await s.compact(at + HOUR);
    assert.equal(await count(s, "m", base - DAY, base + DAY, HOUR), 26 * 6);
    const warns = lines.filter((l) => l.level === "warn");
    assert.equal(warns.length, 1, JSON.stringify(warns));
    assert.deepEqual((warns[0]!.obj as { plain: string[] }).plain, ["metric_rollups_1h"]);
    await s.close();
  } finally {
    await plain.store.close();
    await plain.cleanup();
  }
});

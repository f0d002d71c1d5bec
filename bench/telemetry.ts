/**
 * Telemetry benchmark (npm run bench:telemetry; issue 11 "Benchmark"). One run measures each
 * row beside an anchor measured in the same run (the machine is shared: absolute times move,
 * ratios hold better):
 *  - ingest: N (1,000) simulated devices, which reported one interval each before (their
 *    series are known), upload the buffers of an outage (K intervals each,
 *    one interval of 500 series per batch, from ./telemetry/generator.ts) over HTTPS to a
 *    server in its own process, C (64) uploads in flight; samples/s counted as accepted,
 *    checked stored and queryable; beside a raw insert of the same samples, one row per
 *    sample, into an unindexed table of the same database, same pragmas, same transaction
 *    size. SQLite, then PostgreSQL (a fresh database on 127.0.0.1:5432) when reachable.
 *  - storage: bytes per stored sample, rollups included, after a simulated day of a fleet fed
 *    to the metric store (./telemetry/storage-day.ts); anchor: bytes per sample of the raw
 *    one-row-per-sample table of the ingest row.
 *  - agent footprint: CPU seconds and peak RSS of a real `tether agent` over W (300 s; 60 s
 *    with --quick) at the default interval, beside prometheus-node-exporter scraped by curl
 *    at the same interval (./telemetry/footprint.ts).
 *  - freshness: sample taken on the agent → queryable through the REST API, p50/p99; anchor:
 *    the polling request's own round trip (the resolution of the observation).
 *  - range query: 24 h of one metric at 1 min step for one device, and the fleet summary of
 *    the N devices, p50 over HTTPS; anchor: GET /healthz, interleaved.
 * Prints one markdown table (row, figure, anchor, ratio, goal, met?) and notes on stdout;
 * writes bench/results/telemetry.json.
 * Env: BENCH_DEVICES (1000), BENCH_OUTAGE_INTERVALS (10), BENCH_CONCURRENCY (64),
 * BENCH_SERIES (500), BENCH_STORAGE_DEVICES (5), BENCH_STORAGE_SERIES (500),
 * BENCH_STORAGE_HOURS (24), BENCH_FOOTPRINT_S (300), BENCH_QUERY_ITER (50),
 * BENCH_PG_URL (postgres://postgres@127.0.0.1:5432/postgres: where a fresh database is
 * created; "off" skips PostgreSQL), BENCH_ROWS (comma list of rows to run: ingest, storage,
 * agent, and pg for the PostgreSQL side of ingest and storage; default all), BENCH_AGENT_BIN=installed (measure packages/cli/bin/tether.js).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { freshPgDatabase as freshPg } from "./lib/pg.js";
import { fmt, fmtInt, Report } from "./lib/report.js";
import { env, git, progress, QUICK, ROOT, spawnChild, summarize } from "./lib/util.js";
import { agentFootprint, type Footprint } from "./telemetry/footprint.js";
import { type IngestResult, ingestRun } from "./telemetry/ingest.js";

const N = env("BENCH_DEVICES", 1000);
const K = env("BENCH_OUTAGE_INTERVALS", QUICK ? 4 : 10);
const C = env("BENCH_CONCURRENCY", 64);
const SERIES = env("BENCH_SERIES", 500);
const ST_DEVICES = env("BENCH_STORAGE_DEVICES", QUICK ? 2 : 5);
const ST_SERIES = env("BENCH_STORAGE_SERIES", 500);
const ST_HOURS = env("BENCH_STORAGE_HOURS", QUICK ? 3 : 24);
const FOOTPRINT_S = env("BENCH_FOOTPRINT_S", QUICK ? 60 : 300);
const QUERY_ITER = env("BENCH_QUERY_ITER", QUICK ? 20 : 50);
const PG_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const ROWS = new Set((process.env.BENCH_ROWS ?? "ingest,pg,storage,agent").split(","));

const tmpRoot = mkdtempSync(join(tmpdir(), "tether-bench-telemetry-"));
const freshPgDatabase = (tag: string) => freshPg(PG_URL, tag);
const results: Record<string, any> = {
  startedAt: new Date().toISOString(),
  commit: git(["rev-parse", "--short", "HEAD"]),
  uncommitted: git(["status", "--porcelain", "--", "packages"]).split("\n").filter(Boolean),
  quick: QUICK,
  cores: cpus().length,
  config: { devices: N, outageIntervals: K, concurrency: C, series: SERIES },
};

async function storageRun(label: string, database?: string) {
  progress(
    `storage ${label}: a simulated ${ST_HOURS} h of ${ST_DEVICES} devices × ${ST_SERIES} series, 10 s apart, through the metric store's ingest`,
  );
  const child = spawnChild(`day-${label}`, join(ROOT, "bench/telemetry/storage-day.ts"), [
    JSON.stringify({
      dataDir: join(tmpRoot, `day-${label}`),
      database,
      devices: ST_DEVICES,
      series: ST_SERIES,
      hours: ST_HOURS,
      intervalMs: 10_000,
      compactEveryMs: 60_000,
    }),
  ]);
  child.on((e) => {
    if (e.ev === "progress")
      progress(
        `storage ${label}: ${e.done}/${e.of} intervals, ${e.accepted} samples, ${e.elapsedS.toFixed(0)} s`,
      );
  });
  const r = await child.wait((e) => e.ev === "done", "simulated day", 4 * 3_600_000);
  await child.stop();
  progress(
    `storage ${label}: ${r.samples} samples, ${r.bytes} bytes = ${r.bytesPerSample.toFixed(3)} bytes/sample (${r.wallS.toFixed(0)} s: ingest ${r.ingestS.toFixed(0)} s, compaction ${r.compactS.toFixed(0)} s)`,
  );
  return r;
}

async function main() {
  const report = new Report();
  let sqlite: IngestResult | null = null;
  let pgIngest: IngestResult | null = null;
  let stSqlite: any = null;
  let stPg: any = null;
  let fp: Footprint | null = null;
  const failures = report.failures;
  const attempt = <T>(name: string, fn: () => Promise<T>) => report.attempt(name, fn);

  if (ROWS.has("ingest"))
    sqlite = await attempt("ingest sqlite", () =>
      ingestRun({
        tmpRoot,
        label: "sqlite",
        devices: N,
        intervals: K,
        series: SERIES,
        concurrency: C,
        rowsPerStatement: 1,
        queries: { iterations: QUERY_ITER },
      }),
    );
  if (ROWS.has("pg") && ROWS.has("ingest")) {
    const db = await freshPgDatabase("ingest");
    if (db) {
      pgIngest = await attempt("ingest postgres", () =>
        ingestRun({
          tmpRoot,
          label: "postgres",
          database: db.url,
          devices: N,
          intervals: K,
          series: SERIES,
          concurrency: C,
          rowsPerStatement: 1,
        }),
      );
      await db.drop();
    }
  }
  if (ROWS.has("storage")) {
    stSqlite = await attempt("storage sqlite", () => storageRun("sqlite"));
    if (ROWS.has("pg")) {
      const db = await freshPgDatabase("storage");
      if (db) {
        stPg = await attempt("storage postgres", () => storageRun("postgres", db.url));
        await db.drop();
      }
    }
  }
  if (ROWS.has("agent")) fp = await attempt("agent footprint", () => agentFootprint(tmpRoot, FOOTPRINT_S));

  // ------------------------------------------------------------------ the table
  const row = report.row.bind(report);
  const missing = report.missing.bind(report);

  for (const [label, r] of [
    ["SQLite", sqlite],
    ["PostgreSQL", pgIngest],
  ] as const) {
    if (!r) {
      missing(
        `ingest ${label} (samples/s)`,
        failures[`ingest ${label === "SQLite" ? "sqlite" : "postgres"}`] ? "failed (see notes)" : "skipped",
      );
      continue;
    }
    const ratio = r.rate / r.raw.rate;
    const complete =
      r.accepted === r.sent &&
      (r.stored === null || r.stored === r.sent) &&
      r.queryable === r.expectedQueryable;
    row(
      `ingest ${label}: ${N} devices × ${K} intervals × ${SERIES} series over HTTPS, ${C} in flight (samples/s)`,
      fmtInt(r.rate),
      `raw insert ${fmtInt(r.raw.rate)}`,
      ratio,
      label === "SQLite" ? "≥ 0.5× raw, aim ≥ 200,000/s" : "(printed)",
      label === "SQLite" ? ratio >= 0.5 && r.rate >= 200_000 && complete : null,
    );
    row(
      `  … every sample stored and queryable (${label})`,
      `${fmtInt(r.accepted)} accepted${
        Object.keys(r.uploads.dropped).length
          ? ` (dropped ${Object.entries(r.uploads.dropped)
              .map(([k, v]) => `${k} ${fmtInt(v)}`)
              .join(", ")})`
          : ""
      }, ${fmtInt(r.stored)} stored, ${fmtInt(r.queryable)}/${fmtInt(r.expectedQueryable)} cpu samples queryable`,
      `${fmtInt(r.sent)} sent`,
      null,
      "all",
      complete,
    );
  }
  for (const [label, r, raw] of [
    ["SQLite", stSqlite, sqlite],
    ["PostgreSQL", stPg, pgIngest],
  ] as const) {
    if (!r) {
      missing(`storage ${label} (bytes/sample)`, "skipped or failed (see notes)");
      continue;
    }
    const anchor = raw ? raw.raw.bytes / raw.raw.samples : Number.NaN;
    const full = r.detail?.bytesAfterVacuumFull;
    row(
      `storage ${label}: ${r.devices} devices × ${r.series} series × ${ST_HOURS} h, rollups included (bytes/sample)`,
      full
        ? `${fmt(r.bytesPerSample, 3)} (${fmt(full / r.samples, 3)} after VACUUM FULL)`
        : fmt(r.bytesPerSample, 3),
      `raw table ${fmt(anchor, 1)}`,
      Number.isFinite(anchor) ? r.bytesPerSample / anchor : null,
      "≤ 2",
      r.bytesPerSample <= 2,
    );
  }
  if (fp) {
    const e = fp.exporter;
    row(
      `agent CPU over ${fmt(fp.windowS, 0)} s at ${fp.intervalS} s interval (s)`,
      fmt(fp.agent.cpuS),
      e ? `node_exporter ${fmt(e.cpuS)}` : "node_exporter not installed",
      e ? fp.agent.cpuS / e.cpuS : null,
      "≤ node_exporter",
      e ? fp.agent.cpuS <= e.cpuS : null,
    );
    row(
      "agent peak RSS (MB)",
      fmt(fp.agent.hwmKiB / 1024, 1),
      e ? `node_exporter ${fmt(e.hwmKiB / 1024, 1)}` : "n/a",
      e ? fp.agent.hwmKiB / e.hwmKiB : null,
      "< 80 MB",
      fp.agent.hwmKiB / 1024 < 80,
    );
    const f = summarize(fp.freshnessMs);
    const poll = 50;
    row(
      `freshness p50, sample on the agent → queryable (ms; ${f.n} samples)`,
      fmt(f.p50, 0),
      `poll step ${poll} (resolution)`,
      f.p50 / poll,
      "",
      null,
    );
    row(
      `freshness p99 (ms; ${f.n} samples)`,
      fmt(f.p99, 0),
      `poll step ${poll}`,
      f.p99 / poll,
      "≤ 2,000 ms",
      f.n > 0 && f.p99 <= 2000,
    );
  } else {
    missing("agent footprint / freshness", failures["agent footprint"] ? "failed (see notes)" : "skipped");
  }
  const q = sqlite?.queries;
  if (q) {
    row(
      `range query: 24 h of cpu_usage_percent at 1 min step, one device, p50 (ms; ${q.range.nonNull}/${q.range.points} points with data, ${q.range.resolution})`,
      fmt(q.range.p50, 1),
      `GET /healthz ${fmt(q.health.p50, 1)}`,
      q.range.p50 / q.health.p50,
      "≤ 50 ms",
      q.range.p50 <= 50 && q.range.nonNull >= 1400,
    );
    row(
      `fleet summary of ${q.summary.devices} devices, p50 (ms)`,
      fmt(q.summary.p50, 1),
      `GET /healthz ${fmt(q.health.p50, 1)}`,
      q.summary.p50 / q.health.p50,
      "≤ 50 ms",
      q.summary.p50 <= 50 && q.summary.devices >= N,
    );
  } else missing("range query / fleet summary", "needs the SQLite ingest row (see notes)");

  const notes = [
    `ingest: every device reported one interval before the outage (not timed), so its series are known; each batch is one 10 s interval of one device (${SERIES} series from bench/telemetry/generator.ts, gzip JSON); batches of one device go in sequence order, ${C} uploads in flight across devices; rate = samples accepted / (first upload → last answer). Raw anchor: better-sqlite3, WAL + synchronous NORMAL (Tether's pragmas), prepared single-row INSERT, transactions of the server's measured samples per group commit (SQLite ${sqlite?.samplesPerTransaction ?? "n/a"}, PostgreSQL ${pgIngest?.samplesPerTransaction ?? "n/a"}); PostgreSQL: INSERT … SELECT unnest(…) over 10 connections (the server's pool size).`,
    `storage: ${ST_DEVICES} devices × ${ST_SERIES} series × ${ST_HOURS} h of device time (${stSqlite ? fmtInt(stSqlite.samples) : "n/a"} samples) through the metric store's ingest with compaction every simulated minute, then everything compacted; SQLite (page_count − freelist_count) × page_size of telemetry.db, PostgreSQL pg_total_relation_size of metric_* and telemetry_streams/gaps as left (a plain VACUUM of metric_recent once per simulated hour, which autovacuum does at least as often in real time; met? is judged on this), and after VACUUM FULL. Anchor: the raw one-row-per-sample table of the ingest row, bytes per sample. Took ${stSqlite ? fmt(stSqlite.wallS, 0) : "n/a"} s on SQLite${stPg ? `, ${fmt(stPg.wallS, 0)} s on PostgreSQL` : ""}; the issue's 100 devices × 500 series × 24 h (432 M samples) would take ≈ ${stSqlite ? fmt((stSqlite.wallS * 432e6) / stSqlite.samples / 60, 0) : "n/a"} min at that rate.`,
    fp
      ? `agent: ${fp.agentBin}; ${fp.seriesReported} series; CPU = utime+stime over the window after its first upload (whole life ${fmt(fp.agent.cpuTotalS)} s); peak RSS = VmHWM. node_exporter: ${fp.exporter ? `${fp.exporter.scrapes} curl scrapes` : "absent"}. Freshness: GET /api/v1/devices/bench-agent/metrics every 50 ms; now − lastAt of cpu_usage_percent when it changes.`
      : "",
    q
      ? `queries: after the ingest run (device sim-0000 also holds 24 h backfilled through ingest, compacted once before timing), ${QUERY_ITER} interleaved rounds after 3 warm-up, over HTTPS keep-alive with the admin token.`
      : "",
  ];
  Object.assign(results, {
    ingest: { sqlite, postgres: pgIngest },
    storage: { sqlite: stSqlite, postgres: stPg },
    footprint: fp && { ...fp, freshness: summarize(fp.freshnessMs) },
  });
  report.finish("telemetry", notes, results, QUICK);
}

try {
  await main();
} finally {
  rmSync(tmpRoot, { recursive: true, force: true });
}
process.exit(0);

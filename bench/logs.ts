/**
 * Device logs and alerts benchmark (npm run bench:logs; issue 12 "Benchmark"). One run measures
 * each row beside an anchor measured in the same run (the machine is shared: absolute times
 * move, ratios hold better):
 *  - ingest: N (1,000) simulated devices, each with its own telemetry token, upload K batches
 *    of L log lines (./logs/lines.ts: 100–200 bytes, a word mix, rare words) over HTTPS to a
 *    server in its own process, C (64) in flight; lines/s counted only once searchable (the
 *    last batch's marker word found through GET /api/v1/logs, ≤ 2 s after its receipt); beside
 *    a raw insert of the same lines into a copy of the store's table + full-text index made from
 *    its migration, and into the bare table, same database, pragmas and lines per transaction
 *    as the server's group commit (./logs/ingest.ts, ./logs/raw-insert.ts). SQLite, then
 *    PostgreSQL (a fresh database) when reachable.
 *  - search: p50 of GET /api/v1/logs?q=TERM&limit=100 over M (10 M; 1 M with --quick) stored
 *    lines for a rare term (1 line in 10⁶) and a common one (1 in 100); the lines are filled
 *    through the log store's own ingest into the telemetry database before the measured server
 *    starts (./logs/fill.ts). Anchor: GET /healthz, interleaved.
 *  - tail: a line appended to a file a real `tether agent --follow-log` follows → received by
 *    an SSE client of /api/v1/logs/stream, p99 (./logs/tail.ts). Anchor: GET /healthz.
 *  - alert: the crossing sample's upload → the webhook request at a local receiver, minus the
 *    rule's for-duration (0 and 2 s), p99 (./logs/alert.ts). Anchor: the upload's round trip.
 * Prints one markdown table (row, figure, anchor, ratio, goal, met?) and notes on stdout;
 * writes bench/results/logs.json.
 * Env: BENCH_ROWS (comma list of ingest, search, tail, alert; default all), BENCH_DEVICES
 * (1000), BENCH_LOG_BATCHES (batches per device: 10; 3 with --quick), BENCH_LINES_PER_BATCH
 * (200), BENCH_CONCURRENCY (64), BENCH_RAW_CONNS (PostgreSQL anchor connections: 1, like the
 * store's one writer), BENCH_LOG_LINES (10,000,000; 1,000,000 with --quick), BENCH_SEARCH_DEVICES
 * (100), BENCH_QUERY_ITER (30; 15), BENCH_TAIL_LINES (500; 200), BENCH_TAIL_GAP_MS (50),
 * BENCH_ALERTS (alerts per for-duration: 20; 10), BENCH_ALERT_FOR_MS ("0,2000"), BENCH_PG_URL
 * (postgres://postgres@127.0.0.1:5432/postgres: where a fresh database is created; "off" skips
 * PostgreSQL), BENCH_AGENT_BIN=installed (run packages/cli/bin/tether.js as the agent).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { type AlertResult, alertRun } from "./logs/alert.js";
import { type LogIngestResult, logIngestRun } from "./logs/ingest.js";
import { COMMON_TERM, RARE_TERM } from "./logs/lines.js";
import { type SearchResult, searchRun } from "./logs/search.js";
import { type TailResult, tailRun } from "./logs/tail.js";
import { freshPgDatabase } from "./lib/pg.js";
import { fmt, fmtInt, Report } from "./lib/report.js";
import { env, git, progress, QUICK } from "./lib/util.js";

const N = env("BENCH_DEVICES", 1000);
const K = env("BENCH_LOG_BATCHES", QUICK ? 3 : 10);
const L = env("BENCH_LINES_PER_BATCH", 200);
const C = env("BENCH_CONCURRENCY", 64);
const RAW_CONNS = env("BENCH_RAW_CONNS", 1);
const LINES = env("BENCH_LOG_LINES", QUICK ? 1_000_000 : 10_000_000);
const SEARCH_DEVICES = env("BENCH_SEARCH_DEVICES", 100);
const QUERY_ITER = env("BENCH_QUERY_ITER", QUICK ? 15 : 30);
const TAIL_LINES = env("BENCH_TAIL_LINES", QUICK ? 200 : 500);
const TAIL_GAP_MS = env("BENCH_TAIL_GAP_MS", 50);
const ALERTS = env("BENCH_ALERTS", QUICK ? 10 : 20);
const ALERT_FOR = (process.env.BENCH_ALERT_FOR_MS ?? "0,2000").split(",").map(Number);
const PG_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const ROWS = new Set((process.env.BENCH_ROWS ?? "ingest,search,tail,alert").split(",").map((s) => s.trim()));
for (const r of ROWS)
  if (!["ingest", "search", "tail", "alert"].includes(r))
    throw new Error(`BENCH_ROWS: unknown row ${r} (ingest, search, tail, alert)`);
/** The stores keep every line of the run: size retention (1 GiB per project by default) must not bite. */
const SERVER_CONFIG = { logs: { maxBytesPerProject: 1024 ** 4 } };

const tmpRoot = mkdtempSync(join(tmpdir(), "tether-bench-logs-"));
const results: Record<string, any> = {
  startedAt: new Date().toISOString(),
  commit: git(["rev-parse", "--short", "HEAD"]),
  uncommitted: git(["status", "--porcelain", "--", "packages"]).split("\n").filter(Boolean),
  quick: QUICK,
  cores: cpus().length,
  config: {
    devices: N,
    batchesPerDevice: K,
    linesPerBatch: L,
    concurrency: C,
    rawConns: RAW_CONNS,
    searchLines: LINES,
    searchDevices: SEARCH_DEVICES,
    queryIterations: QUERY_ITER,
    tailLines: TAIL_LINES,
    tailGapMs: TAIL_GAP_MS,
    alertsPerFor: ALERTS,
    alertForMs: ALERT_FOR,
  },
};

async function main() {
  const report = new Report();
  const failures = report.failures;
  const attempt = <T>(name: string, fn: () => Promise<T>) => report.attempt(name, fn, 3000);
  const ingestOpts = {
    tmpRoot,
    devices: N,
    batches: K,
    linesPerBatch: L,
    concurrency: C,
    rawConns: RAW_CONNS,
    config: SERVER_CONFIG,
  };
  let sqlite: LogIngestResult | null = null;
  let pgIngest: LogIngestResult | null = null;
  let search: SearchResult | null = null;
  let tail: TailResult | null = null;
  let alert: AlertResult | null = null;
  let pgSkipped = PG_URL === "off" ? "BENCH_PG_URL=off" : "";
  if (ROWS.has("ingest")) {
    sqlite = await attempt("ingest sqlite", () => logIngestRun({ ...ingestOpts, label: "sqlite" }));
    const db = await freshPgDatabase(PG_URL, "logs");
    if (db) {
      try {
        pgIngest = await attempt("ingest postgres", () =>
          logIngestRun({ ...ingestOpts, label: "postgres", database: db.url }),
        );
      } finally {
        await db.drop().catch((err) => progress(`could not drop the PostgreSQL database: ${err}`));
      }
    } else pgSkipped ||= "PostgreSQL not reachable";
  }
  if (ROWS.has("search"))
    search = await attempt("search", () =>
      searchRun({
        tmpRoot,
        lines: LINES,
        devices: SEARCH_DEVICES,
        iterations: QUERY_ITER,
        config: SERVER_CONFIG,
      }),
    );
  if (ROWS.has("tail")) tail = await attempt("tail", () => tailRun(tmpRoot, TAIL_LINES, TAIL_GAP_MS));
  if (ROWS.has("alert")) alert = await attempt("alert", () => alertRun(tmpRoot, ALERT_FOR, ALERTS));

  // ------------------------------------------------------------------ the table
  const row = report.row.bind(report);
  const missing = (name: string, key: string, skipped = "skipped (BENCH_ROWS)") =>
    report.missing(name, failures[key] ? "FAILED (see notes)" : skipped);

  for (const [label, key, r] of [
    ["SQLite", "ingest sqlite", sqlite],
    ["PostgreSQL", "ingest postgres", pgIngest],
  ] as const) {
    const name = `ingest ${label}: ${fmtInt(N)} devices × ${K} batches × ${L} lines over HTTPS, ${C} in flight, searchable (lines/s)`;
    if (!r) {
      missing(name, key, label === "PostgreSQL" && ROWS.has("ingest") ? pgSkipped || "skipped" : undefined);
      continue;
    }
    const ratio = r.rate / r.indexed.rate;
    const complete = r.accepted === r.sent && r.stored === r.sent;
    const fresh = r.receiptToSearchable !== null && r.receiptToSearchable <= 2000;
    row(
      name,
      fmtInt(r.rate),
      `raw insert + FTS ${fmtInt(r.indexed.rate)}`,
      ratio,
      "≥ 0.5× raw",
      ratio >= 0.5 && complete && fresh,
    );
    row(
      `  … raw insert without any index (${label}, lines/s)`,
      fmtInt(r.plain.rate),
      `raw insert + FTS ${fmtInt(r.indexed.rate)}`,
      r.plain.rate / r.indexed.rate,
      "(printed)",
      null,
    );
    row(
      `  … every line stored; the last batch searchable after its receipt (${label})`,
      `${fmtInt(r.accepted)} accepted, ${fmtInt(r.stored)} stored; searchable ${fmtInt(r.receiptToSearchable)} ms after receipt`,
      `${fmtInt(r.sent)} sent`,
      null,
      "all, ≤ 2,000 ms",
      complete && fresh,
    );
  }
  if (search) {
    for (const [k, term, every] of [
      ["rare", RARE_TERM, "1 line in 10⁶"],
      ["common", COMMON_TERM, "1 line in 100"],
    ] as const) {
      const s = search[k];
      row(
        `search p50, ${k} term "${term}" (${every}), newest 100 of ${fmtInt(search.lines)} lines (ms; ${s.found}/${s.expected} found${s.partial ? ", PARTIAL page" : ""})`,
        fmt(s.p50, 1),
        `GET /healthz ${fmt(search.health.p50, 1)}`,
        s.p50 / search.health.p50,
        "≤ 100 ms",
        s.p50 <= 100 && s.found === s.expected && !s.partial,
      );
    }
  } else missing("search p50 (rare and common term)", "search");
  if (tail) {
    row(
      `live tail p99, line appended to a followed file → SSE client (ms; ${tail.received}/${tail.written} lines)`,
      fmt(tail.latency.p99, 0),
      `GET /healthz p50 ${fmt(tail.health.p50, 1)}`,
      tail.latency.p99 / tail.health.p50,
      "≤ 1,000 ms",
      tail.latency.p99 <= 1000 && tail.received === tail.written && tail.received >= 200,
    );
  } else missing("live tail p99", "tail");
  if (alert) {
    for (const b of alert.byFor)
      row(
        `alert p99, crossing sample → webhook request, beyond for ${fmt(b.forMs / 1000, 0)} s (ms; ${b.latency.n} alerts)`,
        fmt(b.latency.p99, 0),
        `upload round trip p50 ${fmt(b.upload.p50, 1)}`,
        b.latency.p99 / b.upload.p50,
        "≤ 2,000 ms",
        b.latency.p99 <= 2000,
      );
    row(
      `alert p99, all for-durations (ms; ${alert.all.n} alerts)`,
      fmt(alert.all.p99, 0),
      `upload round trip p50 ${fmt(alert.upload.p50, 1)}`,
      alert.all.p99 / alert.upload.p50,
      "≤ 2,000 ms",
      alert.all.n >= 20 && alert.all.p99 <= 2000,
    );
  } else missing("alert p99", "alert");

  const ing = sqlite ?? pgIngest;
  const notes = [
    ing
      ? `ingest: each batch is one device's ${L} lines of a 10 s interval (bench/logs/lines.ts, gzip JSON), a device's batches in sequence order, ${C} uploads in flight across devices; rate = lines accepted / (first upload → the last answered batch's marker word found by GET /api/v1/logs?q=…); upload p50/p99 ${fmt(ing.uploadP50, 0)}/${fmt(ing.uploadP99, 0)} ms (${ing.label}). Anchors, after the server stopped: the same lines by better-sqlite3 (Tether's telemetry pragmas: WAL, synchronous NORMAL) with a prepared one-row INSERT into a copy of log_lines + its indexes + the FTS5 table and triggers, DDL taken from what the store's migration left in sqlite_master; and into the bare table; transactions of the server's lines per group commit (SQLite ${sqlite?.linesPerTransaction ?? "n/a"}, PostgreSQL ${pgIngest?.linesPerTransaction ?? "n/a"}); PostgreSQL: the migration run in a schema of its own, INSERT … SELECT unnest(…) over ${RAW_CONNS} connection(s) (the store has one writer); unindexed = that copy with its indexes and tsvector column dropped.`
      : "",
    search
      ? `search: ${fmtInt(search.lines)} lines over ${SEARCH_DEVICES} devices filled before the measured server started, through the log store's own ingest (its inserts, FTS triggers and byte count in the same transactions; 100,000 lines a transaction; sequence claim skipped) at ${fmtInt(search.fill.rate)} lines/s (${fmt(search.fill.ms / 1000, 0)} s); receipt times over the last 20 h (the search's default window is 24 h). ${QUERY_ITER} interleaved rounds after 3 warm-up, HTTPS keep-alive, admin token; every answer checked (each line holds the term, newest first). p90: rare ${fmt(search.rare.p90, 1)} ms, common ${fmt(search.common.p90, 1)} ms.`
      : "",
    tail
      ? `tail: ${tail.agentBin}, \`--follow-log FILE --no-journal\`; ${tail.written} lines appended ${TAIL_GAP_MS} ms apart after a warm-up line came through; SSE client of /api/v1/logs/stream?device=…; latency = event arrival − write (one clock); p50 ${fmt(tail.latency.p50, 0)} ms, max ${fmt(tail.latency.max, 0)} ms; ${tail.duplicates} duplicate events.`
      : "",
    alert
      ? `alert: one metric rule per for-duration (bench_level_f<F> > 50 for F, webhook to a node:http receiver on 127.0.0.1), ${ALERTS} rounds each: upload a crossing sample (metrics batch, device token), wait for the firing request, upload 10, wait for the resolved request. Latency = firing request arrival − the crossing upload's send − F (includes the upload itself). p50: ${alert.byFor.map((b) => `for ${b.forMs} ms ${fmt(b.latency.p50, 0)} ms`).join(", ")}; resolve (non-crossing upload → resolved request) p50 ${alert.byFor.map((b) => fmt(b.resolve.p50, 0)).join("/")} ms.`
      : "",
  ];
  Object.assign(results, { ingest: { sqlite, postgres: pgIngest }, search, tail, alert });
  report.finish("logs", notes, results, QUICK);
}

// Ctrl-C / SIGTERM: children are stopped by the rows' finally blocks only on a normal exit;
// on a signal, remove the temporary directory and let the children's stdin close end them.
for (const sig of ["SIGINT", "SIGTERM"] as const)
  process.once(sig, () => {
    rmSync(tmpRoot, { recursive: true, force: true });
    process.exit(130);
  });

try {
  await main();
} finally {
  rmSync(tmpRoot, { recursive: true, force: true });
}
process.exit(0);

/**
 * The ingest row of bench:telemetry (and, on the SQLite server, the range-query rows, which
 * need its 1,000 devices): a server in its own process with N simulated devices (accepted,
 * with telemetry tokens); N devices upload the buffer an outage left them with (K collection
 * intervals each, one interval = one batch of 500 series) over HTTPS with C uploads in flight;
 * samples/s from the first upload to the last answer. Then the samples are checked stored
 * (the store's counter) and queryable (a count over the outage window through the REST API).
 * Beside it, in the same run, the raw anchor (./raw-insert.ts) on the same database, with the
 * server's own transaction size (samples per group commit, from the layer's counters).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Child, progress, ROOT, spawnChild, summarize } from "../lib/util.js";
import { makeApi } from "./http.js";

export interface IngestOptions {
  tmpRoot: string;
  label: string;
  /** PostgreSQL URL, or undefined for SQLite (the server's own files). */
  database?: string;
  devices: number;
  intervals: number;
  series: number;
  concurrency: number;
  rowsPerStatement: number;
  /** Also backfill 24 h of device 0 and time the range query and the fleet summary. */
  queries?: { iterations: number };
}

export interface IngestResult {
  label: string;
  sent: number;
  accepted: number;
  stored: number | null;
  queryable: number;
  expectedQueryable: number;
  ms: number;
  rate: number;
  uploads: {
    p50: number;
    p99: number;
    retries: number;
    errors: Record<string, number>;
    dropped: Record<string, number>;
  };
  transactions: number | null;
  samplesPerTransaction: number;
  raw: { rate: number; ms: number; samples: number; transactions: number; bytes: number; txSamples: number };
  queries?: QueryResult;
}

export interface QueryResult {
  range: ReturnType<typeof summarize> & { points: number; nonNull: number; resolution: string };
  summary: ReturnType<typeof summarize> & { devices: number; withFigures: number };
  health: ReturnType<typeof summarize>;
  compactMs: number;
}

const INTERVAL_MS = 10_000;

/**
 * An uploader child (./uploader.ts) from "prepared" to "done": progress lines, then its done
 * event (throws on "failed"); the child is stopped.
 */
export async function runUploader(
  up: Child,
  label: string,
  unit: string,
  concurrency: number,
  timeoutMs: number,
): Promise<any> {
  try {
    const prep = await up.wait((e) => e.ev === "prepared", "batches prepared", 600_000);
    progress(
      `${label}: ${prep.batches} batches, ${prep.samples} ${unit}, ${(prep.bytes / prep.batches / 1024).toFixed(1)} KiB gzip each; uploading with ${concurrency} in flight`,
    );
    up.on((e) => {
      if (e.ev === "progress") progress(`${label}: ${e.done}/${prep.batches} batches`);
    });
    up.send("go");
    const done = await up.wait((e) => e.ev === "done" || e.ev === "failed", "uploads done", timeoutMs);
    if (done.ev === "failed") throw new Error(`uploads failed: ${done.message}`);
    return done;
  } finally {
    await up.stop();
  }
}

export async function ingestRun(o: IngestOptions): Promise<IngestResult> {
  const dir = join(o.tmpRoot, `ingest-${o.label}`);
  const tokensFile = join(dir, "tokens.json");
  progress(`ingest ${o.label}: server (child) with ${o.devices} simulated devices; waiting for their tokens`);
  const server = spawnChild(`srv-${o.label}`, join(ROOT, "bench/telemetry/server-child.ts"), [
    JSON.stringify({ dataDir: join(dir, "server"), database: o.database, devices: o.devices, tokensFile }),
  ]);
  let serverStopped = false;
  try {
    const ready = await server.wait((e) => e.ev === "ready", "server ready", 300_000);
    const caFile = join(dir, "ca.pem");
    writeFileSync(caFile, ready.ca);
    const endAt = Date.now();
    const outageStart = endAt - (o.intervals - 1) * INTERVAL_MS;
    const base = { tokensFile, url: ready.url, caFile, intervalMs: INTERVAL_MS, series: o.series };
    const backfillBatches = o.queries ? Math.ceil(8640 / 60) : 0;

    if (o.queries) {
      progress(`ingest ${o.label}: backfilling 24 h of device sim-0000 (8,640 intervals, 60 per batch)`);
      const bf = spawnChild("backfill", join(ROOT, "bench/telemetry/uploader.ts"), [
        JSON.stringify({
          ...base,
          first: 0,
          count: 1,
          intervals: 8640,
          perBatch: 60,
          endAt: outageStart - INTERVAL_MS,
          seqStart: 1,
          concurrency: 1,
        }),
      ]);
      await bf.wait((e) => e.ev === "prepared", "backfill prepared", 300_000);
      bf.send("go");
      const r = await bf.wait((e) => e.ev === "done" || e.ev === "failed", "backfill uploaded", 600_000);
      await bf.stop();
      const droppedN = Object.values(r.dropped ?? {}).reduce((x: number, y) => x + Number(y), 0);
      if (r.ev === "failed" || r.accepted + droppedN !== r.samples || r.accepted === 0)
        throw new Error(`backfill: ${JSON.stringify(r).slice(0, 500)}`);
    }

    // Before the outage the devices were reporting: each one's series are known to the server
    // (one interval each, not timed), so the timed run is the catch-up, not first contact.
    const warmFirst = o.queries ? 1 : 0;
    if (o.devices > warmFirst) {
      progress(`ingest ${o.label}: one interval from each device before the outage (not timed)`);
      const warm = spawnChild("warm-up", join(ROOT, "bench/telemetry/uploader.ts"), [
        JSON.stringify({
          ...base,
          first: warmFirst,
          count: o.devices - warmFirst,
          intervals: 1,
          perBatch: 1,
          endAt: outageStart - INTERVAL_MS,
          seqStart: 1,
          concurrency: o.concurrency,
        }),
      ]);
      await warm.wait((e) => e.ev === "prepared", "warm-up prepared", 300_000);
      warm.send("go");
      const w = await warm.wait((e) => e.ev === "done" || e.ev === "failed", "warm-up uploaded", 600_000);
      await warm.stop();
      if (w.ev === "failed") throw new Error(`warm-up: ${JSON.stringify(w).slice(0, 500)}`);
    }

    server.send("stats");
    const before = await server.wait((e) => e.ev === "stats", "stats");
    progress(
      `ingest ${o.label}: generating ${o.devices} × ${o.intervals} batches of ${o.series} series (not timed)`,
    );
    const up = spawnChild(`up-${o.label}`, join(ROOT, "bench/telemetry/uploader.ts"), [
      JSON.stringify({
        ...base,
        first: 0,
        count: o.devices,
        intervals: o.intervals,
        perBatch: 1,
        endAt,
        seqStart: 2,
        seqStarts: backfillBatches ? { 0: backfillBatches + 1 } : undefined,
        concurrency: o.concurrency,
      }),
    ]);
    const done = await runUploader(up, `ingest ${o.label}`, "samples", o.concurrency, 1_800_000);
    const rate = (done.accepted / done.ms) * 1000;
    progress(
      `ingest ${o.label}: ${done.accepted}/${done.samples} samples accepted in ${(done.ms / 1000).toFixed(1)} s = ${Math.round(rate)} samples/s; errors ${JSON.stringify(done.errors)}`,
    );
    server.send("stats");
    const after = await server.wait((e) => e.ev === "stats", "stats");
    const stored =
      after.metrics && before.metrics
        ? Number(after.metrics.samplesStored) - Number(before.metrics.samplesStored)
        : null;
    const groups =
      after.telemetry?.groupCommits !== undefined
        ? Number(after.telemetry.groupCommits) - Number(before.telemetry?.groupCommits ?? 0)
        : null;
    const batchesTx = groups ? done.batches / groups : 1;
    const samplesPerTransaction = Math.max(1, Math.round(batchesTx * o.series));

    // Queryable: a count of cpu_usage_percent over the outage window, every device (one per interval).
    const api = makeApi(ready.url, ready.ca, ready.adminToken);
    // Steps of one interval: the outage's samples fall in steps after the backfill's last one.
    const since = new Date(outageStart - 60_000).toISOString();
    const until = new Date(endAt + 60_000).toISOString();
    const q = await api.get(
      `/api/v1/metrics/query?metric=cpu_usage_percent&since=${since}&until=${until}&step=10s&agg=count&limit=1000`,
    );
    let queryable = 0;
    if (q.status === 200) {
      for (const s of q.body.series)
        for (const [t, v] of s.points) if (t > outageStart - INTERVAL_MS && t <= endAt) queryable += v ?? 0;
    } else
      progress(`ingest ${o.label}: count query answered ${q.status} ${JSON.stringify(q.body).slice(0, 300)}`);
    const expectedQueryable = o.devices * o.intervals;
    progress(
      `ingest ${o.label}: stored ${stored}; cpu_usage_percent samples queryable ${queryable}/${expectedQueryable}`,
    );

    let queries: QueryResult | undefined;
    if (o.queries) queries = await timeQueries(api, server, o.queries.iterations);
    api.close();
    await server.stop();
    serverStopped = true;

    const dbUrl = o.database ?? `sqlite:${join(dir, "server", "telemetry.db")}`;
    progress(
      `ingest ${o.label}: raw anchor, one row per sample into an unindexed table of the same database, ${samplesPerTransaction} samples per transaction`,
    );
    const raw = spawnChild(`raw-${o.label}`, join(ROOT, "bench/telemetry/raw-insert.ts"), [
      JSON.stringify({
        db: dbUrl,
        devices: o.devices,
        intervals: o.intervals,
        series: o.series,
        txSamples: samplesPerTransaction,
        endAt,
        intervalMs: INTERVAL_MS,
        rowsPerStatement: o.rowsPerStatement,
        conns: 10,
      }),
    ]);
    const rr = await raw.wait((e) => e.ev === "done", "raw insert", 1_800_000);
    await raw.stop();
    progress(`ingest ${o.label}: raw ${Math.round(rr.rate)} samples/s`);
    return {
      label: o.label,
      sent: done.samples,
      accepted: done.accepted,
      stored,
      queryable,
      expectedQueryable,
      ms: done.ms,
      rate,
      uploads: {
        p50: done.p50,
        p99: done.p99,
        retries: done.retries,
        errors: done.errors,
        dropped: done.dropped,
      },
      transactions: groups,
      samplesPerTransaction,
      raw: {
        rate: rr.rate,
        ms: rr.ms,
        samples: rr.samples,
        transactions: rr.transactions,
        bytes: rr.bytes,
        txSamples: samplesPerTransaction,
      },
      queries,
    };
  } finally {
    if (!serverStopped) await server.stop();
  }
}

/** p50 of the range query, the fleet summary and /healthz, interleaved round by round. */
async function timeQueries(
  api: ReturnType<typeof makeApi>,
  server: ReturnType<typeof spawnChild>,
  iterations: number,
): Promise<QueryResult> {
  progress("queries: compacting (as the server's timer does)");
  server.send("compact");
  const c = await server.wait((e) => e.ev === "compacted" || e.ev === "error", "compaction", 600_000);
  if (c.ev === "error") progress(`queries: compaction failed: ${c.message}`);
  const rangePath = "/api/v1/metrics/query?device=sim-0000&metric=cpu_usage_percent&since=24h&step=1m";
  const summaryPath = "/api/v1/metrics/summary";
  const first = await api.get(rangePath);
  if (first.status !== 200)
    throw new Error(`range query: ${first.status} ${JSON.stringify(first.body).slice(0, 300)}`);
  const pts: [number, number | null][] = first.body.series[0]?.points ?? [];
  const s0 = await api.get(summaryPath);
  if (s0.status !== 200) throw new Error(`summary: ${s0.status} ${JSON.stringify(s0.body).slice(0, 300)}`);
  const rows: { figures: Record<string, number | null> }[] = s0.body.devices;
  progress(
    `queries: range ${pts.length} points (${pts.filter((p) => p[1] !== null).length} with data, resolution ${first.body.resolution}); summary ${rows.length} devices; ${iterations} rounds`,
  );
  const range: number[] = [];
  const summary: number[] = [];
  const health: number[] = [];
  for (let i = 0; i < iterations + 3; i++) {
    const a = await api.get(rangePath);
    const b = await api.get(summaryPath);
    const h = await api.get("/healthz");
    if (a.status !== 200 || b.status !== 200 || h.status !== 200) throw new Error("a timed query failed");
    if (i < 3) continue; // warm-up
    range.push(a.ms);
    summary.push(b.ms);
    health.push(h.ms);
  }
  return {
    range: {
      ...summarize(range),
      points: pts.length,
      nonNull: pts.filter((p) => p[1] !== null).length,
      resolution: first.body.resolution,
    },
    summary: {
      ...summarize(summary),
      devices: rows.length,
      withFigures: rows.filter((r) => Object.values(r.figures).some((v) => v !== null)).length,
    },
    health: summarize(health),
    compactMs: c.ms ?? Number.NaN,
  };
}

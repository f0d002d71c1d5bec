/**
 * The ingest row of bench:logs: a server in its own process (../telemetry/server-child.ts) with
 * N simulated devices holding telemetry tokens; each uploads K batches of L log lines
 * (./lines.ts) over HTTPS with its own token, C uploads in flight (../telemetry/uploader.ts,
 * stream "logs"). Lines count only once searchable: after the last answer, the marker word of
 * the batch answered last is searched through GET /api/v1/logs until found (its receipt → found
 * must be ≤ 2 s); rate = lines accepted / (first upload → that moment). Then, the server
 * stopped, the anchors (./raw-insert.ts): the same lines into a copy of the store's table with
 * its full-text index, and into the bare table, in the same database, transactions of the
 * server's lines per group commit.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { progress, ROOT, sleep, spawnChild } from "../lib/util.js";
import { makeApi } from "../telemetry/http.js";
import { runUploader } from "../telemetry/ingest.js";

export interface LogIngestOptions {
  tmpRoot: string;
  label: string;
  /** PostgreSQL URL, or undefined for SQLite (the server's telemetry.db). */
  database?: string;
  devices: number;
  batches: number;
  linesPerBatch: number;
  concurrency: number;
  /** PostgreSQL anchor connections. */
  rawConns: number;
  config: Record<string, unknown>;
}

export interface Timed {
  ms: number;
  rate: number;
  transactions: number;
}

export interface LogIngestResult {
  label: string;
  sent: number;
  accepted: number;
  stored: number;
  dropped: Record<string, number>;
  errors: Record<string, number>;
  uploadP50: number;
  uploadP99: number;
  /** First upload → last answer, and → the last batch found by search. */
  uploadMs: number;
  searchableMs: number;
  /** The last batch's receipt (its line's receivedAt) → found by search, ms. */
  receiptToSearchable: number | null;
  rate: number;
  linesPerTransaction: number;
  groupCommits: number | null;
  indexed: Timed;
  plain: Timed;
}

const INTERVAL_MS = 10_000;

export async function logIngestRun(o: LogIngestOptions): Promise<LogIngestResult> {
  const dir = join(o.tmpRoot, `ingest-${o.label}`);
  const tokensFile = join(dir, "tokens.json");
  progress(`ingest ${o.label}: server (child) with ${o.devices} simulated devices; waiting for their tokens`);
  const server = spawnChild(`srv-${o.label}`, join(ROOT, "bench/telemetry/server-child.ts"), [
    JSON.stringify({
      dataDir: join(dir, "server"),
      database: o.database,
      devices: o.devices,
      tokensFile,
      config: o.config,
    }),
  ]);
  let serverStopped = false;
  try {
    const ready = await server.wait((e) => e.ev === "ready", "server ready", 300_000);
    const caFile = join(dir, "ca.pem");
    writeFileSync(caFile, ready.ca);
    const endAt = Date.now();
    server.send("stats");
    const before = await server.wait((e) => e.ev === "stats", "stats");
    progress(
      `ingest ${o.label}: generating ${o.devices} × ${o.batches} batches of ${o.linesPerBatch} lines (not timed)`,
    );
    const up = spawnChild(`up-${o.label}`, join(ROOT, "bench/telemetry/uploader.ts"), [
      JSON.stringify({
        tokensFile,
        url: ready.url,
        caFile,
        first: 0,
        count: o.devices,
        intervals: o.batches,
        perBatch: 1,
        intervalMs: INTERVAL_MS,
        endAt,
        seqStart: 1,
        series: o.linesPerBatch,
        concurrency: o.concurrency,
        stream: "logs",
      }),
    ]);
    const done = await runUploader(up, `ingest ${o.label}`, "lines", o.concurrency, 3_600_000);
    progress(
      `ingest ${o.label}: ${done.accepted}/${done.samples} lines accepted in ${(done.ms / 1000).toFixed(1)} s; errors ${JSON.stringify(done.errors)}; searching for ${done.lastMarker}`,
    );

    // Searchable: the last answered batch's marker word, through the REST search.
    const api = makeApi(ready.url, ready.ca, ready.adminToken);
    let found: any = null;
    let foundAt = 0;
    const deadline = Date.now() + 60_000;
    while (!found && Date.now() < deadline) {
      const r = await api.get(`/api/v1/logs?q=${encodeURIComponent(done.lastMarker)}&limit=1`);
      if (r.status === 200 && r.body.lines.length > 0) {
        found = r.body.lines[0];
        foundAt = Date.now();
      } else if (r.status !== 200) {
        throw new Error(`search answered ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
      } else await sleep(20);
    }
    api.close();
    if (!found) throw new Error(`the last batch's marker ${done.lastMarker} was not found within 60 s`);
    const receiptToSearchable = found.receivedAt ? foundAt - found.receivedAt : null;
    progress(
      `ingest ${o.label}: last batch found by search ${foundAt - done.lastAnswerAt} ms after its answer (${receiptToSearchable} ms after its receipt)`,
    );

    server.send("stats");
    const after = await server.wait((e) => e.ev === "stats", "stats");
    const groups =
      after.telemetry?.groupCommits !== undefined
        ? Number(after.telemetry.groupCommits) - Number(before.telemetry?.groupCommits ?? 0)
        : null;
    const linesPerTransaction = Math.max(
      1,
      Math.round(groups ? (done.batches / groups) * o.linesPerBatch : o.linesPerBatch),
    );
    await server.stop();
    serverStopped = true;

    const dbUrl = o.database ?? `sqlite:${join(dir, "server", "telemetry.db")}`;
    progress(
      `ingest ${o.label}: anchors: the same lines into a copy of the store's table + full-text index, then into the bare table, ${linesPerTransaction} lines per transaction`,
    );
    const raw = spawnChild(`raw-${o.label}`, join(ROOT, "bench/logs/raw-insert.ts"), [
      JSON.stringify({
        db: dbUrl,
        tokensFile,
        devices: o.devices,
        intervals: o.batches,
        perBatch: o.linesPerBatch,
        endAt,
        intervalMs: INTERVAL_MS,
        txLines: linesPerTransaction,
        conns: o.rawConns,
      }),
    ]);
    const rr = await raw.wait((e) => e.ev === "done", "raw insert", 3_600_000);
    await raw.stop();
    const searchableMs = foundAt - done.startedAt;
    const rate = (done.accepted / searchableMs) * 1000;
    progress(
      `ingest ${o.label}: ${Math.round(rate)} lines/s searchable; raw indexed ${Math.round(rr.indexed.rate)}/s, unindexed ${Math.round(rr.plain.rate)}/s; ${rr.stored} stored`,
    );
    return {
      label: o.label,
      sent: done.samples,
      accepted: done.accepted,
      stored: rr.stored,
      dropped: done.dropped,
      errors: done.errors,
      uploadP50: done.p50,
      uploadP99: done.p99,
      uploadMs: done.ms,
      searchableMs,
      receiptToSearchable,
      rate,
      linesPerTransaction,
      groupCommits: groups,
      indexed: rr.indexed,
      plain: rr.plain,
    };
  } finally {
    if (!serverStopped) await server.stop();
  }
}

/**
 * The ingest row's anchors (bench:logs), in a process of its own, after the measured server
 * stopped: the same lines the simulated devices uploaded (./lines.ts, same devices, batches and
 * order) inserted straight into the same database, in transactions of the server's measured
 * lines per group commit:
 *  - indexed: a copy of the log store's table with its indexes and full-text index, made from
 *    the store's own migration (SQLite: the DDL the migration left in sqlite_master — table,
 *    indexes, FTS5 table, triggers — renamed bench_raw_*; PostgreSQL: the migration run in a
 *    schema of its own, bench_raw, so the generated tsvector column and GIN index are the same);
 *  - plain: the same table without any index (SQLite: the table's DDL alone; PostgreSQL: the
 *    migrated copy with its indexes and tsvector column dropped).
 * SQLite: better-sqlite3 with Tether's telemetry pragmas (WAL, synchronous NORMAL, foreign_keys,
 * busy_timeout: packages/server/src/store/db.ts openStore), a prepared one-row INSERT.
 * PostgreSQL: INSERT … SELECT unnest(…) in chunks of 5,000 rows over `conns` connections.
 * Also reports how many lines the server's log_lines table holds (the stored check).
 * Usage: raw-insert.ts '<json>' { db: "sqlite:<file>" | "postgres://…", tokensFile, devices,
 *   intervals, perBatch, endAt, intervalMs, txLines, conns }
 * Events: {ev:"done", lines, stored, indexed: {ms, rate, transactions}, plain: {ms, rate, transactions}}.
 */
import { readFileSync } from "node:fs";
import { LOG_LEVELS } from "@tether/protocol";
import Database from "better-sqlite3";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { logsTelemetryMigrations } from "../../packages/server/src/capabilities/logs/migrations.js";
import { emit } from "../lib/util.js";
import { deviceLines } from "./lines.js";

const o = JSON.parse(process.argv[2]!) as {
  db: string;
  tokensFile: string;
  devices: number;
  intervals: number;
  perBatch: number;
  endAt: number;
  intervalMs: number;
  txLines: number;
  conns: number;
};

// The lines, generated first (not timed), interval by interval, device by device.
const ids = (JSON.parse(readFileSync(o.tokensFile, "utf8")) as { id: string }[]).map((d) => d.id);
const receivedAt = Date.now();
const rows: { device: string; t: number; src: string; level: number | null; msg: string; bytes: number }[] =
  [];
for (let b = 0; b < o.intervals; b++) {
  const t = o.endAt - (o.intervals - 1 - b) * o.intervalMs;
  for (let d = 0; d < o.devices; d++)
    for (const l of deviceLines(d, b, o.perBatch, t, o.intervalMs))
      rows.push({
        device: ids[d]!,
        t: l.t,
        src: l.src,
        level: l.lvl ? LOG_LEVELS.indexOf(l.lvl) : null,
        msg: l.msg,
        bytes: Buffer.byteLength(l.msg),
      });
}
const COLS = "device_id, project_id, time, device_time, received_at, source, level, message, kind, bytes";

interface Timed {
  ms: number;
  rate: number;
  transactions: number;
}

function sqlite(path: string): { stored: number; indexed: Timed; plain: Timed } {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  const stored = (db.prepare("select count(*) as n from log_lines").get() as { n: number }).n;
  const project = (
    db.prepare("select project_id as p from log_lines limit 1").get() as { p: number } | undefined
  )?.p;
  // The migration's objects, as it created them (FTS5's own shadow tables come with its table).
  const ddl = db
    .prepare(
      `select type, name, sql from sqlite_master where sql is not null
         and (name in ('log_lines', 'log_fts') or tbl_name = 'log_lines') order by rowid`,
    )
    .all() as { type: string; name: string; sql: string }[];
  if (!ddl.some((x) => x.name === "log_fts")) throw new Error("no log_fts in the telemetry database");
  const rename = (s: string) => s.replace(/\blog_(lines|fts)/g, "bench_raw_log_$1");
  const run = (table: string, objects: string[]): Timed => {
    db.exec(`drop table if exists ${table}`);
    db.exec("drop table if exists bench_raw_log_fts");
    for (const s of objects) db.exec(s);
    const ins = db.prepare(`insert into ${table} (${COLS}) values (?, ?, ?, ?, ?, ?, ?, ?, 'line', ?)`);
    const tx = db.transaction((from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const r = rows[i]!;
        ins.run(r.device, project ?? 1, r.t, r.t, receivedAt, r.src, r.level, r.msg, r.bytes);
      }
    });
    const t0 = performance.now();
    let transactions = 0;
    for (let i = 0; i < rows.length; i += o.txLines, transactions++)
      tx(i, Math.min(rows.length, i + o.txLines));
    const ms = performance.now() - t0;
    const n = (db.prepare(`select count(*) as n from ${table}`).get() as { n: number }).n;
    if (n !== rows.length) throw new Error(`${table} holds ${n} rows, not ${rows.length}`);
    db.exec(`drop table ${table}`);
    db.exec("drop table if exists bench_raw_log_fts");
    return { ms, rate: (rows.length / ms) * 1000, transactions };
  };
  const indexed = run(
    "bench_raw_log_lines",
    ddl.map((x) => rename(x.sql)),
  );
  const table = ddl.find((x) => x.name === "log_lines")!.sql;
  const plain = run("bench_raw_plain", [table.replace(/\blog_lines\b/, "bench_raw_plain")]);
  db.close();
  return { stored, indexed, plain };
}

async function postgres(url: string): Promise<{ stored: number; indexed: Timed; plain: Timed }> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const stored = Number((await admin.query("select count(*) as n from log_lines")).rows[0].n);
  const project = (await admin.query("select project_id as p from log_lines limit 1")).rows[0]?.p ?? 1;
  const run = async (schema: string, strip: boolean): Promise<Timed> => {
    await admin.query(`drop schema if exists ${schema} cascade`);
    await admin.query(`create schema ${schema}`);
    const pool = new pg.Pool({ connectionString: url, max: o.conns, options: `-c search_path=${schema}` });
    const k = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
    try {
      for (const m of Object.values(logsTelemetryMigrations("postgres"))) await m.up(k);
      if (strip) {
        await pool.query("drop index log_lines_device");
        await pool.query("drop index log_lines_project");
        await pool.query("drop index if exists log_lines_fts");
        await pool.query("alter table log_lines drop column if exists fts");
      }
      let next = 0;
      let transactions = 0;
      const t0 = performance.now();
      const worker = async () => {
        const c = await pool.connect();
        try {
          for (;;) {
            const from = next;
            if (from >= rows.length) return;
            next += o.txLines;
            const to = Math.min(rows.length, from + o.txLines);
            await c.query("begin");
            for (let i = from; i < to; i += 5000) {
              const part = rows.slice(i, Math.min(to, i + 5000));
              await c.query(
                `insert into log_lines (${COLS}) select d, ${Number(project)}, t, t, ${receivedAt}, s, l, m, 'line', b
                   from unnest($1::text[], $2::int8[], $3::text[], $4::int2[], $5::text[], $6::int4[]) as x(d, t, s, l, m, b)`,
                [
                  part.map((r) => r.device),
                  part.map((r) => r.t),
                  part.map((r) => r.src),
                  part.map((r) => r.level),
                  part.map((r) => r.msg),
                  part.map((r) => r.bytes),
                ],
              );
            }
            await c.query("commit");
            transactions++;
          }
        } finally {
          c.release();
        }
      };
      await Promise.all(Array.from({ length: o.conns }, worker));
      const ms = performance.now() - t0;
      const n = Number((await pool.query("select count(*) as n from log_lines")).rows[0].n);
      if (n !== rows.length) throw new Error(`${schema}.log_lines holds ${n} rows, not ${rows.length}`);
      return { ms, rate: (rows.length / ms) * 1000, transactions };
    } finally {
      await k.destroy();
      await admin.query(`drop schema if exists ${schema} cascade`);
    }
  };
  const indexed = await run("bench_raw", false);
  const plain = await run("bench_raw_plain", true);
  await admin.end();
  return { stored, indexed, plain };
}

const r = o.db.startsWith("postgres") ? await postgres(o.db) : sqlite(o.db.replace(/^sqlite:/, ""));
emit({ ev: "done", lines: rows.length, ...r });
process.exit(0);

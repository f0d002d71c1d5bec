/**
 * The ingest row's anchor (bench:telemetry): the same samples the simulated devices upload,
 * inserted one row per sample into an unindexed table (series, t, v) of the same database —
 * the naive schema's write limit — in transactions of the same size as the server's, in a
 * process of its own. Usage: raw-insert.ts '<json options>'
 *   { db: "sqlite:<file>" | "postgres://...", devices, intervals, series, txSamples, endAt,
 *     intervalMs, rowsPerStatement, conns (PostgreSQL: parallel connections) }
 * SQLite gets the pragmas of Tether's telemetry database (packages/server/src/store/db.ts
 * openStore, as packages/server/src/telemetry/db.ts opens it): WAL, synchronous NORMAL,
 * foreign_keys ON, busy_timeout 5000.
 * Events: {ev:"done", samples, ms, rate, transactions, stored, bytes (the table's size)}.
 */
import Database from "better-sqlite3";
import pg from "pg";
import { emit } from "../lib/util.js";
import { DeviceModel } from "./generator.js";

const o = JSON.parse(process.argv[2]!) as {
  db: string;
  devices: number;
  intervals: number;
  series: number;
  txSamples: number;
  endAt: number;
  intervalMs: number;
  rowsPerStatement: number;
  conns: number;
};

// The samples, generated first (not timed), in upload order: interval by interval, device by device.
const total = o.devices * o.intervals * o.series;
const sid = new Int32Array(total);
const ts = new Float64Array(total);
const vs = new Float64Array(total);
{
  const models = Array.from(
    { length: o.devices },
    (_, i) => new DeviceModel(i, o.series, 11, o.intervalMs / 1000),
  );
  const values = new Float64Array(o.series);
  let n = 0;
  for (let k = 0; k < o.intervals; k++) {
    const t = o.endAt - (o.intervals - 1 - k) * o.intervalMs;
    for (let d = 0; d < o.devices; d++) {
      models[d]!.next(values);
      for (let s = 0; s < o.series; s++, n++) {
        sid[n] = d * o.series + s + 1;
        ts[n] = t;
        vs[n] = values[s]!;
      }
    }
  }
}

const TABLE = "bench_raw_samples";

async function sqlite(path: string) {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  db.exec(`drop table if exists ${TABLE}`);
  db.exec(`create table ${TABLE} (series integer not null, t integer not null, v real not null)`);
  const rps = o.rowsPerStatement;
  const many = db.prepare(
    `insert into ${TABLE} (series, t, v) values ${Array(rps).fill("(?, ?, ?)").join(", ")}`,
  );
  const one = db.prepare(`insert into ${TABLE} (series, t, v) values (?, ?, ?)`);
  const args: number[] = new Array(rps * 3);
  const tx = db.transaction((from: number, to: number) => {
    let i = from;
    for (; i + rps <= to; i += rps) {
      for (let j = 0; j < rps; j++) {
        args[j * 3] = sid[i + j]!;
        args[j * 3 + 1] = ts[i + j]!;
        args[j * 3 + 2] = vs[i + j]!;
      }
      many.run(args);
    }
    for (; i < to; i++) one.run(sid[i], ts[i], vs[i]);
  });
  const t0 = performance.now();
  let transactions = 0;
  for (let i = 0; i < total; i += o.txSamples) {
    tx(i, Math.min(total, i + o.txSamples));
    transactions++;
  }
  const ms = performance.now() - t0;
  const stored = (db.prepare(`select count(*) as n from ${TABLE}`).get() as { n: number }).n;
  const bytes = (db.prepare("select sum(pgsize) as b from dbstat where name = ?").get(TABLE) as { b: number })
    .b;
  db.exec(`drop table ${TABLE}`);
  db.close();
  return { ms, transactions, stored, bytes };
}

async function postgres(url: string) {
  const pool = new pg.Pool({ connectionString: url, max: o.conns });
  await pool.query(`drop table if exists ${TABLE}`);
  await pool.query(
    `create table ${TABLE} (series integer not null, t bigint not null, v double precision not null)`,
  );
  let nextTx = 0;
  let transactions = 0;
  const t0 = performance.now();
  const worker = async () => {
    const c = await pool.connect();
    try {
      for (;;) {
        const from = nextTx;
        if (from >= total) return;
        nextTx += o.txSamples;
        const to = Math.min(total, from + o.txSamples);
        await c.query("begin");
        for (let i = from; i < to; i += 5000) {
          const j = Math.min(to, i + 5000);
          await c.query(
            `insert into ${TABLE} (series, t, v) select * from unnest($1::int[], $2::int8[], $3::float8[])`,
            [Array.from(sid.subarray(i, j)), Array.from(ts.subarray(i, j)), Array.from(vs.subarray(i, j))],
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
  const stored = Number((await pool.query(`select count(*) as n from ${TABLE}`)).rows[0].n);
  const bytes = Number((await pool.query(`select pg_total_relation_size('${TABLE}') as b`)).rows[0].b);
  await pool.query(`drop table ${TABLE}`);
  await pool.end();
  return { ms, transactions, stored, bytes };
}

const r = o.db.startsWith("postgres") ? await postgres(o.db) : await sqlite(o.db.replace(/^sqlite:/, ""));
emit({ ev: "done", samples: total, ...r, rate: (total / r.ms) * 1000 });
process.exit(0);

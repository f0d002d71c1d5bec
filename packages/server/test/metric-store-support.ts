// Shared by the metric store's tests: the telemetry database (a SQLite file, or a fresh
// PostgreSQL database per test file when TETHER_TEST_DB=postgres, like tests/e2e/harness.ts),
// a tiny sequence-claim table standing in for the telemetry layer's, batch builders, a log.
import { createHash, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MetricSeriesWire } from "@tether/protocol";
import { type Kysely, sql } from "kysely";
import pg from "pg";
import type { Logger } from "pino";
import { metricsTelemetryMigrations } from "../src/capabilities/metrics/store/index.js";
import type { DeviceRow } from "../src/devices.js";
import { type MigrationSet, openStore, type Store } from "../src/store/db.js";
import type { IncomingBatch, SeqClaim } from "../src/telemetry/index.js";

export const TEST_DB = process.env.TETHER_TEST_DB === "postgres" ? "postgres" : "sqlite";
const PG_BASE = process.env.TETHER_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/";

async function pgAdmin(query: string): Promise<void> {
  const c = new pg.Client({ connectionString: new URL("postgres", PG_BASE).toString() });
  await c.connect();
  try {
    await c.query(query);
  } finally {
    await c.end();
  }
}

/** The claim table of these tests: the last seq per device and stream. */
const claimMigrations: MigrationSet = () => ({
  t0001_test_seq: {
    async up(db: Kysely<any>) {
      await sql`create table test_seq (device_id text not null, stream text not null, seq integer not null,
        primary key (device_id, stream))`.execute(db);
    },
  },
});

/** Records seq as the stream's last inside the caller's transaction; false when not newer. */
export const claim: SeqClaim = async (trx, b) => {
  const { rows } = await sql`
    insert into test_seq (device_id, stream, seq) values (${b.device.id}, ${b.batch.stream}, ${b.batch.seq})
    on conflict (device_id, stream) do update set seq = excluded.seq where test_seq.seq < excluded.seq
    returning seq`.execute(trx);
  return rows.length === 1;
};

export interface TelemetryDb {
  store: Store;
  url: string;
  /** Open the same database again (a server restart). */
  reopen(): Promise<Store>;
  cleanup(): Promise<void>;
}

export async function openTelemetryDb(): Promise<TelemetryDb> {
  let url: string;
  let cleanup: () => Promise<void>;
  if (TEST_DB === "postgres") {
    const name = `tether_t_${createHash("sha256").update(randomUUID()).digest("hex").slice(0, 20)}`;
    await pgAdmin(`create database ${name}`);
    url = new URL(name, PG_BASE).toString();
    cleanup = () => pgAdmin(`drop database if exists ${name} with (force)`);
  } else {
    const dir = mkdtempSync(join(tmpdir(), "tether-metrics-"));
    url = `sqlite:${join(dir, "telemetry.db")}`;
    cleanup = async () => rmSync(dir, { recursive: true, force: true });
  }
  const open = () =>
    openStore(url, [metricsTelemetryMigrations, claimMigrations], { migrationTable: "telemetry_migration" });
  const store = await open();
  return { store, url, reopen: open, cleanup };
}

export function device(id: string): DeviceRow {
  return { id, name: id, project_id: 1, state: "accepted" } as unknown as DeviceRow;
}

export function batch(
  deviceId: string,
  seq: number,
  metrics: MetricSeriesWire[],
  o: { receivedAt?: number; skewMs?: number } = {},
): IncomingBatch {
  const receivedAt = o.receivedAt ?? Date.now();
  const skewMs = o.skewMs ?? 0;
  return {
    device: device(deviceId),
    batch: { v: 1, device: deviceId, stream: "metrics", seq, sentAt: receivedAt - skewMs, metrics },
    receivedAt,
    skewMs,
  };
}

export interface LogLine {
  level: string;
  obj: unknown;
  msg: string;
}

/** A logger that keeps what it is given. */
export function memoryLog(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (obj: unknown, msg?: string) => {
    lines.push({ level, obj, msg: msg ?? String(obj) });
  };
  const log = {
    trace: at("trace"),
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    fatal: at("fatal"),
    child: () => log,
  };
  return { log: log as unknown as Logger, lines };
}

/** A deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Device registry throughput on each store: enroll-like inserts, lookups by id, label
 * updates and project listings, through the server's own query layer (Kysely), measured
 * sequentially (one request at a time, as one API worker would issue them).
 */
import { randomBytes } from "node:crypto";
import net from "node:net";
import { join } from "node:path";
import { Devices } from "@tether/server";
import pg from "pg";

export interface StorageResult {
  dialect: string;
  opsPerSec: { insert: number; get: number; label: number; list: number; mixed: number };
}

const OPS = Number(process.env.BENCH_STORE_OPS ?? 2000);

async function measure(url: string, dialect: string): Promise<StorageResult> {
  const { openServerStore } = await import("@tether/server");
  const store = await openServerStore(url);
  const db = store.db;
  const p = await db
    .insertInto("projects")
    .values({ name: `bench-${Date.now()}`, created_at: new Date().toISOString() })
    .returning("id")
    .executeTakeFirstOrThrow();
  const devices = new Devices(db);
  const ids: string[] = [];
  const time = async (n: number, fn: (i: number) => Promise<unknown>) => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await fn(i);
    return n / (Number(process.hrtime.bigint() - t0) / 1e9);
  };
  const insert = await time(OPS, async () => {
    const id = `dev_${randomBytes(10).toString("hex").slice(0, 20)}`;
    ids.push(id);
    await db
      .insertInto("devices")
      .values({
        id,
        project_id: p.id,
        name: id.slice(4, 12),
        state: "accepted",
        sign_key: randomBytes(32).toString("base64url"),
        noise_key: randomBytes(32).toString("base64url"),
        fingerprint: "f",
        hostname: "h",
        source_address: "127.0.0.1",
        labels: "{}",
        facts: null,
        shard: 0,
        broker_password_hash: null,
        enroll_token_id: null,
        created_at: new Date().toISOString(),
        last_seen_at: null,
        online: 0,
        conn_id: null,
        hs_counter: "0",
        down_next_mid: 1,
        up_low: 0,
        up_above: "[]",
      })
      .execute();
  });
  const get = await time(OPS, (i) => devices.find(p.id, ids[i % ids.length]));
  const label = await time(OPS, async (i) => {
    const row = await devices.find(p.id, ids[i % ids.length]);
    await devices.setLabels(row, { site: `s${i % 7}` });
  });
  const list = await time(Math.max(20, OPS / 100), () => devices.list(p.id, "site=s1"));
  const mixed = await time(OPS, async (i) => {
    if (i % 4 === 0) return devices.list(p.id, "");
    const row = await devices.find(p.id, ids[i % ids.length]);
    if (i % 4 === 1) await devices.setLabels(row, { rack: `r${i % 5}` });
  });
  await store.close();
  return { dialect, opsPerSec: { insert, get, label, list, mixed } };
}

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: 2000 });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.on("connect", () => done(true));
    s.on("error", () => done(false));
    s.on("timeout", () => done(false));
  });
}

export async function storageBench(
  tmp: string,
): Promise<{ sqlite: StorageResult; postgres: StorageResult | null }> {
  const sqlite = await measure(`sqlite:${join(tmp, "storage-bench.db")}`, "sqlite");
  const base = new URL(process.env.TETHER_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/");
  if (!(await reachable(base.hostname, Number(base.port || 5432)))) return { sqlite, postgres: null };
  const name = `tether_bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: new URL("postgres", base).toString() });
  await admin.connect();
  await admin.query(`drop database if exists ${name} with (force)`);
  await admin.query(`create database ${name}`);
  try {
    const postgres = await measure(new URL(name, base).toString(), "postgres");
    return { sqlite, postgres };
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

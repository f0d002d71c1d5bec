// @matrix: once
/** Clear refusals from the store: unreachable database, schema newer than the server. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import pg from "pg";
import { openServerStore } from "../src/create-server.js";

const dir = mkdtempSync(join(tmpdir(), "tether-store-errors-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const PG_BASE = process.env.TETHER_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/";

async function pgReachable(): Promise<boolean> {
  const c = new pg.Client({
    connectionString: new URL("postgres", PG_BASE).toString(),
    connectionTimeoutMillis: 3000,
  });
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}
const PG_SKIP = (await pgReachable()) ? false : `no PostgreSQL at ${PG_BASE}`;
if (PG_SKIP && process.env.CI) throw new Error(`PostgreSQL tests must run in CI: ${PG_SKIP}`);

test("a SQLite database migrated by a newer server is refused with a clear message", async () => {
  const path = join(dir, "newer.db");
  const s = await openServerStore(`sqlite:${path}`);
  await s.db
    .insertInto("kysely_migration" as any)
    .values({ name: "9999_from_the_future", timestamp: new Date().toISOString() } as any)
    .execute();
  await s.close();
  await assert.rejects(
    openServerStore(`sqlite:${path}`),
    /schema is newer than this server.*9999_from_the_future/,
  );
});

test("an unreachable PostgreSQL gives one clear error naming it, without the password", async () => {
  await assert.rejects(
    openServerStore("postgres://tether:secret@127.0.0.1:1/tether"),
    (err: Error) =>
      /cannot reach the database at postgres:\/\/tether:\*\*\*@127\.0\.0\.1:1\/tether/.test(err.message) &&
      !err.message.includes("secret"),
  );
});

test("PostgreSQL: migrations run, reopen is idempotent, a newer schema is refused", {
  skip: PG_SKIP,
}, async () => {
  const name = `tether_t_store_${process.pid}`;
  const admin = new pg.Client({ connectionString: new URL("postgres", PG_BASE).toString() });
  await admin.connect();
  await admin.query(`drop database if exists ${name} with (force)`);
  await admin.query(`create database ${name}`);
  try {
    const url = new URL(name, PG_BASE).toString();
    const s = await openServerStore(url);
    assert.equal(s.dialect, "postgres");
    const p = await s.db
      .insertInto("projects")
      .values({ name: "p", created_at: "now" })
      .returning("id")
      .executeTakeFirstOrThrow();
    assert.equal(typeof p.id, "number");
    await s.close();
    const again = await openServerStore(url);
    const rows = await again.db.selectFrom("projects").selectAll().execute();
    assert.equal(rows.length, 1);
    await again.db
      .insertInto("kysely_migration" as any)
      .values({ name: "9999_from_the_future", timestamp: "x" } as any)
      .execute();
    await again.close();
    await assert.rejects(openServerStore(url), /schema is newer than this server/);
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
});

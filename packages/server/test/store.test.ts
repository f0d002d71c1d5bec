// @matrix: once
// openStore (docs/architecture.md §6) on SQLite: migrations, idempotent reopen, pragmas, bad paths.
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { sql } from "kysely";
import { openServerStore } from "../src/create-server.js";
import { nowIso } from "../src/store/db.js";

const root = mkdtempSync(join(tmpdir(), "tether-store-"));
after(() => rmSync(root, { recursive: true, force: true }));

const TABLES = [
  "alert_history",
  "alert_rules",
  "alert_silences",
  "alert_states",
  "api_tokens",
  "audit",
  "blocked_keys",
  "command_runs",
  "commands",
  "config_blobs",
  "config_device_floors",
  "config_device_state",
  "config_layers",
  "config_projects",
  "config_revisions",
  "config_rollout_devices",
  "config_rollouts",
  "connections",
  "devices",
  "echo_replies",
  "echo_sent",
  "enrollment_tokens",
  "memberships",
  "outbox",
  "projects",
  "sessions",
  "ssh_keys",
  "telemetry_tokens",
  "tunnel_sessions",
  "tunnel_settings",
  "users",
  "webhook_deliveries",
  "webhooks",
];
/** Every migration, core and capabilities', in name order. */
const MIGRATIONS = [
  "0001_init",
  "0002_exec",
  "0003_device_rate_limited",
  "0003_echo_sent",
  "0004_accounts",
  "0005_online_since",
  "0006_telemetry_tokens",
  "0007_alerts",
  "0008_tunnels",
  "0009_ssh_keys",
  "0010_config_layers",
  "0011_config_delivery",
];

test("openStore on a new file (in a new directory) runs the migrations", async () => {
  const path = join(root, "fresh", "nested", "tether.db");
  const store = await openServerStore(`sqlite:${path}`);
  try {
    assert.equal(store.dialect, "sqlite");
    assert.ok(existsSync(path), "the parent directories and the file are created");
    const tables = (await store.db.introspection.getTables()).map((t) => t.name).sort();
    assert.deepEqual(tables, TABLES);
    const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(
      store.db,
    );
    assert.deepEqual(
      rows.map((r) => r.name),
      MIGRATIONS,
    );
  } finally {
    await store.close();
  }
});

test("the database file and its -wal/-shm are 0600, and an older 0644 file is narrowed", async () => {
  const fresh = join(root, "mode-fresh", "tether.db");
  const store = await openServerStore(`sqlite:${fresh}`);
  try {
    for (const f of [fresh, `${fresh}-wal`, `${fresh}-shm`])
      assert.equal((statSync(f).mode & 0o777).toString(8), "600", f);
  } finally {
    await store.close();
  }
  const old = join(root, "mode-old", "tether.db");
  mkdirSync(join(root, "mode-old"));
  writeFileSync(old, "");
  chmodSync(old, 0o644);
  const again = await openServerStore(`sqlite:${old}`);
  await again.close();
  assert.equal((statSync(old).mode & 0o777).toString(8), "600");
});

test("tables have the columns and defaults the code relies on", async () => {
  const store = await openServerStore(`sqlite:${join(root, "cols", "tether.db")}`);
  try {
    const devices = (await store.db.introspection.getTables()).find((t) => t.name === "devices");
    assert.ok(devices);
    const cols = devices.columns.map((c) => c.name);
    for (const c of [
      "id",
      "project_id",
      "online",
      "conn_id",
      "hs_counter",
      "down_next_mid",
      "up_low",
      "up_above",
      "last_seen_at",
      "facts",
    ])
      assert.ok(cols.includes(c), `devices.${c}`);
    const { id } = await store.db
      .insertInto("projects")
      .values({ name: "p", created_at: nowIso() })
      .returning("id")
      .executeTakeFirstOrThrow();
    assert.equal(typeof id, "number");
    // Raw insert of the NOT NULL columns only: the rest must come from the column defaults.
    await sql`insert into devices (id, project_id, name, state, sign_key, noise_key, fingerprint,
      hostname, source_address, labels, shard, created_at)
      values ('d1', ${id}, 'd1', 'accepted', 's', 'n', 'f', 'h', '127.0.0.1', '{}', 0, ${nowIso()})`.execute(
      store.db,
    );
    const d = await store.db.selectFrom("devices").selectAll().executeTakeFirstOrThrow();
    assert.equal(d.online, 0);
    assert.equal(d.conn_id, null);
    assert.equal(d.hs_counter, "0");
    assert.equal(d.down_next_mid, 1);
    assert.equal(d.up_low, 0);
    assert.equal(d.up_above, "[]");
  } finally {
    await store.close();
  }
});

test("reopening is idempotent and keeps the data", async () => {
  const url = `sqlite:${join(root, "reopen", "tether.db")}`;
  const a = await openServerStore(url);
  await a.db.insertInto("projects").values({ name: "kept", created_at: nowIso() }).execute();
  await a.close();
  for (let i = 0; i < 2; i++) {
    const b = await openServerStore(url);
    try {
      const rows = await b.db.selectFrom("projects").select("name").execute();
      assert.deepEqual(rows, [{ name: "kept" }]);
      const { rows: migs } = await sql<{ name: string }>`select name from kysely_migration`.execute(b.db);
      assert.equal(migs.length, MIGRATIONS.length, "each migration ran once");
      assert.equal((await b.db.introspection.getTables()).length, TABLES.length);
    } finally {
      await b.close();
    }
  }
});

test("SQLite pragmas: WAL and enforced foreign keys", async () => {
  const store = await openServerStore(`sqlite:${join(root, "pragma", "tether.db")}`);
  try {
    const { rows: jm } = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(store.db);
    assert.equal(jm[0].journal_mode, "wal");
    const { rows: fk } = await sql<{ foreign_keys: number }>`pragma foreign_keys`.execute(store.db);
    assert.equal(fk[0].foreign_keys, 1);
    await assert.rejects(
      store.db.insertInto("memberships").values({ user_id: 99, project_id: 99, role: "admin" }).execute(),
      /FOREIGN KEY/,
    );
  } finally {
    await store.close();
  }
});

test("unique constraints hold", async () => {
  const store = await openServerStore(`sqlite:${join(root, "unique", "tether.db")}`);
  try {
    await store.db.insertInto("projects").values({ name: "p", created_at: nowIso() }).execute();
    await assert.rejects(
      store.db.insertInto("projects").values({ name: "p", created_at: nowIso() }).execute(),
      /UNIQUE/,
    );
  } finally {
    await store.close();
  }
});

test("an in-memory store works", async () => {
  const store = await openServerStore("sqlite::memory:");
  try {
    assert.equal((await store.db.introspection.getTables()).length, TABLES.length);
  } finally {
    await store.close();
  }
});

test("a path inside a regular file is refused with an error naming the path", async () => {
  const file = join(root, "not-a-dir");
  writeFileSync(file, "x");
  // directly inside the file, and deeper
  for (const path of [join(file, "tether.db"), join(file, "sub", "tether.db")]) {
    await assert.rejects(
      openServerStore(`sqlite:${path}`),
      (e: NodeJS.ErrnoException) => {
        assert.ok(e instanceof Error);
        assert.ok(e.code === "EEXIST" || e.code === "ENOTDIR", `code ${e.code}`);
        assert.ok(e.message.includes(file), `message names the path: ${e.message}`);
        return true;
      },
      path,
    );
  }
});

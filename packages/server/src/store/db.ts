/** The one query layer (docs/architecture.md §6): Kysely over SQLite (default) or PostgreSQL. */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import SQLite from "better-sqlite3";
import { Kysely, type Migration, Migrator, PostgresDialect, SqliteDialect, sql } from "kysely";
import pg from "pg";
import type { DB } from "./schema.js";

export type Dialect = "sqlite" | "postgres";

/** Migrations by name for one dialect; the core's and each capability's are merged by name. */
export type MigrationSet = (dialect: Dialect) => Record<string, Migration>;

export interface Store {
  db: Kysely<DB>;
  dialect: Dialect;
  close(): Promise<void>;
}

/**
 * `sqlite:PATH` or `postgres://...`, migrated to the latest of the given sets (the server
 * passes the core's and every capability's; see ../capabilities.ts). A name declared twice
 * is a programming error.
 */
export async function openStore(
  url: string,
  sets: MigrationSet[],
  o: { migrationTable?: string; sqlitePragmas?: Record<string, string | number> } = {},
): Promise<Store> {
  let db: Kysely<DB>;
  let dialect: Dialect;
  if (url.startsWith("postgres://") || url.startsWith("postgresql://")) {
    dialect = "postgres";
    const pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 10_000 });
    // An idle client's error (database restarted) must not crash the server; the pool
    // replaces the client and the next query reports the failure to its caller.
    pool.on("error", () => {});
    db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  } else {
    dialect = "sqlite";
    const path = url.replace(/^sqlite:/, "");
    if (path !== ":memory:") {
      mkdirSync(dirname(path), { recursive: true });
      ownerOnly(path);
    }
    const sqlite = new SQLite(path);
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("synchronous = NORMAL");
    sqlite.pragma("foreign_keys = ON");
    sqlite.pragma("busy_timeout = 5000");
    for (const [k, v] of Object.entries(o.sqlitePragmas ?? {})) sqlite.pragma(`${k} = ${v}`);
    db = new Kysely<DB>({ dialect: new SqliteDialect({ database: cachedStatements(sqlite) }) });
  }
  const known: Record<string, Migration> = {};
  for (const set of sets) {
    for (const [name, m] of Object.entries(set(dialect))) {
      if (known[name]) throw new Error(`migration ${name} is declared twice`);
      known[name] = m;
    }
  }
  if (dialect === "postgres") {
    try {
      await sql`select 1`.execute(db);
    } catch (err) {
      await db.destroy();
      throw new Error(`cannot reach the database at ${redact(url)}: ${(err as Error).message}`);
    }
  }
  // A database migrated by a newer server holds migrations this one does not know.
  // A second store in the same database (telemetry on PostgreSQL) keeps its own migration table.
  const table = o.migrationTable ?? "kysely_migration";
  const applied = await sql<{ name: string }>`select name from ${sql.table(table)}`
    .execute(db)
    .then((r) => r.rows.map((x) => x.name))
    .catch(() => [] as string[]);
  const unknown = applied.filter((n) => !(n in known));
  if (unknown.length) {
    await db.destroy();
    throw new Error(
      `the database schema is newer than this server (unknown migrations: ${unknown.join(", ")}); upgrade the server`,
    );
  }
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => known },
    // The telemetry database's migrations come from several owners (the layer's t0001…, the
    // metric store's m0001…, later logs' l0001…): a new one may sort before one already applied.
    ...(o.migrationTable
      ? {
          migrationTableName: o.migrationTable,
          migrationLockTableName: `${o.migrationTable}_lock`,
          allowUnorderedMigrations: true,
        }
      : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    await db.destroy();
    const failed = results?.find((r) => r.status === "Error");
    throw new Error(
      `database migration failed${failed ? ` at ${failed.migrationName}` : ""}: ${(error as Error).message}`,
    );
  }
  return { db, dialect, close: () => db.destroy() };
}

/**
 * The database holds password and token digests, device keys and command output: 0600 like
 * every other secret-bearing file. Created 0600 before SQLite opens it (SQLite then creates
 * its -wal and -shm files with the database file's mode); files left 0644 by an older
 * server are narrowed.
 */
function ownerOnly(path: string): void {
  if (!existsSync(path)) closeSync(openSync(path, "a", 0o600));
  for (const f of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      chmodSync(f, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
}

export const nowIso = (): string => new Date().toISOString();

/** A database URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url;
  }
}

/**
 * Kysely prepares every query again; with better-sqlite3 that was ~14% of the server's CPU
 * under a fleet command. Statements are reusable (execution is synchronous), so keep the
 * most recent ones by SQL text; a statement still busy (an open iterator) is not shared.
 */
function cachedStatements(sqlite: SQLite.Database, max = 500) {
  const cache = new Map<string, SQLite.Statement>();
  return {
    prepare(text: string): SQLite.Statement {
      const hit = cache.get(text);
      if (hit && !hit.busy) return hit;
      const st = sqlite.prepare(text);
      if (cache.size >= max) cache.delete(cache.keys().next().value as string);
      cache.set(text, st);
      return st;
    },
    close(): void {
      cache.clear();
      sqlite.close();
    },
  };
}

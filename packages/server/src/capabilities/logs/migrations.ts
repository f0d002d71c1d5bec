/**
 * The log store's tables in the TELEMETRY database (docs/protocol.md §15; names global there,
 * "l0001_..."). One row per line (or gap line); ids increase in storage order (SQLite
 * AUTOINCREMENT, PostgreSQL identity: ingest is one transaction at a time, so ids are also
 * in commit order), which is the order of search results and the tail's resume cursor.
 *
 * - log_lines: the lines. `level` is the rank in LOG_LEVELS (0 debug … 4 fatal) or null;
 *   `bytes` the message's UTF-8 size (size retention); gap lines carry gap_*.
 * - log_usage: message bytes stored per project, kept in the ingest and retention
 *   transactions, so size retention never sums the table.
 * - SQLite: log_fts, a contentless FTS5 index (unicode61) over message with
 *   contentless_delete, kept by triggers in the same transaction as the row.
 * - PostgreSQL: a stored generated tsvector ('simple' config) with a GIN index.
 * Searches walk ids newest first (index on (project_id, id) and (device_id, id)).
 */
import { type Kysely, type Migration, sql } from "kysely";
import type { Dialect, MigrationSet } from "../../store/db.js";

function statements(dialect: Dialect): string[] {
  const pg = dialect === "postgres";
  const big = pg ? "bigint" : "integer";
  const id = pg ? "bigint generated always as identity primary key" : "integer primary key autoincrement";
  const table = `create table log_lines (
      id ${id},
      device_id text not null,
      project_id integer not null,
      time ${big} not null,
      device_time ${big} not null,
      received_at ${big} not null,
      source text not null,
      level smallint,
      unit text,
      message text not null,
      kind text not null,
      gap_count ${big},
      gap_from ${big},
      gap_to ${big},
      gap_reason text,
      bytes integer not null${pg ? ",\n      fts tsvector generated always as (to_tsvector('simple', message)) stored" : ""}
    )`;
  const common = [
    table,
    "create index log_lines_device on log_lines (device_id, id)",
    "create index log_lines_project on log_lines (project_id, id)",
    `create table log_usage (project_id integer primary key, bytes ${big} not null)`,
  ];
  if (pg) return [...common, "create index log_lines_fts on log_lines using gin (fts)"];
  return [
    ...common,
    "create virtual table log_fts using fts5(message, content='', contentless_delete=1, tokenize='unicode61')",
    `create trigger log_lines_ai after insert on log_lines begin
       insert into log_fts (rowid, message) values (new.id, new.message);
     end`,
    `create trigger log_lines_ad after delete on log_lines begin
       delete from log_fts where rowid = old.id;
     end`,
  ];
}

export const logsTelemetryMigrations: MigrationSet = (dialect: Dialect): Record<string, Migration> => ({
  l0001_log_store: {
    async up(db: Kysely<any>) {
      for (const s of statements(dialect)) await sql.raw(s).execute(db);
    },
  },
});

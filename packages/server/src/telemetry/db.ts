/**
 * The telemetry database (docs/protocol.md §14.3; docs/architecture.md §6). On SQLite it is
 * its own file, `<dataDir>/telemetry.db`, so ingest never waits for (nor blocks) the main
 * store's one writer; on PostgreSQL it is the main database, with its own migration table.
 * The layer's tables and every stream module's (`telemetryMigrations`) are migrated together.
 */
import { join } from "node:path";
import { type MigrationSet, openStore } from "../store/db.js";
import type { TelemetryDb } from "./types.js";
import { telemetryLayerMigrations } from "./migrations.js";

export const TELEMETRY_MIGRATION_TABLE = "telemetry_migration";

/** Where the telemetry data lives for a main database URL. */
export function telemetryDbUrl(mainUrl: string, dataDir: string): string {
  if (/^postgres(ql)?:\/\//.test(mainUrl)) return mainUrl;
  if (mainUrl === "sqlite::memory:") return mainUrl;
  return `sqlite:${join(dataDir, "telemetry.db")}`;
}

export async function openTelemetryDb(
  mainUrl: string,
  dataDir: string,
  sets: MigrationSet[],
): Promise<TelemetryDb & { close(): Promise<void> }> {
  const store = await openStore(telemetryDbUrl(mainUrl, dataDir), [telemetryLayerMigrations, ...sets], {
    migrationTable: TELEMETRY_MIGRATION_TABLE,
  });
  return { db: store.db, dialect: store.dialect, close: () => store.close() };
}

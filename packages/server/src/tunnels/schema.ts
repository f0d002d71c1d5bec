/** The tunnel layer's tables (docs/protocol.md §17.7), beside the core schema, as capabilities keep theirs. */
import type { ColumnType, Kysely } from "kysely";
import type { DB } from "../store/schema.js";

/** One row per session (shell, command, forward): who, which device, when, how it ended. */
export interface TunnelSessionsTable {
  id: string;
  project_id: number;
  device_id: string;
  /** The device's name when the session started (kept if the device is renamed or deleted). */
  device_name: string;
  user_id: number;
  username: string;
  kind: string;
  via: string;
  target: string;
  run_as: string | null;
  /** 0/1 */
  recorded: number;
  started_at: string;
  ended_at: string | null;
  end_reason: string | null;
  exit_code: number | null;
  /** Bytes towards the device (input) and from it (output); bigint, so PostgreSQL reads a string. */
  bytes_in: ColumnType<number | string, number, number>;
  bytes_out: ColumnType<number | string, number, number>;
}

/** Per-project settings; a project without a row has the defaults. */
export interface TunnelSettingsTable {
  project_id: number;
  /** 0/1: record shells as asciicast. */
  record: number;
  /** JSON array of DESTINATION_PATTERN entries. */
  forward_allow: string;
}

export interface TunnelTables {
  tunnel_sessions: TunnelSessionsTable;
  tunnel_settings: TunnelSettingsTable;
}

export type TunnelsDB = DB & TunnelTables;

/** The core handle viewed with the tunnel tables. */
export const tunnelsDb = (db: Kysely<DB>): Kysely<TunnelsDB> => db as unknown as Kysely<TunnelsDB>;

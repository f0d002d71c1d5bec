/** The exec capability's tables (docs/protocol.md §13), beside the core schema. */
import type { Generated, Kysely } from "kysely";
import type { DB, ProjectsTable } from "../../store/schema.js";

export interface CommandsTable {
  id: string;
  project_id: number;
  created_by: string;
  created_at: string;
  finished_at: string | null;
  state: string;
  /** JSON: argv, shell, cwd, env, user, timeoutMs, queueTtlMs, outputLimit, stdin */
  spec: string;
  /** JSON: how the devices were picked */
  target: string;
  concurrency: number;
  max_failures: number | null;
}
export interface CommandRunsTable {
  command_id: string;
  device_id: string;
  device_name: string;
  seq: number;
  status: string;
  exit_code: number | null;
  signal: string | null;
  error: string | null;
  /** The exec.start message id in the device's outbox while it is undelivered. */
  mid: Generated<number | null>;
  deliver_by: Generated<string | null>;
  stdout_bytes: Generated<number>;
  stderr_bytes: Generated<number>;
  stdout_truncated: Generated<number>;
  stderr_truncated: Generated<number>;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
}

export interface ExecTables {
  /** 0002_exec adds `exec_users` to the core projects table. */
  projects: ProjectsTable & {
    /** JSON array of user names `exec --user` may name. */
    exec_users: Generated<string>;
  };
  commands: CommandsTable;
  command_runs: CommandRunsTable;
}

/** The database as the exec capability sees it. */
export type ExecDB = Omit<DB, "projects"> & ExecTables;

/** The core handle (or a transaction) viewed with exec's tables. */
export const execDb = (db: Kysely<DB>): Kysely<ExecDB> => db as unknown as Kysely<ExecDB>;

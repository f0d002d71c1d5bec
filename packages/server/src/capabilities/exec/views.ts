/** Rows → API shapes for commands and their runs (no I/O). */
import { isUtf8 } from "node:buffer";
import type { Command, CommandRun, CommandSummary, RunStatus } from "@tether/protocol";
import type { Selectable } from "kysely";
import type { CommandRunsTable, CommandsTable } from "./schema.js";

export type CommandRow = Selectable<CommandsTable>;
export type RunRow = Selectable<CommandRunsTable>;

/** What a command is, as stored in `commands.spec`. */
export interface CommandSpec {
  argv: string[];
  shell: boolean;
  cwd: string | null;
  env: Record<string, string>;
  user: string | null;
  timeoutMs: number;
  queueTtlMs: number;
  outputLimit: number;
  /** base64 */
  stdin?: string;
}

export function emptySummary(): CommandSummary {
  return {
    total: 0,
    pending: 0,
    queued: 0,
    sent: 0,
    running: 0,
    succeeded: 0,
    failed: 0,
    timed_out: 0,
    error: 0,
    offline: 0,
    expired: 0,
    cancelled: 0,
    lost: 0,
    skipped: 0,
  };
}

export function toRun(r: RunRow): CommandRun {
  return {
    command: r.command_id,
    device: r.device_name,
    deviceId: r.device_id,
    status: r.status as RunStatus,
    exitCode: r.exit_code,
    signal: r.signal,
    error: r.error,
    stdoutBytes: r.stdout_bytes,
    stderrBytes: r.stderr_bytes,
    stdoutTruncated: !!r.stdout_truncated,
    stderrTruncated: !!r.stderr_truncated,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    durationMs: r.duration_ms,
  };
}

/** UTF-8 text when the bytes are valid UTF-8, else base64 — never mangled. */
export function encodeOutput(buf: Buffer): { text: string; encoding: "utf8" | "base64" } {
  return isUtf8(buf)
    ? { text: buf.toString("utf8"), encoding: "utf8" }
    : { text: buf.toString("base64"), encoding: "base64" };
}

export function toCommand(
  c: CommandRow,
  project: string,
  summary: CommandSummary,
  runs?: CommandRun[],
): Command {
  const spec = JSON.parse(c.spec) as CommandSpec;
  return {
    id: c.id,
    project,
    createdBy: c.created_by,
    createdAt: c.created_at,
    finishedAt: c.finished_at,
    state: c.state as Command["state"],
    argv: spec.argv,
    shell: spec.shell,
    cwd: spec.cwd,
    env: spec.env,
    user: spec.user,
    timeoutMs: spec.timeoutMs,
    queueTtlMs: spec.queueTtlMs,
    outputLimit: spec.outputLimit,
    concurrency: c.concurrency,
    maxFailures: c.max_failures,
    target: JSON.parse(c.target),
    summary,
    ...(runs ? { runs } : {}),
  };
}

/** Statuses that count towards --max-failures. */
export const FAILURES: readonly RunStatus[] = ["failed", "timed_out", "error", "lost"];

/** Rows → API shapes for commands and their runs (no I/O). */
import { isUtf8 } from "node:buffer";
import type { Command, CommandRun, CommandSummary, DownBody, RunStatus } from "@tether/protocol";
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

/** The `exec.start` body that carries a command to a device (the scheduler sends it). */
export function startBody(cmd: string, spec: CommandSpec): DownBody<"exec.start"> {
  return {
    cmd,
    argv: spec.argv,
    shell: spec.shell,
    ...(spec.cwd ? { cwd: spec.cwd } : {}),
    ...(Object.keys(spec.env).length ? { env: spec.env } : {}),
    ...(spec.user ? { user: spec.user } : {}),
    timeoutMs: spec.timeoutMs,
    limit: spec.outputLimit,
    ...(spec.stdin !== undefined ? { stdin: spec.stdin } : {}),
  };
}

/**
 * How many of `buf`'s bytes to keep so that it does not end inside a UTF-8 character (a page
 * of output that more bytes follow): valid UTF-8 output stays text page by page.
 */
export function utf8Boundary(buf: Uint8Array): number {
  for (let k = 1; k <= Math.min(3, buf.length); k++) {
    const b = buf[buf.length - k];
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: look further back
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > k && buf.length - k > 0 ? buf.length - k : buf.length;
  }
  return buf.length;
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

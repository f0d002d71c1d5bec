/**
 * Exec values for unit tests of code that reads a command's events (the SDK's followCommand, the
 * server's replay, the CLI's queue notes): a run, a command and an event-stream frame, shaped as
 * the server sends them. Types only from @tether/protocol, so any package's tests may use it.
 */
import type { Command, CommandRun, CommandSummary } from "@tether/protocol";

/** A summary with every count 0. */
export function zeroSummary(): CommandSummary {
  return Object.fromEntries(
    ["total", "pending", "queued", "sent", "running", "succeeded", "failed", "timed_out"]
      .concat(["error", "offline", "expired", "cancelled", "lost", "skipped"])
      .map((k) => [k, 0]),
  ) as CommandSummary;
}

/** cmd_1's run on device "d" (dev_1): running, nothing written yet; `o` overrides. */
export function runFixture(o: Partial<CommandRun> = {}): CommandRun {
  return {
    command: "cmd_1",
    device: "d",
    deviceId: "dev_1",
    status: "running",
    exitCode: null,
    signal: null,
    error: null,
    stdoutBytes: 0,
    stderrBytes: 0,
    stdoutTruncated: false,
    stderrTruncated: false,
    startedAt: null,
    finishedAt: null,
    durationMs: null,
    ...o,
  };
}

/** cmd_1: `echo` on device "d", done and succeeded, without its runs; `o` overrides. */
export function commandFixture(o: Partial<Command> = {}): Command {
  return {
    id: "cmd_1",
    project: "default",
    createdBy: "admin",
    createdAt: "2025-01-01T00:00:00Z",
    finishedAt: "2025-01-01T00:00:01Z",
    state: "done",
    argv: ["echo"],
    shell: false,
    cwd: null,
    env: {},
    user: null,
    timeoutMs: 60000,
    queueTtlMs: 0,
    outputLimit: 1024,
    concurrency: 100,
    maxFailures: null,
    target: { devices: ["d"] },
    summary: { ...zeroSummary(), total: 1, succeeded: 1 },
    ...o,
  };
}

/** One server-sent event as the command's event stream carries it. */
export const sseFrame = (type: string, data: unknown): string =>
  `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;

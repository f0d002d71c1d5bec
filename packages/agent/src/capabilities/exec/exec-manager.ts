/**
 * Remote command execution on the device (docs/protocol.md §13).
 *
 * - A command runs at most once: "started" is on disk (fsync) before the process is
 *   spawned, a re-delivered start for a known id is ignored, and a command that was running
 *   when the agent died is reported as `lost` at the next start, never re-run.
 * - Each command gets its own process group, so a timeout or a cancel kills its background
 *   children too.
 * - Output flows under a credit window per stream: the agent sends only what the server has
 *   room for and pauses the pipe when the window is full; past the limit bytes are counted
 *   and dropped. The result (durable) goes out once every kept byte is acknowledged, so the
 *   stored output is complete when the result arrives.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { statSync } from "node:fs";
import { performance } from "node:perf_hooks";
import {
  type DownBody,
  EXEC_CHUNK_BYTES,
  EXEC_INLINE_BYTES,
  EXEC_WINDOW_BYTES,
  type UpBody,
} from "@tether/protocol";
import type { Logger } from "pino";
import type { HandlerResult } from "../../control/handler.js";
import type { JournalRecord } from "../../control/journal-record.js";
import type { JournalPort } from "../../control/journal-slice.js";
import type { Link } from "../../control/link.js";
import {
  type ExecRecord,
  type ExecState,
  execDone,
  execJournal,
  execPid,
  execStarted,
} from "./exec-journal.js";
import { OutStream } from "./out-stream.js";
import { agentUser, type LocalUser, lookupUser } from "../../local-users.js";
import { processStartTime } from "../../proc-stat.js";

/** What the manager needs of the control channel's link (kept narrow so tests can fake it). */
export type ExecLink = Pick<Link, "sendNow" | "outgoing" | "commit">;

export interface ExecOptions {
  window?: number;
  chunk?: number;
  /** Re-send unacknowledged output after this long without progress. */
  retransmitMs?: number;
  /** SIGTERM first; SIGKILL the group this long after. */
  killGraceMs?: number;
}

type Result = UpBody<"exec.result">;

interface Run {
  id: string;
  child?: ChildProcess;
  out: OutStream;
  err: OutStream;
  t0: number;
  timer?: NodeJS.Timeout;
  killTimer?: NodeJS.Timeout;
  timedOut: boolean;
  cancelled: boolean;
  spawnError?: string;
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  closed: boolean;
  finishing: boolean;
  lastProgress: number;
  pumpTimer?: NodeJS.Timeout;
}

/**
 * Output waits this long before it is sent, so a short command's output rides inside its
 * result (no output message, no credit round trip); a long one streams with this latency.
 */
const COALESCE_MS = 20;

export class ExecManager {
  private readonly runs = new Map<string, Run>();
  private readonly cancelledEarly = new Set<string>();
  private readonly window: number;
  private readonly chunk: number;
  private readonly retransmitMs: number;
  private readonly killGraceMs: number;
  private readonly ticker: NodeJS.Timeout;
  /** This capability's journal slice: every command this agent recorded. */
  private readonly execs: ExecState;

  constructor(
    private readonly link: ExecLink,
    private readonly journal: JournalPort,
    private readonly log: Logger,
    o: ExecOptions = {},
  ) {
    this.execs = journal.state(execJournal);
    this.window = o.window ?? EXEC_WINDOW_BYTES;
    this.chunk = o.chunk ?? EXEC_CHUNK_BYTES;
    this.retransmitMs = o.retransmitMs ?? 3000;
    this.killGraceMs = o.killGraceMs ?? 2000;
    this.ticker = setInterval(() => this.tick(), Math.max(250, this.retransmitMs / 2));
    this.ticker.unref();
  }

  get running(): number {
    return this.runs.size;
  }

  /**
   * At agent start: commands recorded as started but never finished died with the previous
   * agent. Report them lost (durably) and kill what is left of their process groups.
   */
  recoverLost(): Promise<void> | undefined {
    const recs: JournalRecord[] = [];
    for (const [id, r] of this.execs) {
      if (r.st !== "started") continue;
      const killed = this.killOrphan(r);
      recs.push(
        execDone(id),
        this.link.outgoing("exec.result", {
          ...blankResult(id, "lost"),
          error: `the agent stopped while the command was running${r.pid ? ` (pid ${r.pid}${killed ? ", killed now" : ""})` : ""}; it was not run again`,
        }),
      );
      this.log.warn({ cmd: id, pid: r.pid }, "command was running when the agent stopped: reported as lost");
    }
    return recs.length ? this.link.commit(recs) : undefined;
  }

  private killOrphan(r: ExecRecord): boolean {
    if (!r.pid || !r.since || processStartTime(r.pid) !== r.since) return false;
    try {
      process.kill(-r.pid, "SIGKILL");
      return true;
    } catch {
      return false;
    }
  }

  /** Durable `exec.start`: decide now, spawn only once "started" is on disk. */
  start(b: DownBody<"exec.start">): HandlerResult {
    if (this.execs.has(b.cmd)) {
      this.log.warn({ cmd: b.cmd }, "start for a command this agent already ran: ignored (never twice)");
      return [];
    }
    const refuse = (error: string): HandlerResult => {
      this.log.warn({ cmd: b.cmd, error }, "command refused");
      return [execDone(b.cmd), this.link.outgoing("exec.result", { ...blankResult(b.cmd, "error"), error })];
    };
    let user: LocalUser | null = null;
    const me = agentUser();
    if (b.user) {
      if (b.user !== me && process.getuid?.() !== 0)
        return refuse(`the agent runs as ${me}, not root, so it cannot run commands as ${b.user}`);
      user = lookupUser(b.user);
      if (!user) return refuse(`no user ${b.user} on this device`);
    }
    if (b.cwd) {
      let isDir = false;
      try {
        isDir = statSync(b.cwd).isDirectory();
      } catch {}
      if (!isDir) return refuse(`working directory ${b.cwd} does not exist on this device`);
    }
    return {
      records: [execStarted(b.cmd)],
      after: () => this.spawn(b, user),
    };
  }

  private spawn(b: DownBody<"exec.start">, user: LocalUser | null): void {
    const run: Run = {
      id: b.cmd,
      out: new OutStream(b.limit, this.window),
      err: new OutStream(b.limit, this.window),
      t0: performance.now(),
      timedOut: false,
      cancelled: false,
      closed: false,
      finishing: false,
      lastProgress: Date.now(),
    };
    this.runs.set(b.cmd, run);
    if (this.cancelledEarly.delete(b.cmd)) {
      run.cancelled = true;
      run.closed = true;
      this.maybeFinish(run);
      return;
    }
    const [file, ...args] = b.shell ? ["/bin/sh", "-c", b.argv.join(" ")] : b.argv;
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (user) Object.assign(env, { HOME: user.home, USER: user.name, LOGNAME: user.name, SHELL: user.shell });
    Object.assign(env, b.env ?? {});
    let child: ChildProcess;
    try {
      child = spawn(file, args, {
        cwd: b.cwd,
        env,
        detached: true, // its own process group: a timeout kills every child it forked
        stdio: [b.stdin !== undefined ? "pipe" : "ignore", "pipe", "pipe"],
        ...(user ? { uid: user.uid, gid: user.gid } : {}),
      });
    } catch (err) {
      run.spawnError = describeSpawnError(file, err as NodeJS.ErrnoException);
      run.closed = true;
      this.maybeFinish(run);
      return;
    }
    run.child = child;
    child.on("error", (err: NodeJS.ErrnoException) => {
      if (child.pid !== undefined && !run.closed) {
        this.log.warn({ cmd: b.cmd, err: err.message }, "command process error");
        return;
      }
      run.spawnError = describeSpawnError(file, err);
      run.closed = true;
      this.maybeFinish(run);
    });
    if (child.pid !== undefined) {
      const since = processStartTime(child.pid);
      if (since) this.journal.later([execPid(b.cmd, child.pid, since)]);
      this.link.sendNow("exec.started", { cmd: b.cmd, pid: child.pid });
    }
    const pipe = (stream: NodeJS.ReadableStream | null, s: OutStream) => {
      stream?.on("data", (c: Buffer) => {
        if (s.push(c)) stream.pause();
        run.pumpTimer ??= setTimeout(() => {
          run.pumpTimer = undefined;
          this.pump(run);
        }, COALESCE_MS);
      });
    };
    pipe(child.stdout, run.out);
    pipe(child.stderr, run.err);
    if (b.stdin !== undefined && child.stdin) {
      child.stdin.on("error", () => {}); // the process may exit without reading its input
      child.stdin.end(Buffer.from(b.stdin, "base64"));
    }
    run.timer = setTimeout(() => {
      run.timedOut = true;
      this.kill(run);
    }, b.timeoutMs);
    child.on("close", (code, signal) => {
      if (run.closed || child.pid === undefined) return; // a failed spawn ends in "error"
      run.exit = { code, signal };
      run.closed = true;
      clearTimeout(run.timer);
      clearTimeout(run.killTimer);
      // After a timeout or cancel the leader may be gone while background members that
      // ignore SIGTERM (and hold no pipe) live on: finish the whole group now.
      if (run.timedOut || run.cancelled) {
        try {
          process.kill(-(child.pid as number), "SIGKILL");
        } catch {}
      }
      this.maybeFinish(run);
    });
  }

  /** SIGTERM to the whole group, SIGKILL after the grace period. */
  private kill(run: Run): void {
    const pid = run.child?.pid;
    if (pid === undefined || run.closed) return;
    const send = (sig: NodeJS.Signals) => {
      try {
        process.kill(-pid, sig);
      } catch {}
    };
    send("SIGTERM");
    clearTimeout(run.killTimer);
    run.killTimer = setTimeout(() => send("SIGKILL"), this.killGraceMs);
    run.killTimer.unref();
  }

  /** Durable `exec.cancel`. */
  cancel(b: DownBody<"exec.cancel">): HandlerResult {
    const run = this.runs.get(b.cmd);
    if (run) {
      if (run.closed) return [];
      return {
        records: [],
        after: () => {
          run.cancelled = true;
          this.kill(run);
        },
      };
    }
    const known = this.execs.get(b.cmd);
    if (known?.st === "done") return []; // finished already; the result says how
    if (known?.st === "started") {
      this.cancelledEarly.add(b.cmd); // recorded, not spawned yet: never spawn it
      return [];
    }
    // Never seen: make sure a later start is refused, and say so.
    return [
      execDone(b.cmd),
      this.link.outgoing("exec.result", {
        ...blankResult(b.cmd, "cancelled"),
        error: "cancelled before it reached the device",
      }),
    ];
  }

  /** `exec.ack`: the server's credit. */
  onAck(b: DownBody<"exec.ack">): void {
    const run = this.runs.get(b.cmd);
    if (!run) return;
    run.out.ack(b.o);
    run.err.ack(b.e);
    if (b.resend) {
      run.out.rewind();
      run.err.rewind();
    }
    run.lastProgress = Date.now();
    this.resume(run);
    this.pump(run);
    this.maybeFinish(run);
  }

  /** A new session: anything not acknowledged may have been lost; send it again. */
  onReady(): void {
    for (const run of this.runs.values()) {
      run.out.rewind();
      run.err.rewind();
      run.lastProgress = Date.now();
      this.pump(run);
      this.maybeFinish(run);
    }
  }

  private resume(run: Run): void {
    const c = run.child;
    if (!c) return;
    if (c.stdout?.isPaused() && !run.out.shouldPause()) c.stdout.resume();
    if (c.stderr?.isPaused() && !run.err.shouldPause()) c.stderr.resume();
  }

  private pump(run: Run): void {
    if (run.finishing) return;
    for (const [s, tag] of [
      [run.out, "o"],
      [run.err, "e"],
    ] as const) {
      for (;;) {
        const n = s.next(this.chunk);
        if (!n) break;
        if (
          !this.link.sendNow("exec.output", { cmd: run.id, s: tag, off: n.off, d: n.data.toString("base64") })
        ) {
          s.rewind(); // not connected: everything unacknowledged goes again on the next session
          return;
        }
      }
    }
  }

  private tick(): void {
    const now = Date.now();
    for (const run of this.runs.values()) {
      const waiting = run.out.sent > run.out.acked || run.err.sent > run.err.acked;
      const unsent = run.out.sent < run.out.kept || run.err.sent < run.err.kept;
      if ((waiting || unsent) && now - run.lastProgress > this.retransmitMs) {
        run.out.rewind();
        run.err.rewind();
        run.lastProgress = now;
        this.pump(run);
      }
    }
  }

  private maybeFinish(run: Run): void {
    if (!run.closed || run.finishing) return;
    // What the server has not acknowledged goes inside the result when it is small enough.
    const inline = run.out.unacked + run.err.unacked <= EXEC_INLINE_BYTES;
    if (!inline && !(run.out.allAcked && run.err.allAcked)) return;
    run.finishing = true;
    clearTimeout(run.pumpTimer);
    const r = blankResult(run.id, "exited");
    r.durationMs = run.child ? Math.round(performance.now() - run.t0) : null;
    r.code = run.exit?.code ?? null;
    r.signal = run.exit?.signal ?? null;
    if (run.spawnError) {
      r.status = "error";
      r.error = run.spawnError;
    } else if (run.cancelled) r.status = "cancelled";
    else if (run.timedOut) r.status = "timed_out";
    else if (r.signal) r.status = "signaled";
    r.o = { kept: run.out.kept, total: run.out.total };
    r.e = { kept: run.err.kept, total: run.err.total };
    for (const [s, key] of [
      [run.out, "ot"],
      [run.err, "et"],
    ] as const) {
      if (s.unacked === 0) continue;
      const t = s.tail();
      r[key] = { off: t.off, d: t.data.toString("base64") };
    }
    void this.link.commit([execDone(run.id), this.link.outgoing("exec.result", r)]).then(
      () => this.runs.delete(run.id),
      (err) => {
        run.finishing = false;
        this.log.error({ err, cmd: run.id }, "could not record a command's result; retrying");
        setTimeout(() => this.maybeFinish(run), 1000).unref();
      },
    );
  }

  /** Agent shutdown: kill running groups; they are reported lost at the next start. */
  stop(): void {
    clearInterval(this.ticker);
    for (const run of this.runs.values()) {
      const pid = run.child?.pid;
      if (pid !== undefined && !run.closed) {
        try {
          process.kill(-pid, "SIGKILL");
        } catch {}
      }
      clearTimeout(run.timer);
      clearTimeout(run.killTimer);
    }
  }
}

function blankResult(cmd: string, status: Result["status"]): Result {
  return {
    cmd,
    status,
    code: null,
    signal: null,
    error: null,
    durationMs: null,
    o: { kept: 0, total: 0 },
    e: { kept: 0, total: 0 },
  };
}

function describeSpawnError(file: string, err: NodeJS.ErrnoException): string {
  if (err.code === "ENOENT") return `${file}: command not found`;
  if (err.code === "EACCES") return `${file}: permission denied`;
  return `${file}: ${err.message}`;
}

/**
 * The terminal capability's runtime (docs/protocol.md §17.4): one process per shell session
 * the tunnel layer hands over, at most `maxShells` at once, each recorded in live.json while
 * it may have processes, and ended as a whole (its session: SIGHUP, SIGKILL 2 s later) when
 * it exits or its channel closes. At start, sessions a crashed run left are ended.
 */
import type { Logger } from "pino";
import { processStartTime } from "../../proc-stat.js";
import type { AgentChannel, ShellSession } from "../../tunnels/index.js";
import { bootId, type LiveEntry, LiveRecord, leftoverAlive } from "./live-record.js";
import { startPipes } from "./pipe-proc.js";
import type { SessionProc } from "./proc.js";
import { startPty } from "./pty-proc.js";
import { hangUpSession } from "./session-kill.js";
import { type PlanHost, planSpawn } from "./spawn-plan.js";

export const DEFAULT_MAX_SHELLS = 16;

export interface TerminalRuntimeOptions {
  dataDir: string;
  log: Logger;
  maxShells?: number;
  /** Grace between SIGHUP and SIGKILL when a session ends (default 2 s). */
  killGraceMs?: number;
  /** Tests: a passwd file and identity instead of the host's. */
  host?: PlanHost;
}

interface Live {
  id: string;
  pid: number;
}

export class TerminalRuntime {
  private readonly live = new Map<number, Live>();
  /** Hang-ups under way (SIGHUP sent, SIGKILL pending). */
  private readonly ending = new Set<Promise<void>>();
  private readonly record: LiveRecord;
  private readonly previous: LiveEntry[];
  private readonly max: number;
  private readonly log: Logger;

  constructor(private readonly o: TerminalRuntimeOptions) {
    this.log = o.log;
    this.max = o.maxShells ?? DEFAULT_MAX_SHELLS;
    this.record = new LiveRecord(o.dataDir);
    this.previous = this.record.load();
  }

  /** Sessions running now (their leaders). */
  sessions(): Live[] {
    return [...this.live.values()];
  }

  /** End what a previous run of the agent left running (it crashed or was killed). */
  async start(): Promise<void> {
    const ends: Promise<void>[] = [];
    for (const e of this.previous) {
      if (leftoverAlive(e)) {
        this.log.warn({ session: e.session, pid: e.sid }, "ending a shell session left by a previous run");
        ends.push(this.hangUp(e.sid));
      } else this.forget(e.sid);
    }
    await Promise.all(ends);
  }

  /** Agent stopping: hang up every session (the tunnel layer closes the channels too). */
  stop(): void {
    for (const l of this.live.values()) this.hangUp(l.pid);
  }

  /** Resolves once every hang-up begun so far is over (its processes gone, its entry forgotten). */
  async settled(): Promise<void> {
    while (this.ending.size > 0) await Promise.all([...this.ending]);
  }

  private hangUp(sid: number): Promise<void> {
    const p = hangUpSession(sid, this.o.killGraceMs).then(() => {
      this.forget(sid);
      this.ending.delete(p);
    });
    this.ending.add(p);
    return p;
  }

  handle(s: ShellSession): void {
    void this.run(s).catch((err: Error) =>
      this.log.error({ session: s.id, err: err.message }, "shell session failed"),
    );
  }

  private async run(s: ShellSession): Promise<void> {
    const ch = s.channel;
    ch.on("error", (err: Error) => this.log.debug({ session: s.id, err: err.message }, "channel error"));
    if (ch.destroyed) return;
    if (this.live.size >= this.max)
      return ch.fail(
        "TETHER_ERR_TUNNEL_LIMIT",
        `this device already runs ${this.max} shell sessions, the most it allows at once; close one and try again`,
      );
    const planned = planSpawn(s.spec, this.o.host);
    if (!planned.ok) {
      this.log.warn({ session: s.id, error: planned.message }, "shell session refused");
      return ch.fail(planned.code, planned.message);
    }
    const plan = planned.plan;
    let proc: SessionProc;
    try {
      proc = s.spec.pty ? startPty(ch, plan, s.spec.pty) : await startPipes(ch, plan);
    } catch (err) {
      const message = `${plan.what}: ${(err as Error).message}`;
      this.log.warn({ session: s.id, error: message }, "shell session could not start");
      return ch.fail("TETHER_ERR_SPAWN_FAILED", message);
    }
    const sid = proc.pid;
    this.live.set(sid, { id: s.id, pid: sid });
    this.remember({ session: s.id, sid, start: processStartTime(sid) ?? "", boot: bootId() });
    this.log.info(
      { session: s.id, user: plan.userName, what: plan.what, pid: sid, pty: s.spec.pty !== null },
      "shell session started",
    );

    let ended = false;
    const end = (why: string) => {
      if (ended) return;
      ended = true;
      this.live.delete(sid);
      this.log.info({ session: s.id, pid: sid, why }, "shell session ended");
      void this.hangUp(sid);
    };
    ch.once("close", () => end("channel closed"));
    if (ch.destroyed) end("channel closed");
    else ch.ready();

    const status = await proc.exited;
    await drained(ch);
    if (!ch.destroyed) ch.exit(status.code, status.signal);
    end(status.signal ? `exited on ${status.signal}` : `exited with ${status.code}`);
  }

  private remember(e: LiveEntry): void {
    try {
      this.record.add(e);
    } catch (err) {
      this.log.warn(
        { err: (err as Error).message, file: this.record.file },
        "cannot record a live shell session",
      );
    }
  }

  private forget(sid: number): void {
    try {
      this.record.remove(sid);
    } catch (err) {
      this.log.warn(
        { err: (err as Error).message, file: this.record.file },
        "cannot update the live shell sessions",
      );
    }
  }
}

/** Until the channel (and its stderr) took back what they buffered over their window, or closed. */
async function drained(ch: AgentChannel): Promise<void> {
  for (const w of [ch, ch.stderr]) {
    while (!ch.destroyed && w.writableNeedDrain) {
      await new Promise<void>((resolve) => {
        const done = () => {
          w.off("drain", done);
          ch.off("close", done);
          resolve();
        };
        w.once("drain", done);
        ch.once("close", done);
      });
    }
  }
}

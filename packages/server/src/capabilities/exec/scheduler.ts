/**
 * Scheduling (docs/protocol.md §13): runs start as `pending`; the pump starts as many as the
 * concurrency allows by putting an `exec.start` into each device's durable outbox in the same
 * transaction that marks the run `sent` (online) or `queued` (offline, with a queue TTL). A
 * sweeper expires undelivered starts by taking them back out of the outbox — only a start that
 * is still there can expire, so a command that reached a device is never reported as not run.
 */
import type { Principal } from "../../accounts.js";
import type { ControlLink, StoredMessage } from "../../control/link.js";
import type { DeviceRow, Devices } from "../../devices.js";
import { nowIso } from "../../store/db.js";
import type { Logger } from "pino";
import type { RunStatus } from "@tether/protocol";
import type { ExecEvents } from "./events.js";
import type { RunState } from "./run-state.js";
import type { Spool } from "./spool.js";
import type { ExecStore } from "./store.js";
import { type CommandRow, type CommandSpec, FAILURES, type RunRow, startBody, toRun } from "./views.js";

export interface SchedulerOptions {
  /** How often undelivered starts are checked for expiry. */
  sweepMs: number;
  /** Without --queue-ttl, a start not delivered within this long is reported offline. */
  deliverMs: number;
  /** A running command with no result this long after its timeout is reported lost. */
  lostGraceMs: number;
}

export class ExecScheduler {
  private readonly pumps = new Map<string, Promise<void>>();
  private readonly pumpWaiting = new Map<string, Promise<void>>();
  private lastLostCheck = 0;
  private sweeper?: NodeJS.Timeout;

  constructor(
    private readonly store: ExecStore,
    private readonly devices: Devices,
    private readonly link: ControlLink,
    private readonly events: ExecEvents,
    private readonly spool: Spool,
    private readonly state: RunState,
    private readonly log: Logger,
    private readonly opts: SchedulerOptions,
    /** The whole command as the API shows it (for the `done` event). */
    private readonly view: (p: Principal, id: string) => Promise<import("@tether/protocol").Command>,
  ) {}

  /** After a restart: resume every unfinished command and start the sweeper. */
  async start(): Promise<void> {
    for (const c of await this.store.unfinishedCommands()) void this.pump(c.id);
    this.sweeper = setInterval(
      () => void this.sweep().catch((err) => this.log.error({ err }, "exec sweep failed")),
      this.opts.sweepMs,
    );
    this.sweeper.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.allSettled([...this.pumps.values()]);
  }

  /** Start as many pending runs as the concurrency allows; one pump per command at a time. */
  pump(id: string): Promise<void> {
    // A pump that has not started yet will see every change made before it runs: share it.
    const waiting = this.pumpWaiting.get(id);
    if (waiting) return waiting;
    const prev = this.pumps.get(id) ?? Promise.resolve();
    const next = prev
      .then(() => {
        this.pumpWaiting.delete(id);
        return this.pumpNow(id);
      })
      .catch((err) => this.log.error({ err, command: id }, "exec pump failed"));
    this.pumpWaiting.set(id, next);
    this.pumps.set(id, next);
    void next.then(() => {
      if (this.pumps.get(id) === next) this.pumps.delete(id);
    });
    return next;
  }

  private async pumpNow(id: string): Promise<void> {
    for (;;) {
      const c = await this.store.command(id);
      if (!c || c.finished_at !== null) return;
      if (c.state !== "running") return this.checkDone(id);
      const counts = await this.store.statusCounts(id);
      const failures = FAILURES.reduce((n, s) => n + (counts.get(s) ?? 0), 0);
      const pending = counts.get("pending") ?? 0;
      if (pending === 0) return this.checkDone(id);
      if (c.max_failures !== null && failures >= c.max_failures) {
        const skipped = await this.store.skipPending(
          id,
          `not started: ${failures} device(s) failed (--max-failures ${c.max_failures})`,
        );
        for (const r of skipped) this.events.emit(id, { type: "run", run: toRun(r) });
        return this.checkDone(id);
      }
      const live = (["queued", "sent", "running"] as RunStatus[]).reduce(
        (n, s) => n + (counts.get(s) ?? 0),
        0,
      );
      const slots = c.concurrency === 0 ? pending : Math.min(pending, c.concurrency - live);
      if (slots <= 0) return;
      const spec = JSON.parse(c.spec) as CommandSpec;
      await this.startRuns(c, spec, await this.store.pendingRuns(id, slots));
    }
  }

  private async startRuns(c: CommandRow, spec: CommandSpec, batch: RunRow[]): Promise<void> {
    const now = Date.now();
    const body = startBody(c.id, spec);
    const go: { run: RunRow; device: DeviceRow; online: boolean }[] = [];
    const offline: RunRow[] = [];
    for (const r of batch) {
      const device = await this.devices.get(r.device_id);
      const online = this.link.isConnected(r.device_id);
      if (!device || device.state !== "accepted") {
        offline.push(r);
        continue;
      }
      if (!online && spec.queueTtlMs === 0) offline.push(r);
      else go.push({ run: r, device, online });
    }
    const at = nowIso();
    let stored: StoredMessage[] = [];
    const updated: RunRow[] = [];
    await this.store.db.transaction().execute(async (trx) => {
      stored = await this.link.enqueueIn(
        trx as never,
        go.map((g) => ({ deviceId: g.device.id, type: "exec.start" as const, body })),
      );
      for (let i = 0; i < go.length; i++) {
        const ttl = go[i].online ? Math.max(spec.queueTtlMs, this.opts.deliverMs) : spec.queueTtlMs;
        updated.push(
          await this.store.markStarting(trx, c.id, go[i].device.id, {
            status: go[i].online ? "sent" : "queued",
            mid: stored[i].mid,
            deliverBy: new Date(now + ttl).toISOString(),
          }),
        );
      }
      for (const r of offline) {
        updated.push(
          await this.store.finish(trx, r, {
            status: "offline",
            error: "the device is offline (use --queue-ttl to wait for it)",
            at,
          }),
        );
      }
    });
    for (const r of updated) this.events.emit(c.id, { type: "run", run: toRun(r) });
    for (let i = 0; i < go.length; i++) await this.link.flush(go[i].device, stored[i]);
  }

  /** Set a final status (only while the run is live: the agent's own report wins later). */
  async finish(r: RunRow, f: { status: RunStatus; error: string | null }): Promise<void> {
    this.state.ended(r.command_id, r.device_id, { keepMeta: true });
    const row = await this.store.db
      .transaction()
      .execute((trx) => this.store.finish(trx, r, { ...f, at: nowIso() }));
    this.events.emit(r.command_id, { type: "run", run: toRun(row) });
    await this.spool.close(r.command_id, r.device_id);
  }

  async checkDone(id: string): Promise<void> {
    if (await this.store.anyLive(id)) return;
    const r = await this.store.markFinished(id);
    if (!r || !this.events.listening(id)) return;
    const p = { projectId: r.project_id, project: await this.store.projectName(r.project_id) } as Principal;
    this.events.emit(id, { type: "done", command: await this.view(p, id) });
  }

  /** Expire undelivered starts; report runs lost that never answered. */
  async sweep(): Promise<void> {
    const touched = new Set<string>();
    for (const r of await this.store.dueStarts(nowIso())) {
      if (r.mid === null || !(await this.link.cancel(r.device_id, r.mid))) continue; // delivered
      await this.finish(r, {
        status: r.status === "queued" ? "expired" : "offline",
        error:
          r.status === "queued"
            ? "the device did not come back within the queue TTL; the command never ran"
            : "the device went offline before the command reached it; it never ran",
      });
      touched.add(r.command_id);
    }
    if (Date.now() - this.lastLostCheck < Math.min(30_000, this.opts.lostGraceMs)) {
      for (const id of touched) void this.pump(id);
      return;
    }
    this.lastLostCheck = Date.now();
    for (const r of await this.store.runningWithSpec()) {
      const spec = JSON.parse(r.spec) as CommandSpec;
      const started = r.started_at ? Date.parse(r.started_at) : 0;
      if (Date.now() < started + spec.timeoutMs + this.opts.lostGraceMs || this.link.isConnected(r.device_id))
        continue;
      await this.finish(r, {
        status: "lost",
        error:
          "no result from the device (offline) long after the timeout; a late result still replaces this",
      });
      touched.add(r.command_id);
    }
    for (const id of touched) void this.pump(id);
  }
}

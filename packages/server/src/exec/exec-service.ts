/**
 * Remote command execution, server side (docs/protocol.md §13).
 *
 * A command is one row plus one run per device. Runs start as `pending`; the pump starts
 * as many as the concurrency allows by putting an `exec.start` into each device's durable
 * outbox in the same transaction that marks the run `sent` (online) or `queued` (offline,
 * with a queue TTL). The agent's ack means it recorded "started" (→ `running`); its durable
 * `exec.result` is the final word. Output arrives as `exec.output` chunks under a credit
 * window and is spooled to disk. A sweeper expires undelivered starts by taking them back
 * out of the outbox — only a start that is still there can expire, so a command that
 * reached a device is never reported as not run.
 */
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import {
  type Command,
  type CommandEvent,
  type CommandRun,
  type CreateCommand,
  DEFAULT_OUTPUT_LIMIT,
  DEFAULT_TIMEOUT_MS,
  LIVE_RUN_STATUSES,
  MAX_STDIN_BYTES,
  type RunStatus,
  TetherError,
  type UpBody,
} from "@tether/protocol";
import type { Kysely, Transaction } from "kysely";
import type { Logger } from "pino";
import { type Principal, requireRole } from "../accounts.js";
import type { Audit } from "../audit.js";
import type { ControlService } from "../control/control-service.js";
import type { DeviceRow, Devices } from "../devices.js";
import { nowIso } from "../store/db.js";
import type { DB } from "../store/schema.js";
import { Spool, type StreamName } from "./spool.js";
import {
  type CommandRow,
  type CommandSpec,
  emptySummary,
  encodeOutput,
  FAILURES,
  type RunRow,
  toCommand,
  toRun,
} from "./views.js";

export interface ExecOptions {
  spoolDir: string;
  /** How often undelivered starts are checked for expiry. */
  sweepMs?: number;
  /** Without --queue-ttl, a start not delivered within this long is reported offline. */
  deliverMs?: number;
  /** A running command with no result this long after its timeout is reported lost. */
  lostGraceMs?: number;
}

/** Output event inside the server: carries the offset so late subscribers can de-duplicate. */
export type LiveEvent = CommandEvent | (CommandEvent & { type: "output"; off: number });

const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";
function commandId(): string {
  const b = randomBytes(20);
  let s = "cmd_";
  for (const x of b) s += ALPHABET[x % 36];
  return s;
}

const RESULT_STATUS: Record<UpBody<"exec.result">["status"], RunStatus> = {
  exited: "succeeded", // or failed, by exit code (below)
  signaled: "failed",
  timed_out: "timed_out",
  cancelled: "cancelled",
  lost: "lost",
  error: "error",
};

interface RunMeta {
  limit: number;
  deviceName: string;
}

export class ExecService {
  readonly spool: Spool;
  private readonly events = new EventEmitter();
  private readonly pumps = new Map<string, Promise<void>>();
  private readonly pumpWaiting = new Map<string, Promise<void>>();
  private lastLostCheck = 0;
  private readonly meta = new Map<string, RunMeta | null>();
  /** Runs this process has marked running (so `exec.started` needs no second write). */
  private readonly running = new Set<string>();
  private sweeper?: NodeJS.Timeout;
  private readonly sweepMs: number;
  private readonly deliverMs: number;
  private readonly lostGraceMs: number;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly devices: Devices,
    private readonly control: ControlService,
    private readonly audit: Audit,
    private readonly log: Logger,
    o: ExecOptions,
  ) {
    this.spool = new Spool(o.spoolDir);
    this.events.setMaxListeners(0);
    this.sweepMs = o.sweepMs ?? 1000;
    this.deliverMs = o.deliverMs ?? 30_000;
    this.lostGraceMs = o.lostGraceMs ?? 10 * 60_000;
  }

  /** After a restart: resume every unfinished command and start the sweeper. */
  async start(): Promise<void> {
    const open = await this.db.selectFrom("commands").select("id").where("finished_at", "is", null).execute();
    for (const c of open) void this.pump(c.id);
    this.sweeper = setInterval(
      () => void this.sweep().catch((err) => this.log.error({ err }, "exec sweep failed")),
      this.sweepMs,
    );
    this.sweeper.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.allSettled([...this.pumps.values()]);
    await this.spool.closeAll();
  }

  // --- API -------------------------------------------------------------------------------

  async create(p: Principal, input: CreateCommand): Promise<Command> {
    requireRole(p, "operator");
    const ways = [input.devices, input.selector, input.all ? true : undefined].filter((x) => x !== undefined);
    if (ways.length !== 1)
      throw new TetherError("TETHER_ERR_BAD_REQUEST", "name the devices one way: devices, selector or all");
    if (input.all) requireRole(p, "admin");
    if (
      input.argv.length === 0 ||
      input.argv[0] === "" ||
      (input.shell && input.argv.join(" ").trim() === "")
    )
      throw new TetherError("TETHER_ERR_BAD_REQUEST", "the command is empty");
    if (input.user) {
      const allowed = await this.execUsers(p.projectId);
      if (!allowed.includes(input.user))
        throw new TetherError(
          "TETHER_ERR_EXEC_USER_NOT_ALLOWED",
          allowed.length
            ? `commands in project ${p.project} may run as ${allowed.join(", ")} only, not ${input.user}`
            : `project ${p.project} allows no --user (commands run as the agent's own user); an admin can allow users with 'tether projects exec-users'`,
        );
    }
    if (input.stdin !== undefined) {
      const bytes = Buffer.from(input.stdin, "base64");
      if (bytes.length > MAX_STDIN_BYTES)
        throw new TetherError(
          "TETHER_ERR_PAYLOAD_TOO_LARGE",
          `stdin is ${bytes.length} bytes; at most ${MAX_STDIN_BYTES} are carried with a command`,
        );
    }
    const targets = await this.resolveTargets(p, input);
    const spec: CommandSpec = {
      argv: input.argv,
      shell: !!input.shell,
      cwd: input.cwd ?? null,
      env: input.env ?? {},
      user: input.user ?? null,
      timeoutMs: input.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      queueTtlMs: input.queueTtlMs ?? 0,
      outputLimit: input.outputLimit ?? DEFAULT_OUTPUT_LIMIT,
      ...(input.stdin !== undefined ? { stdin: input.stdin } : {}),
    };
    const target = input.devices
      ? { devices: input.devices }
      : input.selector !== undefined
        ? { selector: input.selector }
        : { all: true };
    const id = commandId();
    const at = nowIso();
    const actor = p.username;
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto("commands")
        .values({
          id,
          project_id: p.projectId,
          created_by: p.username,
          created_at: at,
          finished_at: null,
          state: "running",
          spec: JSON.stringify(spec),
          target: JSON.stringify(target),
          concurrency: input.concurrency ?? 100,
          max_failures: input.maxFailures ?? null,
        })
        .execute();
      for (let i = 0; i < targets.length; i += 500) {
        const part = targets.slice(i, i + 500);
        await trx
          .insertInto("command_runs")
          .values(
            part.map((d, j) => ({
              command_id: id,
              device_id: d.id,
              device_name: d.name,
              seq: i + j,
              status: "pending",
            })),
          )
          .execute();
        // Who ran what where (docs/architecture.md §3): one entry per device, found by `audit --device`.
        await trx
          .insertInto("audit")
          .values(
            part.map((d) => ({
              at,
              actor,
              action: "command.run",
              project_id: p.projectId,
              device_id: d.id,
              detail: JSON.stringify({
                command: id,
                name: d.name,
                argv: spec.argv,
                shell: spec.shell,
                user: spec.user,
                cwd: spec.cwd,
                env: Object.keys(spec.env),
                target,
              }),
            })),
          )
          .execute();
      }
    });
    this.log.info({ command: id, devices: targets.length, by: p.username }, "command created");
    await this.pump(id);
    return this.get(p, id);
  }

  private async resolveTargets(p: Principal, input: CreateCommand): Promise<DeviceRow[]> {
    if (input.devices) {
      const seen = new Map<string, DeviceRow>();
      for (const ref of input.devices) {
        const d = await this.devices.find(p.projectId, ref);
        if (d.state !== "accepted")
          throw new TetherError("TETHER_ERR_DEVICE_STATE", `device ${d.name} is ${d.state}, not accepted`);
        seen.set(d.id, d);
      }
      return [...seen.values()];
    }
    const rows = (await this.devices.list(p.projectId, input.selector)).filter((d) => d.state === "accepted");
    if (rows.length === 0)
      throw new TetherError(
        "TETHER_ERR_NO_DEVICES_MATCH",
        input.all
          ? `project ${p.project} has no accepted devices`
          : `no accepted device matches the selector ${JSON.stringify(input.selector)}`,
      );
    return rows;
  }

  async execUsers(projectId: number): Promise<string[]> {
    const r = await this.db
      .selectFrom("projects")
      .select("exec_users")
      .where("id", "=", projectId)
      .executeTakeFirst();
    return r ? JSON.parse(r.exec_users) : [];
  }

  async setExecUsers(p: Principal, users: string[]): Promise<string[]> {
    requireRole(p, "admin");
    const list = [...new Set(users)].sort();
    await this.db
      .updateTable("projects")
      .set({ exec_users: JSON.stringify(list) })
      .where("id", "=", p.projectId)
      .execute();
    await this.audit.write({
      actor: p.username,
      action: "project.exec-users",
      projectId: p.projectId,
      detail: { execUsers: list },
    });
    return list;
  }

  private async row(p: Principal, id: string): Promise<CommandRow> {
    const c = await this.db
      .selectFrom("commands")
      .selectAll()
      .where("id", "=", id)
      .where("project_id", "=", p.projectId)
      .executeTakeFirst();
    if (!c) throw new TetherError("TETHER_ERR_COMMAND_NOT_FOUND", `no command ${id} in this project`);
    return c;
  }

  async get(p: Principal, id: string, o: { output?: boolean } = {}): Promise<Command> {
    const c = await this.row(p, id);
    const rows = await this.db
      .selectFrom("command_runs")
      .selectAll()
      .where("command_id", "=", id)
      .orderBy("seq")
      .execute();
    const summary = emptySummary();
    const runs: CommandRun[] = [];
    for (const r of rows) {
      summary.total++;
      summary[r.status as RunStatus]++;
      const run = toRun(r);
      if (o.output) await this.attachOutput(run);
      runs.push(run);
    }
    return toCommand(c, p.project, summary, runs);
  }

  private async attachOutput(run: CommandRun): Promise<void> {
    const out = encodeOutput(await this.spool.read(run.command, run.deviceId, "stdout"));
    const err = encodeOutput(await this.spool.read(run.command, run.deviceId, "stderr"));
    run.stdout = out.text;
    run.stdoutEncoding = out.encoding;
    run.stderr = err.text;
    run.stderrEncoding = err.encoding;
  }

  async list(p: Principal, o: { device?: string; limit?: number } = {}): Promise<Command[]> {
    let q = this.db
      .selectFrom("commands")
      .selectAll("commands")
      .where("commands.project_id", "=", p.projectId)
      .orderBy("commands.created_at", "desc")
      .orderBy("commands.id", "desc")
      .limit(Math.min(o.limit ?? 50, 1000));
    if (o.device) {
      const d = await this.devices.find(p.projectId, o.device);
      q = q.where((eb) =>
        eb.exists(
          eb
            .selectFrom("command_runs")
            .select("command_runs.command_id")
            .whereRef("command_runs.command_id", "=", "commands.id")
            .where("command_runs.device_id", "=", d.id),
        ),
      );
    }
    const cmds = await q.execute();
    if (cmds.length === 0) return [];
    const counts = await this.db
      .selectFrom("command_runs")
      .select(["command_id", "status"])
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where(
        "command_id",
        "in",
        cmds.map((c) => c.id),
      )
      .groupBy(["command_id", "status"])
      .execute();
    const sums = new Map(cmds.map((c) => [c.id, emptySummary()]));
    for (const r of counts) {
      const s = sums.get(r.command_id)!;
      s[r.status as RunStatus] += Number(r.n);
      s.total += Number(r.n);
    }
    return cmds.map((c) => toCommand(c, p.project, sums.get(c.id)!));
  }

  /** Drop what has not started, kill what runs (durable cancel), keep what has finished. */
  async cancel(p: Principal, id: string): Promise<Command> {
    requireRole(p, "operator");
    const c = await this.row(p, id);
    if (c.finished_at === null) {
      await this.db.updateTable("commands").set({ state: "cancelled" }).where("id", "=", id).execute();
      const live = await this.db
        .selectFrom("command_runs")
        .selectAll()
        .where("command_id", "=", id)
        .where("status", "in", [...LIVE_RUN_STATUSES])
        .execute();
      const kill: RunRow[] = [];
      for (const r of live) {
        let dropped = r.status === "pending";
        if (!dropped && r.status !== "running" && r.mid !== null)
          dropped = await this.control.outbox.remove(r.device_id, r.mid);
        if (dropped) await this.finish(r, { status: "cancelled", error: "cancelled before it started" });
        else kill.push(r);
      }
      for (const r of kill) {
        const d = await this.devices.get(r.device_id);
        if (d) await this.control.enqueue(d, "exec.cancel", { cmd: id });
      }
      await this.audit.write({
        actor: p.username,
        action: "command.cancel",
        projectId: p.projectId,
        detail: { command: id, dropped: live.length - kill.length, killed: kill.length },
      });
      await this.checkDone(id);
    }
    return this.get(p, id);
  }

  /** Live events of one command; returns the unsubscribe function. */
  subscribe(id: string, fn: (e: LiveEvent) => void): () => void {
    this.events.on(id, fn);
    return () => this.events.off(id, fn);
  }

  // --- scheduling ------------------------------------------------------------------------

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
      const c = await this.db.selectFrom("commands").selectAll().where("id", "=", id).executeTakeFirst();
      if (!c || c.finished_at !== null) return;
      if (c.state !== "running") return this.checkDone(id);
      const counts = await this.statusCounts(id);
      const failures = FAILURES.reduce((n, s) => n + (counts.get(s) ?? 0), 0);
      const pending = counts.get("pending") ?? 0;
      if (pending === 0) return this.checkDone(id);
      if (c.max_failures !== null && failures >= c.max_failures) {
        const skipped = await this.db
          .updateTable("command_runs")
          .set({
            status: "skipped",
            error: `not started: ${failures} device(s) failed (--max-failures ${c.max_failures})`,
            finished_at: nowIso(),
          })
          .where("command_id", "=", id)
          .where("status", "=", "pending")
          .returningAll()
          .execute();
        for (const r of skipped) this.emit(id, { type: "run", run: toRun(r) });
        return this.checkDone(id);
      }
      const live = ["queued", "sent", "running"].reduce((n, s) => n + (counts.get(s as RunStatus) ?? 0), 0);
      const slots = c.concurrency === 0 ? pending : Math.min(pending, c.concurrency - live);
      if (slots <= 0) return;
      const spec = JSON.parse(c.spec) as CommandSpec;
      const batch = await this.db
        .selectFrom("command_runs")
        .selectAll()
        .where("command_id", "=", id)
        .where("status", "=", "pending")
        .orderBy("seq")
        .limit(slots)
        .execute();
      await this.startRuns(c, spec, batch);
    }
  }

  private async statusCounts(id: string): Promise<Map<RunStatus, number>> {
    const rows = await this.db
      .selectFrom("command_runs")
      .select("status")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("command_id", "=", id)
      .groupBy("status")
      .execute();
    return new Map(rows.map((r) => [r.status as RunStatus, Number(r.n)]));
  }

  private async startRuns(c: CommandRow, spec: CommandSpec, batch: RunRow[]): Promise<void> {
    const now = Date.now();
    const body = {
      cmd: c.id,
      argv: spec.argv,
      shell: spec.shell,
      ...(spec.cwd ? { cwd: spec.cwd } : {}),
      ...(Object.keys(spec.env).length ? { env: spec.env } : {}),
      ...(spec.user ? { user: spec.user } : {}),
      timeoutMs: spec.timeoutMs,
      limit: spec.outputLimit,
      ...(spec.stdin !== undefined ? { stdin: spec.stdin } : {}),
    };
    const go: { run: RunRow; device: DeviceRow; online: boolean }[] = [];
    const offline: RunRow[] = [];
    for (const r of batch) {
      const device = await this.devices.get(r.device_id);
      const online = this.control.isConnected(r.device_id);
      if (!device || device.state !== "accepted") {
        offline.push(r);
        continue;
      }
      if (!online && spec.queueTtlMs === 0) offline.push(r);
      else go.push({ run: r, device, online });
    }
    const at = nowIso();
    let stored: { mid: number; type: string; body: unknown }[] = [];
    const updated: RunRow[] = [];
    await this.db.transaction().execute(async (trx) => {
      stored = await this.control.outbox.addMany(
        trx,
        go.map((g) => ({ deviceId: g.device.id, type: "exec.start", body })),
      );
      for (let i = 0; i < go.length; i++) {
        const ttl = go[i].online ? Math.max(spec.queueTtlMs, this.deliverMs) : spec.queueTtlMs;
        const r = await trx
          .updateTable("command_runs")
          .set({
            status: go[i].online ? "sent" : "queued",
            mid: stored[i].mid,
            deliver_by: new Date(now + ttl).toISOString(),
          })
          .where("command_id", "=", c.id)
          .where("device_id", "=", go[i].device.id)
          .returningAll()
          .executeTakeFirstOrThrow();
        updated.push(r);
      }
      for (const r of offline) {
        updated.push(
          await this.finishIn(trx, r, {
            status: "offline",
            error: "the device is offline (use --queue-ttl to wait for it)",
            at,
          }),
        );
      }
    });
    for (const r of updated) this.emit(c.id, { type: "run", run: toRun(r) });
    for (let i = 0; i < go.length; i++) await this.control.publishStored(go[i].device, stored[i]);
  }

  /** Set a final status (only while the run is live: the agent's own report wins later). */
  private async finish(r: RunRow, f: { status: RunStatus; error: string | null }): Promise<void> {
    this.running.delete(`${r.command_id}/${r.device_id}`);
    const row = await this.db.transaction().execute((trx) => this.finishIn(trx, r, { ...f, at: nowIso() }));
    this.emit(r.command_id, { type: "run", run: toRun(row) });
    await this.spool.close(r.command_id, r.device_id);
  }

  private async finishIn(
    trx: Transaction<DB>,
    r: RunRow,
    f: { status: RunStatus; error: string | null; at: string },
  ): Promise<RunRow> {
    return (
      (await trx
        .updateTable("command_runs")
        .set({ status: f.status, error: f.error, finished_at: f.at, mid: null })
        .where("command_id", "=", r.command_id)
        .where("device_id", "=", r.device_id)
        .returningAll()
        .executeTakeFirst()) ?? r
    );
  }

  private async checkDone(id: string): Promise<void> {
    const left = await this.db
      .selectFrom("command_runs")
      .select("device_id")
      .where("command_id", "=", id)
      .where("status", "in", [...LIVE_RUN_STATUSES])
      .limit(1)
      .execute();
    if (left.length) return;
    const at = nowIso();
    const r = await this.db
      .updateTable("commands")
      .set((eb) => ({
        finished_at: at,
        state: eb.case().when("state", "=", "cancelled").then("cancelled").else("done").end(),
      }))
      .where("id", "=", id)
      .where("finished_at", "is", null)
      .returning(["project_id"])
      .executeTakeFirst();
    if (!r || this.events.listenerCount(id) === 0) return;
    const project = await this.db
      .selectFrom("projects")
      .select("name")
      .where("id", "=", r.project_id)
      .executeTakeFirst();
    const p = { projectId: r.project_id, project: project?.name ?? "" } as Principal;
    this.emit(id, { type: "done", command: await this.get(p, id) });
  }

  /** Expire undelivered starts; report runs lost that never answered. */
  async sweep(): Promise<void> {
    const now = nowIso();
    const due = await this.db
      .selectFrom("command_runs")
      .selectAll()
      .where("status", "in", ["queued", "sent"])
      .where("deliver_by", "<", now)
      .execute();
    const touched = new Set<string>();
    for (const r of due) {
      if (r.mid === null || !(await this.control.outbox.remove(r.device_id, r.mid))) continue; // delivered
      await this.finish(r, {
        status: r.status === "queued" ? "expired" : "offline",
        error:
          r.status === "queued"
            ? "the device did not come back within the queue TTL; the command never ran"
            : "the device went offline before the command reached it; it never ran",
      });
      touched.add(r.command_id);
    }
    if (Date.now() - this.lastLostCheck < Math.min(30_000, this.lostGraceMs)) {
      for (const id of touched) void this.pump(id);
      return;
    }
    this.lastLostCheck = Date.now();
    const running = await this.db
      .selectFrom("command_runs")
      .innerJoin("commands", "commands.id", "command_runs.command_id")
      .selectAll("command_runs")
      .select("commands.spec")
      .where("command_runs.status", "=", "running")
      .execute();
    for (const r of running) {
      const spec = JSON.parse(r.spec) as CommandSpec;
      const started = r.started_at ? Date.parse(r.started_at) : 0;
      if (Date.now() < started + spec.timeoutMs + this.lostGraceMs || this.control.isConnected(r.device_id))
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

  // --- control channel -------------------------------------------------------------------

  /** The agent acknowledged `exec.start`: it has recorded "started" and spawns now. */
  async onDelivered(device: DeviceRow, body: { cmd: string }): Promise<void> {
    const r = await this.db
      .updateTable("command_runs")
      .set({ status: "running", mid: null, started_at: nowIso() })
      .where("command_id", "=", body.cmd)
      .where("device_id", "=", device.id)
      .where("status", "in", ["queued", "sent"])
      .returningAll()
      .executeTakeFirst();
    if (r) {
      this.running.add(`${body.cmd}/${device.id}`);
      this.emit(body.cmd, { type: "run", run: toRun(r) });
    }
  }

  /** `exec.started`: the process exists. A start we had given up on is running after all. */
  async onStarted(device: DeviceRow, b: UpBody<"exec.started">): Promise<void> {
    if (this.running.has(`${b.cmd}/${device.id}`)) return; // its ack already said so
    const r = await this.db
      .updateTable("command_runs")
      .set((eb) => ({
        status: "running",
        mid: null,
        error: null,
        finished_at: null,
        started_at: eb.fn.coalesce("started_at", eb.val(nowIso())),
      }))
      .where("command_id", "=", b.cmd)
      .where("device_id", "=", device.id)
      .where("status", "in", ["queued", "sent", "running", "offline", "expired", "cancelled"])
      .returningAll()
      .executeTakeFirst();
    if (!r) return;
    this.emit(b.cmd, { type: "run", run: toRun(r) });
    const c = await this.db.selectFrom("commands").select("state").where("id", "=", b.cmd).executeTakeFirst();
    if (c?.state === "cancelled") await this.control.enqueue(device, "exec.cancel", { cmd: b.cmd });
  }

  private async runMeta(cmd: string, deviceId: string, db: Kysely<DB> = this.db): Promise<RunMeta | null> {
    const key = `${cmd}/${deviceId}`;
    if (this.meta.has(key)) return this.meta.get(key)!;
    const r = await db
      .selectFrom("command_runs")
      .innerJoin("commands", "commands.id", "command_runs.command_id")
      .select(["commands.spec", "command_runs.device_name"])
      .where("command_runs.command_id", "=", cmd)
      .where("command_runs.device_id", "=", deviceId)
      .executeTakeFirst();
    const m = r
      ? { limit: (JSON.parse(r.spec) as CommandSpec).outputLimit, deviceName: r.device_name }
      : null;
    if (this.meta.size > 100_000) this.meta.clear();
    this.meta.set(key, m);
    return m;
  }

  /** `exec.output`: store what follows the stored bytes, answer with the credit. */
  async onOutput(device: DeviceRow, b: UpBody<"exec.output">): Promise<void> {
    const stream: StreamName = b.s === "o" ? "stdout" : "stderr";
    const data = Buffer.from(b.d, "base64");
    const m = await this.runMeta(b.cmd, device.id);
    // A chunk went missing (the offset is past what is stored): ask for everything after it.
    const resend = m ? !(await this.store(b.cmd, device, m, stream, b.off, data)) : false;
    const [o, e] = m
      ? [await this.spool.size(b.cmd, device.id, "stdout"), await this.spool.size(b.cmd, device.id, "stderr")]
      : // Unknown command (deleted): take the bytes so the agent can finish.
        b.s === "o"
        ? [b.off + data.length, 0]
        : [0, b.off + data.length];
    await this.control
      .sendNow(device, "exec.ack", { cmd: b.cmd, o, e, ...(resend ? { resend } : {}) })
      .catch(() => {}); // offline: the agent re-sends after its next handshake
  }

  /** Append what continues the stored output (capped at the limit); false on a gap. */
  private async store(
    cmd: string,
    device: DeviceRow,
    m: RunMeta,
    stream: StreamName,
    off: number,
    data: Buffer,
  ): Promise<boolean> {
    const size = await this.spool.size(cmd, device.id, stream);
    if (off > size) return false;
    if (off + data.length > size && size < m.limit) {
      const fresh = data.subarray(size - off, size - off + (m.limit - size));
      await this.spool.append(cmd, device.id, stream, fresh);
      this.emit(cmd, {
        type: "output",
        deviceId: device.id,
        device: m.deviceName,
        stream,
        data: fresh.toString("base64"),
        off: size,
      });
    }
    return true;
  }

  /** `exec.result` (durable, inside the batch transaction): the final word. */
  async onResult(
    trx: Transaction<DB> | Kysely<DB>,
    device: DeviceRow,
    b: UpBody<"exec.result">,
    after: (fn: () => void) => void,
  ): Promise<void> {
    // Output the server had not acknowledged rides inside the result (§13).
    // (Inside the batch transaction: on SQLite its one connection is ours, so use `trx`.)
    const m = b.ot || b.et ? await this.runMeta(b.cmd, device.id, trx) : null;
    if (m && b.ot) await this.store(b.cmd, device, m, "stdout", b.ot.off, Buffer.from(b.ot.d, "base64"));
    if (m && b.et) await this.store(b.cmd, device, m, "stderr", b.et.off, Buffer.from(b.et.d, "base64"));
    let status = RESULT_STATUS[b.status];
    if (b.status === "exited" && b.code !== 0) status = "failed";
    const finishedAt = nowIso();
    const r = await trx
      .updateTable("command_runs")
      .set((eb) => ({
        status,
        exit_code: b.code,
        signal: b.signal,
        error: b.error,
        mid: null,
        stdout_bytes: b.o.kept,
        stderr_bytes: b.e.kept,
        stdout_truncated: b.o.total > b.o.kept ? 1 : 0,
        stderr_truncated: b.e.total > b.e.kept ? 1 : 0,
        finished_at: finishedAt,
        duration_ms: b.durationMs,
        started_at:
          b.durationMs !== null
            ? eb.fn.coalesce("started_at", eb.val(new Date(Date.now() - b.durationMs).toISOString()))
            : eb.ref("started_at"),
      }))
      .where("command_id", "=", b.cmd)
      .where("device_id", "=", device.id)
      .returningAll()
      .executeTakeFirst();
    if (!r) return; // a command deleted meanwhile
    after(() => {
      this.meta.delete(`${b.cmd}/${device.id}`);
      this.running.delete(`${b.cmd}/${device.id}`);
      this.emit(b.cmd, { type: "run", run: toRun(r) });
      void this.spool.close(b.cmd, device.id);
      void this.pump(b.cmd);
    });
  }

  /** Revocation: nothing more starts on the device; what it was running is lost to us. */
  async revoke(device: DeviceRow): Promise<void> {
    const live = await this.db
      .selectFrom("command_runs")
      .selectAll()
      .where("device_id", "=", device.id)
      .where("status", "in", [...LIVE_RUN_STATUSES])
      .execute();
    for (const r of live) {
      await this.finish(r, {
        status: r.status === "running" ? "lost" : "cancelled",
        error: "the device was revoked",
      });
      void this.pump(r.command_id);
    }
  }

  private emit(id: string, e: LiveEvent): void {
    if (this.events.listenerCount(id)) this.events.emit(id, e);
  }
}

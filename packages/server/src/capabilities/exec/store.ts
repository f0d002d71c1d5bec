/** Every query of the exec capability (docs/protocol.md §13): commands and their per-device runs. */
import { LIVE_RUN_STATUSES, type RunStatus, type UpBody } from "@tether/protocol";
import type { Insertable, Kysely, Transaction } from "kysely";
import type { DeviceRow } from "../../devices.js";
import { nowIso } from "../../store/db.js";
import type { AuditTable, DB } from "../../store/schema.js";
import { type ExecDB, execDb } from "./schema.js";
import type { CommandRow, CommandSpec, RunRow } from "./views.js";

export type Tx = Kysely<ExecDB> | Transaction<ExecDB>;

export interface NewCommand {
  id: string;
  projectId: number;
  createdBy: string;
  at: string;
  spec: CommandSpec;
  target: unknown;
  concurrency: number;
  maxFailures: number | null;
}

export type AuditRow = Insertable<AuditTable>;

export class ExecStore {
  readonly db: Kysely<ExecDB>;

  constructor(db: Kysely<DB>) {
    this.db = execDb(db);
  }

  /** A view of a transaction handed over by the control channel's durable inbox. */
  tx(trx: Kysely<DB>): Kysely<ExecDB> {
    return execDb(trx);
  }

  /** The command, its runs and one audit entry per device, in one transaction. */
  async insertCommand(c: NewCommand, targets: DeviceRow[], audit: (part: DeviceRow[]) => AuditRow[]) {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto("commands")
        .values({
          id: c.id,
          project_id: c.projectId,
          created_by: c.createdBy,
          created_at: c.at,
          finished_at: null,
          state: "running",
          spec: JSON.stringify(c.spec),
          target: JSON.stringify(c.target),
          concurrency: c.concurrency,
          max_failures: c.maxFailures,
        })
        .execute();
      for (let i = 0; i < targets.length; i += 500) {
        const part = targets.slice(i, i + 500);
        await trx
          .insertInto("command_runs")
          .values(
            part.map((d, j) => ({
              command_id: c.id,
              device_id: d.id,
              device_name: d.name,
              seq: i + j,
              status: "pending",
            })),
          )
          .execute();
        await trx.insertInto("audit").values(audit(part)).execute();
      }
    });
  }

  async execUsers(projectId: number): Promise<string[]> {
    const r = await this.db
      .selectFrom("projects")
      .select("exec_users")
      .where("id", "=", projectId)
      .executeTakeFirst();
    return r ? JSON.parse(r.exec_users) : [];
  }

  async setExecUsers(projectId: number, list: string[]): Promise<void> {
    await this.db
      .updateTable("projects")
      .set({ exec_users: JSON.stringify(list) })
      .where("id", "=", projectId)
      .execute();
  }

  async projectName(projectId: number): Promise<string> {
    const r = await this.db
      .selectFrom("projects")
      .select("name")
      .where("id", "=", projectId)
      .executeTakeFirst();
    return r?.name ?? "";
  }

  command(id: string, projectId?: number): Promise<CommandRow | undefined> {
    let q = this.db.selectFrom("commands").selectAll().where("id", "=", id);
    if (projectId !== undefined) q = q.where("project_id", "=", projectId);
    return q.executeTakeFirst();
  }

  unfinishedCommands(): Promise<{ id: string }[]> {
    return this.db.selectFrom("commands").select("id").where("finished_at", "is", null).execute();
  }

  runs(commandId: string): Promise<RunRow[]> {
    return this.db
      .selectFrom("command_runs")
      .selectAll()
      .where("command_id", "=", commandId)
      .orderBy("seq")
      .execute();
  }

  /**
   * The run of a command on DEVICE (its id or name): at most two rows, the second only to tell
   * that a name is ambiguous (a run matched by id is taken first).
   */
  runOf(commandId: string, ref: string): Promise<RunRow[]> {
    return this.db
      .selectFrom("command_runs")
      .selectAll()
      .where("command_id", "=", commandId)
      .where((eb) => eb.or([eb("device_id", "=", ref), eb("device_name", "=", ref)]))
      .orderBy("seq")
      .limit(2)
      .execute();
  }

  /** Newest first; with `deviceId`, only commands that ran there. */
  listCommands(projectId: number, limit: number, deviceId?: string): Promise<CommandRow[]> {
    let q = this.db
      .selectFrom("commands")
      .selectAll("commands")
      .where("commands.project_id", "=", projectId)
      .orderBy("commands.created_at", "desc")
      .orderBy("commands.id", "desc")
      .limit(limit);
    if (deviceId) {
      q = q.where((eb) =>
        eb.exists(
          eb
            .selectFrom("command_runs")
            .select("command_runs.command_id")
            .whereRef("command_runs.command_id", "=", "commands.id")
            .where("command_runs.device_id", "=", deviceId),
        ),
      );
    }
    return q.execute();
  }

  /** One device's runs of the given commands. */
  runsOfDevice(ids: string[], deviceId: string): Promise<RunRow[]> {
    return this.db
      .selectFrom("command_runs")
      .selectAll()
      .where("command_id", "in", ids)
      .where("device_id", "=", deviceId)
      .execute();
  }

  /** Run counts by command and status. */
  async countsByCommand(ids: string[]): Promise<{ command_id: string; status: RunStatus; n: number }[]> {
    const rows = await this.db
      .selectFrom("command_runs")
      .select(["command_id", "status"])
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("command_id", "in", ids)
      .groupBy(["command_id", "status"])
      .execute();
    return rows.map((r) => ({ command_id: r.command_id, status: r.status as RunStatus, n: Number(r.n) }));
  }

  async statusCounts(id: string): Promise<Map<RunStatus, number>> {
    const rows = await this.db
      .selectFrom("command_runs")
      .select("status")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("command_id", "=", id)
      .groupBy("status")
      .execute();
    return new Map(rows.map((r) => [r.status as RunStatus, Number(r.n)]));
  }

  async setCancelled(id: string): Promise<void> {
    await this.db.updateTable("commands").set({ state: "cancelled" }).where("id", "=", id).execute();
  }

  liveRuns(by: { commandId: string } | { deviceId: string }): Promise<RunRow[]> {
    let q = this.db
      .selectFrom("command_runs")
      .selectAll()
      .where("status", "in", [...LIVE_RUN_STATUSES]);
    q = "commandId" in by ? q.where("command_id", "=", by.commandId) : q.where("device_id", "=", by.deviceId);
    return q.execute();
  }

  skipPending(id: string, error: string): Promise<RunRow[]> {
    return this.db
      .updateTable("command_runs")
      .set({ status: "skipped", error, finished_at: nowIso() })
      .where("command_id", "=", id)
      .where("status", "=", "pending")
      .returningAll()
      .execute();
  }

  pendingRuns(id: string, limit: number): Promise<RunRow[]> {
    return this.db
      .selectFrom("command_runs")
      .selectAll()
      .where("command_id", "=", id)
      .where("status", "=", "pending")
      .orderBy("seq")
      .limit(limit)
      .execute();
  }

  markStarting(
    trx: Tx,
    commandId: string,
    deviceId: string,
    s: { status: "sent" | "queued"; mid: number; deliverBy: string },
  ): Promise<RunRow> {
    return trx
      .updateTable("command_runs")
      .set({ status: s.status, mid: s.mid, deliver_by: s.deliverBy })
      .where("command_id", "=", commandId)
      .where("device_id", "=", deviceId)
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  /** Set a final status; the row as it was if it is gone. */
  async finish(
    trx: Tx,
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

  async anyLive(id: string): Promise<boolean> {
    const left = await this.db
      .selectFrom("command_runs")
      .select("device_id")
      .where("command_id", "=", id)
      .where("status", "in", [...LIVE_RUN_STATUSES])
      .limit(1)
      .execute();
    return left.length > 0;
  }

  /** Mark the command finished (done, or cancelled if it was); its project id, once. */
  markFinished(id: string): Promise<{ project_id: number } | undefined> {
    return this.db
      .updateTable("commands")
      .set((eb) => ({
        finished_at: nowIso(),
        state: eb.case().when("state", "=", "cancelled").then("cancelled").else("done").end(),
      }))
      .where("id", "=", id)
      .where("finished_at", "is", null)
      .returning(["project_id"])
      .executeTakeFirst();
  }

  dueStarts(now: string): Promise<RunRow[]> {
    return this.db
      .selectFrom("command_runs")
      .selectAll()
      .where("status", "in", ["queued", "sent"])
      .where("deliver_by", "<", now)
      .execute();
  }

  runningWithSpec(): Promise<(RunRow & { spec: string })[]> {
    return this.db
      .selectFrom("command_runs")
      .innerJoin("commands", "commands.id", "command_runs.command_id")
      .selectAll("command_runs")
      .select("commands.spec")
      .where("command_runs.status", "=", "running")
      .execute();
  }

  /** The agent acknowledged `exec.start`. */
  markRunning(commandId: string, deviceId: string): Promise<RunRow | undefined> {
    return this.db
      .updateTable("command_runs")
      .set({ status: "running", mid: null, started_at: nowIso() })
      .where("command_id", "=", commandId)
      .where("device_id", "=", deviceId)
      .where("status", "in", ["queued", "sent"])
      .returningAll()
      .executeTakeFirst();
  }

  /** `exec.started` for a run given up on: running after all. */
  reviveRun(commandId: string, deviceId: string): Promise<RunRow | undefined> {
    return this.db
      .updateTable("command_runs")
      .set((eb) => ({
        status: "running",
        mid: null,
        error: null,
        finished_at: null,
        started_at: eb.fn.coalesce("started_at", eb.val(nowIso())),
      }))
      .where("command_id", "=", commandId)
      .where("device_id", "=", deviceId)
      .where("status", "in", ["queued", "sent", "running", "offline", "expired", "cancelled"])
      .returningAll()
      .executeTakeFirst();
  }

  async commandState(id: string): Promise<string | undefined> {
    const c = await this.db.selectFrom("commands").select("state").where("id", "=", id).executeTakeFirst();
    return c?.state;
  }

  /** What output handling needs of a run: its limit and device name. */
  async runMeta(db: Kysely<ExecDB>, cmd: string, deviceId: string) {
    const r = await db
      .selectFrom("command_runs")
      .innerJoin("commands", "commands.id", "command_runs.command_id")
      .select(["commands.spec", "command_runs.device_name"])
      .where("command_runs.command_id", "=", cmd)
      .where("command_runs.device_id", "=", deviceId)
      .executeTakeFirst();
    return r ? { limit: (JSON.parse(r.spec) as CommandSpec).outputLimit, deviceName: r.device_name } : null;
  }

  /** The agent's final word, inside the durable inbox's transaction. */
  storeResult(
    trx: Kysely<ExecDB>,
    deviceId: string,
    b: UpBody<"exec.result">,
    status: RunStatus,
  ): Promise<RunRow | undefined> {
    return trx
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
        finished_at: nowIso(),
        duration_ms: b.durationMs,
        started_at:
          b.durationMs !== null
            ? eb.fn.coalesce("started_at", eb.val(new Date(Date.now() - b.durationMs).toISOString()))
            : eb.ref("started_at"),
      }))
      .where("command_id", "=", b.cmd)
      .where("device_id", "=", deviceId)
      .returningAll()
      .executeTakeFirst();
  }
}

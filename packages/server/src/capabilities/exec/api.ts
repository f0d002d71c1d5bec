/**
 * What users do with commands (docs/protocol.md §13): run on devices named by id, selector or
 * all; show, list, cancel; the project's exec users; revocation of a device.
 */
import { randomBytes } from "node:crypto";
import {
  type Command,
  type CommandOutputPage,
  type CommandRun,
  type CreateCommand,
  DEFAULT_OUTPUT_LIMIT,
  DEFAULT_TIMEOUT_MS,
  decodeDown,
  encodeMessage,
  MAX_MESSAGE_BYTES,
  MAX_STDIN_BYTES,
  TetherError,
} from "@tether/protocol";
import type { Logger } from "pino";
import { type Principal, requireRole } from "../../accounts.js";
import type { Audit } from "../../audit.js";
import type { ControlLink } from "../../control/link.js";
import type { DeviceRow, Devices } from "../../devices.js";
import { nowIso } from "../../store/db.js";
import type { ExecScheduler } from "./scheduler.js";
import type { Spool, StreamName } from "./spool.js";
import type { ExecStore } from "./store.js";
import {
  type CommandSpec,
  emptySummary,
  encodeOutput,
  type RunRow,
  startBody,
  toCommand,
  toRun,
  utf8Boundary,
} from "./views.js";

/** How much stored output one answer carries (docs/protocol.md §13 "Reading output"). */
export interface OutputPaging {
  /** Bytes of one stream of one run per answer (and the most one /output page carries). */
  pageBytes: number;
  /** Bytes of output in one GET /commands/{id}?output=1 answer, all runs together. */
  responseBytes: number;
}

export const DEFAULT_OUTPUT_PAGING: OutputPaging = { pageBytes: 1024 * 1024, responseBytes: 8 * 1024 * 1024 };

/** The largest mid a device's outbox can give (the size check counts its digits). */
const MAX_MID = Number.MAX_SAFE_INTEGER;

const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";
function commandId(): string {
  const b = randomBytes(20);
  let s = "cmd_";
  for (const x of b) s += ALPHABET[x % 36];
  return s;
}

const ids = (cmds: { id: string }[]) => cmds.map((c) => c.id);

export class ExecApi {
  constructor(
    private readonly store: ExecStore,
    private readonly devices: Devices,
    private readonly link: ControlLink,
    private readonly audit: Audit,
    private readonly spool: Spool,
    private readonly scheduler: ExecScheduler,
    private readonly log: Logger,
    private readonly paging: OutputPaging = DEFAULT_OUTPUT_PAGING,
  ) {}

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
      const allowed = await this.store.execUsers(p.projectId);
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
    const id = commandId();
    this.checkStartMessage(id, spec);
    const targets = await this.resolveTargets(p, input);
    // Devices named by id are shown to people by name: keep the names they had at the start
    // (only when what was written is not already those names).
    const names = targets.map((d) => d.name);
    const asNamed = input.devices?.length === names.length && input.devices.every((r, i) => r === names[i]);
    const target = input.devices
      ? { devices: input.devices, ...(asNamed ? {} : { deviceNames: names }) }
      : input.selector !== undefined
        ? { selector: input.selector }
        : { all: true };
    const at = nowIso();
    await this.store.insertCommand(
      {
        id,
        projectId: p.projectId,
        createdBy: p.username,
        at,
        spec,
        target,
        concurrency: input.concurrency ?? 100,
        maxFailures: input.maxFailures ?? null,
      },
      targets,
      // Who ran what where (docs/architecture.md §3): one entry per device, found by `audit --device`.
      (part) =>
        part.map((d) => ({
          at,
          actor: p.username,
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
    );
    this.log.info({ command: id, devices: targets.length, by: p.username }, "command created");
    await this.scheduler.pump(id);
    return this.get(p, id);
  }

  /**
   * The command travels to each device as one `exec.start` control message: refuse here what
   * the agent would drop (over MAX_MESSAGE_BYTES once encoded, or outside its schema) rather
   * than accept it and report it "offline" later.
   */
  private checkStartMessage(id: string, spec: CommandSpec): void {
    const msg = encodeMessage({ t: "exec.start", mid: MAX_MID, b: startBody(id, spec) });
    if (msg.length > MAX_MESSAGE_BYTES) {
      this.log.info({ bytes: msg.length, limit: MAX_MESSAGE_BYTES }, "command refused: exec.start too large");
      throw new TetherError(
        "TETHER_ERR_PAYLOAD_TOO_LARGE",
        `the command is too large to send: its exec.start message would be ${msg.length} bytes (argv, env, cwd and stdin together); a control message carries at most ${MAX_MESSAGE_BYTES} bytes (256 KiB)`,
      );
    }
    try {
      decodeDown(msg);
    } catch (err) {
      throw new TetherError(
        "TETHER_ERR_BAD_REQUEST",
        `the command cannot be sent to a device: ${(err as Error).message}`,
      );
    }
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

  execUsers(projectId: number): Promise<string[]> {
    return this.store.execUsers(projectId);
  }

  async setExecUsers(p: Principal, users: string[]): Promise<string[]> {
    requireRole(p, "admin");
    const list = [...new Set(users)].sort();
    await this.store.setExecUsers(p.projectId, list);
    await this.audit.write({
      actor: p.username,
      action: "project.exec-users",
      projectId: p.projectId,
      detail: { execUsers: list },
    });
    return list;
  }

  private async row(p: Principal, id: string) {
    const c = await this.store.command(id, p.projectId);
    if (!c) throw new TetherError("TETHER_ERR_COMMAND_NOT_FOUND", `no command ${id} in this project`);
    return c;
  }

  async get(p: Principal, id: string, o: { output?: boolean } = {}): Promise<Command> {
    const c = await this.row(p, id);
    const summary = emptySummary();
    const runs: CommandRun[] = [];
    const budget = { left: this.paging.responseBytes, paged: 0 };
    for (const r of await this.store.runs(id)) {
      summary.total++;
      summary[r.status as keyof typeof summary]++;
      const run = toRun(r);
      if (o.output) {
        await this.attachOutput(run, "stdout", budget);
        await this.attachOutput(run, "stderr", budget);
      }
      runs.push(run);
    }
    if (budget.paged)
      this.log.info(
        { command: id, streams: budget.paged, pageBytes: this.paging.pageBytes },
        "stored output answered in part; the rest is paged (GET /commands/{id}/output)",
      );
    return toCommand(c, p.project, summary, runs);
  }

  /** At most a page of one stream, within what is left of the answer's budget; `…Next` when more is stored. */
  private async attachOutput(
    run: CommandRun,
    stream: StreamName,
    budget: { left: number; paged: number },
  ): Promise<void> {
    const max = Math.max(0, Math.min(this.paging.pageBytes, budget.left));
    const { data, size } = await this.spool.readRange(run.command, run.deviceId, stream, 0, max);
    const page = data.length < size ? data.subarray(0, utf8Boundary(data)) : data;
    budget.left -= page.length;
    const out = encodeOutput(page);
    run[stream] = out.text;
    run[`${stream}Encoding`] = out.encoding;
    if (page.length < size) {
      run[`${stream}Next`] = page.length;
      budget.paged++;
    }
  }

  /** One page of one device's stored stream, read from disk (at most a page at a time). */
  async readOutput(
    p: Principal,
    id: string,
    q: { device: string; stream: StreamName; offset?: number; limit?: number },
  ): Promise<CommandOutputPage> {
    await this.row(p, id);
    const runs = await this.store.runOf(id, q.device);
    const run = runs.find((r) => r.device_id === q.device) ?? runs[0];
    if (!run)
      throw new TetherError(
        "TETHER_ERR_DEVICE_NOT_FOUND",
        `command ${id} did not run on a device ${q.device}`,
      );
    if (runs.length > 1 && run.device_id !== q.device)
      throw new TetherError(
        "TETHER_ERR_DEVICE_AMBIGUOUS",
        `command ${id} ran on several devices named ${q.device}; use the device id`,
      );
    const offset = q.offset ?? 0;
    const limit = Math.min(q.limit ?? this.paging.pageBytes, this.paging.pageBytes);
    const { data, size } = await this.spool.readRange(id, run.device_id, q.stream, offset, limit);
    const end = offset + data.length;
    return {
      deviceId: run.device_id,
      stream: q.stream,
      offset,
      data: data.toString("base64"),
      size,
      next: end < size ? end : null,
    };
  }

  async list(p: Principal, o: { device?: string; limit?: number } = {}): Promise<Command[]> {
    const deviceId = o.device ? (await this.devices.find(p.projectId, o.device)).id : undefined;
    const cmds = await this.store.listCommands(p.projectId, Math.min(o.limit ?? 50, 1000), deviceId);
    if (cmds.length === 0) return [];
    const sums = new Map(cmds.map((c) => [c.id, emptySummary()]));
    for (const r of await this.store.countsByCommand(ids(cmds))) {
      const s = sums.get(r.command_id)!;
      s[r.status] += r.n;
      s.total += r.n;
    }
    // Filtered by device: each command carries that device's own result (its run only).
    const own = deviceId
      ? new Map((await this.store.runsOfDevice(ids(cmds), deviceId)).map((r) => [r.command_id, toRun(r)]))
      : null;
    return cmds.map((c) => {
      const run = own?.get(c.id);
      return toCommand(c, p.project, sums.get(c.id)!, own ? (run ? [run] : []) : undefined);
    });
  }

  /** Drop what has not started, kill what runs (durable cancel), keep what has finished. */
  async cancel(p: Principal, id: string): Promise<Command> {
    requireRole(p, "operator");
    const c = await this.row(p, id);
    if (c.finished_at === null) {
      await this.store.setCancelled(id);
      const live = await this.store.liveRuns({ commandId: id });
      const kill: RunRow[] = [];
      for (const r of live) {
        let dropped = r.status === "pending";
        if (!dropped && r.status !== "running" && r.mid !== null)
          dropped = await this.link.cancel(r.device_id, r.mid);
        if (dropped)
          await this.scheduler.finish(r, { status: "cancelled", error: "cancelled before it started" });
        else kill.push(r);
      }
      for (const r of kill) {
        const d = await this.devices.get(r.device_id);
        if (d) await this.link.enqueue(d, "exec.cancel", { cmd: id });
      }
      await this.audit.write({
        actor: p.username,
        action: "command.cancel",
        projectId: p.projectId,
        detail: { command: id, dropped: live.length - kill.length, killed: kill.length },
      });
      await this.scheduler.checkDone(id);
    }
    return this.get(p, id);
  }

  /** Revocation: nothing more starts on the device; what it was running is lost to us. */
  async revoke(device: DeviceRow): Promise<void> {
    for (const r of await this.store.liveRuns({ deviceId: device.id })) {
      await this.scheduler.finish(r, {
        status: r.status === "running" ? "lost" : "cancelled",
        error: "the device was revoked",
      });
      void this.scheduler.pump(r.command_id);
    }
  }
}

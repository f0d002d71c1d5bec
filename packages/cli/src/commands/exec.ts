/**
 * tether exec: run a command on one device (output streams live, the exit code is the
 * remote one) or on a fleet (--selector / --device / --all: output per device, a summary).
 */
import { constants } from "node:os";
import {
  ApiError,
  type Command as Cmd,
  type CommandEvent,
  type CommandRun,
  type CreateCommand,
  clock,
  type FinalRunStatus,
  fmtSpan,
  LIVE_RUN_STATUSES,
  MAX_QUEUE_TTL_MS,
  MAX_STDIN_BYTES,
  MAX_TIMEOUT_MS,
  type TetherClient,
} from "@tether/sdk";
import type { Command } from "commander";
import { collect, parseEnv, parseIntArg, parseSelectorArg, parseSize, parseTimeoutMs } from "../args.js";
import { type Ctx, client, printJson } from "../context.js";
import { CliError, EXIT } from "../io.js";
import { escapeControl } from "../escape.js";

/** Exit codes of `tether exec` besides the remote command's own (documented in --help). */
export const EXEC_EXIT = {
  someFailed: 1,
  timeout: 124,
  refused: 125,
  cannotRun: 126,
  notFound: 127,
  cancelled: 130,
  unreachable: 255,
} as const;

const HELP = `
Examples:
  tether exec robot-7 -- uptime
  tether exec robot-7 --shell -- 'journalctl -u app | tail -n 50'
  tether exec robot-7 --timeout 5m --cwd /opt/app --env MODE=test -- ./selftest
  tar c logs | tether exec robot-7 --stdin -- tar x -C /tmp
  tether exec --selector site=tokyo,role=web --concurrency 20 -- systemctl restart app
  tether exec --all --queue-ttl 2h --json -- cat /etc/machine-id

Selectors: labels (k=v) are set by operators and enrollment tokens; facts (fact.NAME=V) are
whatever each device says about itself, so any device can claim one: --selector
fact.hostname=web-1 sends the command, and its --env values, to every device that claims
that hostname. Target by labels or device ids; use facts only to narrow a label selector.

Exit codes (one device): the remote command's exit code; 124 timed out (the process group
was killed); 125 refused (your role, or --user not allowed in the project); 126 could not
start (no such directory or user); 127 command not found; 128+N killed by signal N;
130 cancelled; 255 no such device, device offline, or lost (the agent restarted mid-command;
it is never run twice), or the server unreachable. Fleet: 0 only if every device succeeded;
255 if no device was reachable (all offline or expired) or the server was not; 125 refused;
else 1. A bad --selector is a usage error (2).

Offline devices: without --queue-ttl they are reported offline at once. With it the command
waits for them (stderr says so, and says when each one is back and starts); Ctrl-C cancels
the command (queued devices are dropped), --detach leaves it queued.`;

interface ExecOpts {
  selector?: string;
  device?: string[];
  all?: boolean;
  shell?: boolean;
  timeout?: string;
  cwd?: string;
  env?: string[];
  user?: string;
  stdin?: boolean;
  queueTtl?: string;
  outputLimit?: string;
  concurrency?: string;
  maxFailures?: string;
  prefix?: boolean;
  detach?: boolean;
  json?: boolean;
}

export function registerExec(program: Command, ctx: Ctx, rawArgs: string[]): void {
  program
    .command("exec")
    .description("run a command on a device or a fleet (argv, no shell, unless --shell)")
    .usage("DEVICE [options] -- CMD [ARGS...]  |  --selector K=V | --device D... | --all [options] -- CMD")
    .argument("[args...]", "DEVICE (unless --selector/--device/--all), then the command after --")
    .option("--shell", "run the command through /bin/sh -c (arguments joined with spaces)")
    .option(
      "-t, --timeout <duration>",
      "kill the process group after this long (30s, 5m, 2h; max 24h)",
      "60s",
    )
    .option("--cwd <dir>", "working directory on the device")
    .option("-e, --env <K=V>", "environment variable (repeatable)", collect, [])
    .option("-u, --user <name>", "run as this user (agent must be root; the project must allow it)")
    .option("--stdin", `send this process's stdin to the command (at most ${MAX_STDIN_BYTES / 1024} KiB)`)
    .option("--queue-ttl <duration>", "if a device is offline, queue the command this long (e.g. 2h)")
    .option("--output-limit <size>", "bytes kept per stream per device (e.g. 64k, 1M)", "1M")
    .option(
      "-s, --selector <k=v,...>",
      "fleet: devices matching labels / fact.NAME (k=v,k2=v2); facts are device-claimed, see below",
    )
    .option("-d, --device <device>", "fleet: this device (repeatable)", collect)
    .option("--all", "fleet: every accepted device in the project (admin)")
    .option("-p, --concurrency <n>", "fleet: devices running at once (0 = all)", "100")
    .option("--max-failures <n>", "fleet: start no more devices after N failures")
    .option("--prefix", "fleet: print output lines live, prefixed with the device name")
    .option("--detach", "print the command id and return; follow it with `tether commands show`")
    .option("--json", "print the result as JSON (one object; an array for a fleet)")
    .addHelpText("after", HELP)
    .action(async (args: string[], o: ExecOpts, cmd: Command) => {
      const fleet = o.selector !== undefined || (o.device?.length ?? 0) > 0 || !!o.all;
      // Commander does not say which operands came after "--"; the raw arguments do.
      const dash = rawArgs.indexOf("--");
      let before: string[];
      let remote: string[];
      if (dash >= 0) {
        remote = rawArgs.slice(dash + 1);
        before = args.slice(0, Math.max(0, args.length - remote.length));
      } else if (fleet) {
        before = [];
        remote = args;
      } else {
        before = args.slice(0, 1);
        remote = args.slice(1);
      }
      if ([o.selector !== undefined, (o.device?.length ?? 0) > 0, !!o.all].filter(Boolean).length > 1)
        throw new CliError("use one of --selector, --device, --all", EXIT.usage);
      if (o.selector !== undefined) parseSelectorArg(o.selector);
      if (fleet && before.length > 0)
        throw new CliError(
          `unexpected ${JSON.stringify(before[0])} before --: with --selector/--device/--all name no DEVICE`,
          EXIT.usage,
        );
      if (!fleet && before.length !== 1)
        throw new CliError(
          before.length === 0
            ? "name a DEVICE, or --selector/--device/--all (see tether exec --help)"
            : `one DEVICE only (got ${before.join(" ")}); put the command after --`,
          EXIT.usage,
        );
      if (remote.length === 0 || remote.join("").trim() === "")
        throw new CliError(
          "the command is empty: put it after --, e.g. tether exec DEVICE -- uptime",
          EXIT.usage,
        );
      const input: CreateCommand = {
        argv: o.shell ? [remote.join(" ")] : remote,
        shell: !!o.shell,
        timeoutMs: parseTimeoutMs(o.timeout ?? "60s", "--timeout", MAX_TIMEOUT_MS),
        ...(o.cwd ? { cwd: o.cwd } : {}),
        ...(o.env?.length ? { env: parseEnv(o.env) } : {}),
        ...(o.user ? { user: o.user } : {}),
        ...(o.queueTtl ? { queueTtlMs: parseTimeoutMs(o.queueTtl, "--queue-ttl", MAX_QUEUE_TTL_MS) } : {}),
        outputLimit: parseSize(o.outputLimit ?? "1M", "--output-limit"),
        concurrency: parseIntArg(o.concurrency ?? "100", "--concurrency", 0),
        ...(o.maxFailures ? { maxFailures: parseIntArg(o.maxFailures, "--max-failures") } : {}),
      };
      if (o.stdin) {
        const data = await ctx.io.readStdin(MAX_STDIN_BYTES + 1);
        if (data.length > MAX_STDIN_BYTES)
          throw new CliError(
            `stdin is larger than ${MAX_STDIN_BYTES / 1024} KiB; copy big inputs to the device another way`,
            EXIT.usage,
          );
        input.stdin = data.toString("base64");
      }
      if (o.selector !== undefined) input.selector = o.selector;
      else if (o.device?.length) input.devices = o.device;
      else if (o.all) input.all = true;
      else input.devices = [before[0]];

      const c = client(ctx, cmd);
      let created: Cmd;
      try {
        created = await c.createCommand(input);
      } catch (err) {
        throw refusedOrUnreachable(err);
      }
      if (o.detach) {
        if (o.json) printJson(ctx, created);
        else ctx.io.stdout(`${created.id}\n`);
        return;
      }
      const runner = fleet ? new FleetPrinter(ctx, !!o.prefix) : new SinglePrinter(ctx);
      if (fleet && !o.json) ctx.io.stderr(`tether: ${created.id} on ${created.summary.total} device(s)\n`);
      // Ctrl-C cancels from here on: the handler is in place before anything tells the user so.
      const stop = ctx.io.stopSignal();
      stop.addEventListener(
        "abort",
        () => {
          ctx.io.stderr(`tether: cancelling ${created.id} (again to leave it running)\n`);
          c.cancelCommand(created.id).catch(() => {});
        },
        { once: true },
      );
      // Offline devices the command waits for: said on stderr (also with --json), once, then
      // a line as each one comes back and starts.
      const queue = new QueueNotes(ctx, created, fleet);
      await follow(ctx, c, created.id, (e) => {
        queue.on(e);
        if (!o.json) runner.on(e);
      });
      const final = await c.getCommand(created.id, { output: !!o.json });
      const runs = final.runs ?? [];
      if (o.json) printJson(ctx, fleet ? runs : runs[0]);
      else runner.finish(final);
      if (!fleet) {
        const run = runs[0];
        const code = exitCodeOf(run);
        if (!o.json && code !== run.exitCode) ctx.io.stderr(`tether: ${describe(run)}\n`);
        if (code !== 0) throw new CliError("", code);
        return;
      }
      const s = final.summary;
      if (s.total > 0 && s.offline + s.expired === s.total) throw new CliError("", EXEC_EXIT.unreachable);
      if (s.succeeded !== s.total) throw new CliError("", EXEC_EXIT.someFailed);
    });
}

/**
 * What a blocking `exec --queue-ttl` says while devices are offline (stderr): at the start
 * `robot-7 is offline: queued, waiting up to 2h (until 11:42); Ctrl-C cancels it` (for a
 * fleet, how many of how many), and `robot-7 is back: started` as each queued device starts.
 * Nothing when every device is online.
 */
export class QueueNotes {
  /** Devices (by id) seen queued and not started yet. */
  private readonly waiting = new Map<string, string>();
  /** Devices already announced (an event replay after a reconnect repeats states). */
  private readonly announced = new Set<string>();

  constructor(
    private readonly ctx: Ctx,
    private readonly created: Cmd,
    private readonly fleet: boolean,
    private readonly now = Date.now(),
  ) {
    const queued = (created.runs ?? []).filter((r) => r.status === "queued");
    if (created.queueTtlMs <= 0 || created.summary.queued === 0) return;
    for (const r of queued) {
      this.waiting.set(r.deviceId, r.device);
      this.announced.add(r.deviceId);
    }
    const n = created.summary.queued;
    const who = this.fleet
      ? `${n} of ${created.summary.total} device${created.summary.total === 1 ? "" : "s"} ${n === 1 ? "is" : "are"} offline`
      : `${escapeControl(queued[0]?.device ?? "the device")} is offline`;
    this.say(
      `${who}: queued, ${this.wait()}; Ctrl-C cancels ${n === 1 && !this.fleet ? "it" : "the command"}`,
    );
  }

  private wait(): string {
    const ttl = this.created.queueTtlMs;
    const until = this.now + ttl;
    // "11:42" within a day, else with the date.
    return `waiting up to ${span(ttl)} (until ${clock(until, ttl < 86_400_000 ? until : this.now)})`;
  }

  private say(line: string): void {
    this.ctx.io.stderr(`tether: ${line}\n`);
  }

  on(e: CommandEvent): void {
    if (e.type !== "run") return;
    const r = e.run;
    if (r.status === "queued") {
      // Queued later (a fleet's --concurrency turn came while the device was offline).
      if (this.announced.has(r.deviceId) || this.created.queueTtlMs <= 0) return;
      this.announced.add(r.deviceId);
      this.waiting.set(r.deviceId, r.device);
      this.say(`${escapeControl(r.device)} is offline: queued, ${this.wait()}`);
      return;
    }
    if (!this.waiting.has(r.deviceId)) return;
    this.waiting.delete(r.deviceId);
    // Expired, cancelled and the like are reported with the result; only a start is news here.
    if (r.status === "sent" || r.status === "running" || r.startedAt !== null)
      this.say(`${escapeControl(r.device)} is back: started`);
  }
}

/** A queue TTL for people: "2h", "90m", "45s", "1d 12h". */
function span(ms: number): string {
  const s = Math.round(ms / 1000);
  for (const [unit, n] of [
    ["d", 86400],
    ["h", 3600],
    ["m", 60],
  ] as const)
    if (s >= n && s % n === 0) return `${s / n}${unit}`;
  return fmtSpan(s);
}

function refusedOrUnreachable(err: unknown): unknown {
  if (!(err instanceof ApiError)) return err;
  if (err.status === 403 || err.status === 401) return new CliError(err.message, EXEC_EXIT.refused);
  if (
    ["TETHER_ERR_DEVICE_NOT_FOUND", "TETHER_ERR_NO_DEVICES_MATCH", "TETHER_ERR_UNREACHABLE"].includes(
      err.code,
    )
  )
    return new CliError(err.message, EXEC_EXIT.unreachable);
  return err;
}

/**
 * Follow the event stream to the end, reconnecting if the server goes away (a restart);
 * the replay after a reconnect starts from the beginning, so bytes already shown are skipped.
 */
export function follow(ctx: Ctx, c: TetherClient, id: string, on: (e: CommandEvent) => void): Promise<Cmd> {
  return c.followCommand(id, on, {
    onRetry: (err, attempt) => {
      if (attempt === 0) ctx.io.stderr(`tether: ${err.message}; reconnecting (the command goes on)\n`);
    },
  });
}

export function exitCodeOf(run: CommandRun): number {
  switch (run.status) {
    case "succeeded":
      return 0;
    case "failed":
      if (run.exitCode !== null) return run.exitCode;
      return run.signal ? 128 + ((constants.signals as Record<string, number>)[run.signal] ?? 0) : 1;
    case "timed_out":
      return EXEC_EXIT.timeout;
    case "error":
      return /command not found/.test(run.error ?? "") ? EXEC_EXIT.notFound : EXEC_EXIT.cannotRun;
    case "cancelled":
      return EXEC_EXIT.cancelled;
    default:
      return EXEC_EXIT.unreachable; // offline, expired, lost, skipped
  }
}

function describe(run: CommandRun): string {
  const name = escapeControl(run.device);
  const why = run.error ? `: ${escapeControl(run.error)}` : "";
  switch (run.status) {
    case "timed_out":
      return `${name}: timed out; the process group was killed`;
    case "failed":
      return run.signal ? `${name}: killed by ${run.signal}` : `${name}: exit code ${run.exitCode}`;
    default:
      return `${name}: ${run.status.replace("_", " ")}${why}`;
  }
}

class SinglePrinter {
  constructor(private readonly ctx: Ctx) {}
  on(e: CommandEvent): void {
    if (e.type !== "output") return;
    const b = Buffer.from(e.data, "base64");
    if (e.stream === "stdout") this.ctx.io.stdout(b);
    else this.ctx.io.stderr(b);
  }
  finish(c: Cmd): void {
    const run = c.runs?.[0];
    if (!run) return;
    for (const s of ["stdout", "stderr"] as const) {
      if (run[`${s}Truncated`])
        this.ctx.io.stderr(
          `tether: ${s} truncated: kept the first ${run[`${s}Bytes`]} bytes (--output-limit)\n`,
        );
    }
  }
}

const LABEL: Record<FinalRunStatus, string> = {
  succeeded: "SUCCESS",
  failed: "FAILURE",
  timed_out: "TIMEOUT",
  error: "ERROR",
  offline: "OFFLINE",
  expired: "EXPIRED",
  cancelled: "CANCELLED",
  lost: "LOST",
  skipped: "SKIPPED",
};

/** Per device, like `parallel-ssh -i` (grouped when each finishes), or live lines with --prefix. */
class FleetPrinter {
  private n = 0;
  private readonly out = new Map<string, { stdout: Buffer[]; stderr: Buffer[] }>();
  private readonly partial = new Map<string, string>();
  private readonly printed = new Set<string>();

  constructor(
    private readonly ctx: Ctx,
    private readonly prefix: boolean,
  ) {}

  on(e: CommandEvent): void {
    if (e.type === "output") {
      const b = Buffer.from(e.data, "base64");
      if (this.prefix) {
        this.lines(e.deviceId, e.device, e.stream, b.toString("utf8"));
        return;
      }
      const o = this.out.get(e.deviceId) ?? { stdout: [], stderr: [] };
      o[e.stream].push(b);
      this.out.set(e.deviceId, o);
    } else if (
      e.type === "run" &&
      !LIVE_RUN_STATUSES.has(e.run.status) &&
      !this.printed.has(e.run.deviceId)
    ) {
      this.printed.add(e.run.deviceId);
      this.report(e.run);
    }
  }

  private lines(id: string, device: string, stream: "stdout" | "stderr", text: string, flush = false): void {
    const key = `${id}/${stream}`;
    const all = (this.partial.get(key) ?? "") + text;
    const parts = all.split("\n");
    const rest = flush ? "" : (parts.pop() ?? "");
    if (flush && parts.at(-1) === "") parts.pop();
    this.partial.set(key, rest);
    const w = stream === "stdout" ? this.ctx.io.stdout : this.ctx.io.stderr;
    // The prefix is device-provided text (escaped); the line is the command's own output (raw bytes).
    for (const line of parts) {
      w(`${escapeControl(device)}: `);
      w(Buffer.from(`${line}\n`));
    }
  }

  private report(run: CommandRun): void {
    const time = new Date().toTimeString().slice(0, 8);
    const name = escapeControl(run.device);
    let tail = "";
    if (run.status === "failed")
      tail = run.signal ? ` Killed by signal ${run.signal}` : ` Exited with error code ${run.exitCode}`;
    else if (run.error) tail = ` ${escapeControl(run.error)}`;
    if (this.prefix) {
      this.lines(run.deviceId, run.device, "stdout", "", true);
      this.lines(run.deviceId, run.device, "stderr", "", true);
    }
    this.ctx.io.stdout(
      `[${++this.n}] ${time} [${LABEL[run.status as FinalRunStatus] ?? run.status}] ${name}${tail}\n`,
    );
    if (this.prefix) return;
    const o = this.out.get(run.deviceId);
    this.out.delete(run.deviceId);
    if (o?.stdout.length) this.ctx.io.stdout(ensureNewline(Buffer.concat(o.stdout)));
    if (o?.stderr.length) {
      this.ctx.io.stdout("Stderr: ");
      this.ctx.io.stdout(ensureNewline(Buffer.concat(o.stderr)));
    }
  }

  finish(c: Cmd): void {
    for (const run of c.runs ?? []) {
      if (!this.printed.has(run.deviceId) && !LIVE_RUN_STATUSES.has(run.status)) {
        this.printed.add(run.deviceId);
        this.report(run);
      }
    }
    const s = c.summary;
    const parts = [
      `${s.succeeded} succeeded`,
      `${s.failed} failed`,
      `${s.timed_out} timed out`,
      `${s.offline} offline`,
    ];
    for (const k of [
      "error",
      "lost",
      "expired",
      "cancelled",
      "skipped",
    ] as const satisfies FinalRunStatus[]) {
      if (s[k]) parts.push(`${s[k]} ${k === "error" ? "could not start" : k}`);
    }
    this.ctx.io.stdout(`${c.id}: ${parts.join(", ")} (of ${s.total})\n`);
  }
}

function ensureNewline(b: Buffer): Buffer {
  return b.length && b[b.length - 1] !== 0x0a ? Buffer.concat([b, Buffer.from("\n")]) : b;
}

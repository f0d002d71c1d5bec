/**
 * tether shell DEVICE [--user U] [-- CMD ARGS]: a shell (or a command) on a device over a
 * tunnel (docs/protocol.md §17.3). On a terminal: a PTY of the local terminal's size, the local
 * terminal in raw mode (restored on every way out), resizes passed on. Piped: no PTY, stdin to
 * the process until its end (then EOF), stdout and stderr apart. Exits with the remote status.
 */
import { constants } from "node:os";
import type { TerminalOpen, TunnelError } from "@tether/sdk";
import { openTerminal, type TerminalSession } from "@tether/sdk/node";
import type { Command } from "commander";
import type { Ctx } from "../context.js";
import { escapeControl } from "../escape.js";
import { CliError, EXIT } from "../io.js";
import { EXEC_EXIT } from "./exec.js";
import { type TermStreams, termStreams, tunnelConfig, tunnelFailure } from "./tunnel-common.js";

const HELP = `
Examples:
  tether shell robot-7                         a login shell in this terminal
  tether shell robot-7 --user root             as root (the project must allow it: tether projects exec-users)
  tether shell robot-7 -- htop                 a program instead of the shell (argv, no shell)
  tether shell robot-7 -- sh -c 'dmesg | tail'
  printf 'ls\\nexit 5\\n' | tether shell robot-7    scripted: prints the listing, exits 5

On a terminal (stdin and stdout both TTYs) the device gets a PTY of this terminal's size and
TERM ($TERM, else xterm-256color); this terminal is in raw mode until the session ends, so
Ctrl-C, Ctrl-Z and Ctrl-D go to the device. Otherwise (piped) there is no PTY: stdin is sent
until it ends (then the process's stdin is closed), stdout and stderr stay apart. --tty and
--no-tty force one or the other.

The session is in the project's sessions list (tether sessions list) and, when the project
records sessions (tether projects tunnels --record), recorded.

Exit codes: the remote exit status (killed by signal N: 128+N); 125 refused (your role, --user
not allowed in the project, too many sessions); 126 could not start; 127 program not found;
130 interrupted; 255 no such device, device offline or not dialling back, the session cut off
(device gone, revoked, timed out), or the server unreachable.`;

interface ShellOpts {
  user?: string;
  tty?: boolean;
}

const TERM_RE = /^[A-Za-z0-9._+-]{1,64}$/;

/** The remote command: the words after `--` (none: the login shell). */
export function shellArgv(args: string[], rawArgs: string[]): { device: string; argv: string[] } {
  const dash = rawArgs.indexOf("--");
  const argv = dash >= 0 ? rawArgs.slice(dash + 1) : [];
  const before = args.slice(0, args.length - argv.length);
  if (before.length === 0) throw new CliError("name a DEVICE (see tether shell --help)", EXIT.usage);
  if (before.length > 1)
    throw new CliError(
      `one DEVICE only (got ${before.join(" ")}); put a command after --, e.g. tether shell ${before[0]} -- ${before.slice(1).join(" ")}`,
      EXIT.usage,
    );
  if (dash >= 0 && argv.length === 0)
    throw new CliError("nothing after --: name a command, or leave -- out for a login shell", EXIT.usage);
  return { device: before[0], argv };
}

/** The process's exit as ours: its code, or 128+N for signal N. */
export function exitStatus(exit: { code: number | null; signal: string | null }): number {
  if (exit.code !== null) return exit.code & 0xff;
  if (exit.signal) {
    const name = exit.signal.startsWith("SIG") ? exit.signal : `SIG${exit.signal}`;
    const n = (constants.signals as Record<string, number>)[name];
    if (n) return 128 + n;
  }
  return EXEC_EXIT.unreachable;
}

export function registerShell(program: Command, ctx: Ctx, rawArgs: string[]): void {
  program
    .command("shell")
    .description(
      "open a shell (or run a command) on a device: interactive on a terminal, scriptable in a pipe",
    )
    .usage("DEVICE [--user U] [-- CMD [ARGS...]]")
    .argument("[args...]", "DEVICE, then optionally -- and a command")
    .option("-u, --user <name>", "run as this user (the project's exec-users must allow it)")
    .option("--tty", "a PTY even when stdin is not a terminal")
    .option("--no-tty", "no PTY even on a terminal (stdout and stderr apart)")
    .addHelpText("after", HELP)
    .action(async (args: string[], o: ShellOpts, cmd: Command) => {
      const { device, argv } = shellArgv(args, rawArgs);
      const io = termStreams(ctx);
      const tty = o.tty ?? (!!io.stdin.isTTY && !!io.stdout.isTTY);
      const termEnv = ctx.io.env.TERM;
      const open: TerminalOpen = {
        type: "open",
        device,
        ...(o.user ? { user: o.user } : {}),
        ...(argv.length ? { argv } : {}),
        pty: tty
          ? {
              cols: io.stdout.columns || 80,
              rows: io.stdout.rows || 24,
              term: termEnv && TERM_RE.test(termEnv) ? termEnv : "xterm-256color",
            }
          : null,
      };
      const stop = ctx.io.stopSignal();
      let session: TerminalSession;
      try {
        session = await openTerminal(tunnelConfig(ctx, cmd, stop), open);
      } catch (err) {
        throw tunnelFailure(ctx, `shell on ${escapeControl(device)}`, err);
      }
      const code = await attach(session, io, { tty, raw: tty && !!io.stdin.isTTY, stop });
      if (code.error) throw tunnelFailure(ctx, `shell on ${escapeControl(device)}`, code.error);
      if (code.status !== 0) throw new CliError("", code.status);
    });
}

/**
 * Connect the session to the local streams until it ends; returns the exit status, or the
 * error that ended it. Raw mode is undone before this returns or throws, and at process exit.
 */
export async function attach(
  s: TerminalSession,
  io: TermStreams,
  o: { tty: boolean; raw: boolean; stop: AbortSignal },
): Promise<{ status: number; error?: TunnelError }> {
  const ch = s.channel;
  const undo: (() => void)[] = [];
  const restoreRaw = () => io.stdin.setRawMode?.(false);
  try {
    if (o.raw && io.stdin.setRawMode) {
      io.stdin.setRawMode(true);
      undo.push(restoreRaw);
      // process.exit() from anywhere (a second SIGTERM) must not leave the terminal raw.
      process.once("exit", restoreRaw);
      undo.push(() => process.off("exit", restoreRaw));
    }
    // Output: with backpressure, so a fast device waits for a slow terminal (the window does the rest).
    const outDone = drain(ch, io.stdout);
    const errDone = drain(ch.stderr, io.stderr);
    // Input: on a terminal stdin never "ends" (Ctrl-D is a byte); piped, its end is the EOF.
    io.stdin.pipe(ch, { end: !o.raw });
    undo.push(() => {
      io.stdin.unpipe(ch);
      io.stdin.pause();
    });
    ch.on("error", () => {}); // writes after the session ended; the end says why
    if (o.tty && io.stdout.isTTY) {
      const onResize = () => ch.resize(io.stdout.columns || 80, io.stdout.rows || 24);
      io.stdout.on("resize", onResize);
      undo.push(() => io.stdout.off("resize", onResize));
    }
    // SIGTERM/SIGINT/SIGHUP here: leave the session (the device ends the process), exit 130.
    let stopped = false;
    const leave = () => {
      stopped = true;
      s.close();
    };
    if (o.stop.aborted) leave();
    else o.stop.addEventListener("abort", leave, { once: true });
    undo.push(() => o.stop.removeEventListener("abort", leave));
    const onHup = () => leave();
    if (o.raw) {
      process.on("SIGHUP", onHup);
      undo.push(() => process.off("SIGHUP", onHup));
    }
    const end = await s.done;
    await Promise.all([outDone, errDone]);
    if (stopped) return { status: EXEC_EXIT.cancelled };
    if (end.exit) return { status: exitStatus(end.exit) };
    return { status: EXEC_EXIT.unreachable, error: end.error ?? undefined };
  } finally {
    for (const f of undo.reverse()) f();
  }
}

/** Copy `from` to `to` until `from` ends, pausing while `to` is full; never ends `to`. */
function drain(from: NodeJS.ReadableStream, to: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    from.on("data", (chunk: Buffer) => {
      if (!to.write(chunk)) {
        from.pause();
        to.once("drain", () => from.resume());
      }
    });
    from.once("end", resolve);
    from.once("close", resolve);
    from.once("error", resolve);
  });
}

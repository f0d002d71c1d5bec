/** The `tether` command line: run(argv, io) returns the exit code (tests call it in-process). */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { Command, CommanderError } from "commander";
import { registerApiTokens, registerProjects, registerUsers } from "./commands/accounts.js";
import { registerAgent } from "./commands/agent.js";
import { registerAlerts } from "./commands/alerts.js";
import { registerAudit } from "./commands/audit.js";
import { registerCommands } from "./commands/commands.js";
import { registerConfig } from "./commands/config.js";
import { registerDevices } from "./commands/devices.js";
import { registerExec } from "./commands/exec.js";
import { registerForward } from "./commands/forward.js";
import { registerLogin } from "./commands/login.js";
import { registerLogs } from "./commands/logs.js";
import { registerMetrics } from "./commands/metrics.js";
import { registerPing } from "./commands/ping.js";
import { registerServer } from "./commands/server.js";
import { registerSessions } from "./commands/sessions.js";
import { registerShell } from "./commands/shell.js";
import { registerSshKeys } from "./commands/ssh-keys.js";
import { registerToken } from "./commands/token.js";
import { registerWebhooks } from "./commands/webhooks.js";
import type { Ctx } from "./context.js";
import { escapeControl, guardIo } from "./escape.js";
import { EXIT, exitCodeFor, type Io, messageFor } from "./io.js";

function version(): string {
  try {
    return JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version;
  } catch {
    return "unknown";
  }
}

export function buildProgram(ctx: Ctx, argv: string[] = []): Command {
  const program = new Command("tether");
  program
    .description("Tether: manage a fleet of devices")
    .version(version(), "-V, --version")
    .option("--project <name>", "act in this project (default: the token's; env TETHER_PROJECT)")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.io.stdout(s),
      writeErr: (s) => ctx.io.stderr(s),
      outputError: (s, write) => write(`tether: ${s.replace(/^error: /, "")}`),
    })
    .showSuggestionAfterError()
    .addHelpText(
      "after",
      `
Credentials: TETHER_URL + TETHER_TOKEN (+ TETHER_CA_CERT=path), else the file written by
\`tether login\`, else (on the server machine) the server's data dir admin.token.

Exit codes: 0 ok, 1 error, 2 usage, 3 not authenticated/forbidden, 4 not found,
255 device or server unreachable (or timed out). \`tether exec\`, \`shell\` and \`forward\` have
their own (see their --help).`,
    );
  // Only the group the command line names (a quicker start); all of them for top-level help,
  // `help`, or a word that names none (commander then suggests the nearest).
  const word = commandWord(argv);
  const named = COMMAND_GROUPS.find((g) => g.names.includes(word ?? ""));
  const versionOnly = word === undefined && argv.some((a) => a === "-V" || a === "--version");
  for (const g of named ? [named] : versionOnly ? [] : COMMAND_GROUPS) g.register(program, ctx, argv);
  return program;
}

/**
 * The top-level commands (names and aliases) each register function adds, in help order.
 * A test checks the names against what the functions really register.
 */
export const COMMAND_GROUPS: {
  names: string[];
  register: (program: Command, ctx: Ctx, argv: string[]) => void;
}[] = [
  { names: ["server"], register: (p, ctx) => registerServer(p, ctx) },
  { names: ["agent"], register: (p, ctx) => registerAgent(p, ctx) },
  { names: ["token", "tokens"], register: (p, ctx) => registerToken(p, ctx) },
  { names: ["devices", "device"], register: (p, ctx) => registerDevices(p, ctx) },
  { names: ["ping"], register: (p, ctx) => registerPing(p, ctx) },
  { names: ["exec"], register: (p, ctx, argv) => registerExec(p, ctx, argv) },
  { names: ["commands", "cmds"], register: (p, ctx) => registerCommands(p, ctx) },
  { names: ["shell"], register: (p, ctx, argv) => registerShell(p, ctx, argv) },
  { names: ["forward"], register: (p, ctx) => registerForward(p, ctx) },
  { names: ["sessions", "session"], register: (p, ctx) => registerSessions(p, ctx) },
  { names: ["metrics"], register: (p, ctx) => registerMetrics(p, ctx) },
  { names: ["logs", "log"], register: (p, ctx) => registerLogs(p, ctx) },
  { names: ["alerts", "alert"], register: (p, ctx) => registerAlerts(p, ctx) },
  { names: ["webhooks", "webhook"], register: (p, ctx) => registerWebhooks(p, ctx) },
  { names: ["config"], register: (p, ctx) => registerConfig(p, ctx) },
  { names: ["audit"], register: (p, ctx) => registerAudit(p, ctx) },
  { names: ["users", "user"], register: (p, ctx) => registerUsers(p, ctx) },
  { names: ["api-tokens", "api-token"], register: (p, ctx) => registerApiTokens(p, ctx) },
  { names: ["ssh-keys", "ssh-key"], register: (p, ctx) => registerSshKeys(p, ctx) },
  { names: ["projects", "project"], register: (p, ctx) => registerProjects(p, ctx) },
  { names: ["login", "logout", "whoami"], register: (p, ctx) => registerLogin(p, ctx) },
];

/** The first word of the command line that is not a global option (or its value). */
export function commandWord(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") return undefined;
    if (a === "--project") i++;
    else if (!a.startsWith("-")) return a;
  }
  return undefined;
}

/** Run the CLI; never calls process.exit. */
export async function run(argv: string[], rawIo: Io): Promise<number> {
  // Every string the CLI prints is escaped on the way out (escape.ts); bytes pass unchanged.
  const io = guardIo(rawIo);
  const program = buildProgram({ io }, argv);
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.exitCode === 0)
        return 0;
      return EXIT.usage; // commander already printed the message
    }
    // Ctrl-C (the stop signal) ended a request: interrupted, nothing more to say.
    if ((err as Error)?.name === "AbortError") return 130;
    const msg = messageFor(err);
    if (msg) io.stderr(`tether: ${escapeControl(msg)}\n`);
    if (io.env.TETHER_DEBUG && err instanceof Error && err.stack) io.stderr(`${err.stack}\n`);
    return exitCodeFor(err);
  }
}

/** The real process: stdout/stderr, env, and SIGTERM/SIGINT as the stop signal. */
export function processIo(): Io {
  let ac: AbortController | null = null;
  // `tether … | head`: the reader went away; stop quietly, as other command-line tools do.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
  return {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
    async readStdin(max) {
      const chunks: Buffer[] = [];
      let n = 0;
      for await (const c of process.stdin) {
        chunks.push(c as Buffer);
        n += (c as Buffer).length;
        if (n >= max) break;
      }
      return Buffer.concat(chunks);
    },
    env: process.env,
    home: homedir(),
    stopSignal() {
      if (!ac) {
        const c = new AbortController();
        ac = c;
        let n = 0;
        const on = (sig: NodeJS.Signals) => {
          if (++n > 1) process.exit(sig === "SIGINT" ? 130 : 143);
          c.abort();
        };
        process.on("SIGTERM", on);
        process.on("SIGINT", on);
      }
      return ac.signal;
    },
  };
}

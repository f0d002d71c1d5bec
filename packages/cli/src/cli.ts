/** The `tether` command line: run(argv, io) returns the exit code (tests call it in-process). */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { Command, CommanderError } from "commander";
import { registerApiTokens, registerProjects, registerUsers } from "./commands/accounts.js";
import { registerAgent } from "./commands/agent.js";
import { registerAudit } from "./commands/audit.js";
import { registerCommands } from "./commands/commands.js";
import { registerDevices } from "./commands/devices.js";
import { registerExec } from "./commands/exec.js";
import { registerLogin } from "./commands/login.js";
import { registerPing } from "./commands/ping.js";
import { registerServer } from "./commands/server.js";
import { registerToken } from "./commands/token.js";
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
255 device unreachable or timed out. \`tether exec\` has its own (see tether exec --help).`,
    );
  registerServer(program, ctx);
  registerAgent(program, ctx);
  registerToken(program, ctx);
  registerDevices(program, ctx);
  registerPing(program, ctx);
  registerExec(program, ctx, argv);
  registerCommands(program, ctx);
  registerAudit(program, ctx);
  registerUsers(program, ctx);
  registerApiTokens(program, ctx);
  registerProjects(program, ctx);
  registerLogin(program, ctx);
  return program;
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
    const msg = messageFor(err);
    if (msg) io.stderr(`tether: ${escapeControl(msg)}\n`);
    if (io.env.TETHER_DEBUG && err instanceof Error && err.stack) io.stderr(`${err.stack}\n`);
    return exitCodeFor(err);
  }
}

/** The real process: stdout/stderr, env, and SIGTERM/SIGINT as the stop signal. */
export function processIo(): Io {
  let ac: AbortController | null = null;
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

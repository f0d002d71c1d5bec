/** tether agent: enroll (first run) and run the device agent. */
import { resolve } from "node:path";
import type { Command } from "commander";
import type { Ctx } from "../context.js";
import { CliError, EXIT } from "../io.js";
import { cliLogger, fatalError, LOG_FORMAT_HELP, LOG_LEVEL_HELP } from "../log.js";
import { defaultAgentDataDir } from "../paths.js";

export function registerAgent(program: Command, ctx: Ctx): void {
  program
    .command("agent")
    .description("run the device agent; the first run enrolls with --url and --token")
    .option("--url <url>", "server URL (first run)")
    .option("--token <token>", "enrollment token (first run)")
    .option("--token-file <file>", "read the enrollment token from a file (first run)")
    .option(
      "--data <dir>",
      "agent data directory (default: $TETHER_HOME/agent, /var/lib/tether/agent as root, else ~/.local/share/tether/agent)",
    )
    .option("--name <name>", "device name: letters, digits, . _ - (1-64) (default: the hostname)")
    .option("--websocket", "reach the broker over WebSocket (wss://.../mqtt) instead of MQTT/TLS")
    .option("--log-format <text|json>", LOG_FORMAT_HELP)
    .option("--log-level <level>", LOG_LEVEL_HELP)
    .action(
      async (o: {
        url?: string;
        token?: string;
        tokenFile?: string;
        data?: string;
        name?: string;
        websocket?: boolean;
        logFormat?: string;
        logLevel?: string;
      }) => {
        if (o.token && o.tokenFile) throw new CliError("pass --token or --token-file, not both", EXIT.usage);
        const dataDir = resolve(o.data ?? defaultAgentDataDir(ctx.io.env, ctx.io.home));
        const { log, logFormat } = await cliLogger(ctx, o);
        const { runAgent, AgentError } = await import("@tether/agent");
        try {
          await runAgent({
            dataDir,
            url: o.url,
            token: o.token,
            tokenFile: o.tokenFile,
            name: o.name,
            websocket: o.websocket,
            log,
            signal: ctx.io.stopSignal(),
          });
        } catch (err) {
          if (err instanceof AgentError) {
            if (err.exitCode === 0) return;
            throw fatalError(log, logFormat, err.message, err.exitCode);
          }
          throw err;
        }
      },
    );
}

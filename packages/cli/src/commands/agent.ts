/** tether agent: enroll (first run) and run the device agent. */
import { resolve } from "node:path";
import type { Command } from "commander";
import { collect } from "../args.js";
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
    .option(
      "--settings <file>",
      "agent settings, JSON: tether.metrics.*, tether.logs.* and tether.config.* keys, flat or nested (docs/protocol.md §14, §15, §18); the file wins over the flags below, remote configuration over both (except device-only keys)",
    )
    .option("--metrics-interval <seconds>", "collection interval (tether.metrics.interval, default 10)")
    .option(
      "--statsd-port <n>",
      "StatsD UDP port on 127.0.0.1, 0 = off (tether.metrics.statsdPort, default 8125)",
    )
    .option(
      "--influx-port <n>",
      "InfluxDB line protocol port on 127.0.0.1, UDP and HTTP, 0 = off (tether.metrics.influxPort, default 8186)",
    )
    .option(
      "--scrape <url>",
      "scrape a local Prometheus endpoint (repeatable; tether.metrics.scrape)",
      collect,
      [],
    )
    .option("--buffer-size <size>", 'on-disk telemetry buffer, bytes or "64MiB" (tether.metrics.bufferSize)')
    .option("--proc-root <dir>", "read /proc from here (tether.metrics.procRoot; fixture trees)")
    .option("--sys-root <dir>", "read /sys from here (tether.metrics.sysRoot; fixture trees)")
    .option(
      "--follow-log <path>",
      "follow a log file, a glob allowed (repeatable; tether.logs.follow; also allowed for remote settings)",
      collect,
      [],
    )
    .option(
      "--allow-log <glob>",
      "log paths remote settings may choose to follow (repeatable; tether.logs.allow; a dir/ allows all below)",
      collect,
      [],
    )
    .option("--no-journal", "do not follow the systemd journal (tether.logs.journal)")
    .option("--log-rate <n>", "log lines per second per source (tether.logs.rate, default 200)")
    .option("--log-burst <n>", "log lines a source may send at once (tether.logs.burst, default 2000)")
    .option(
      "--device-log-rate <n>",
      "log lines per second, all sources (tether.logs.deviceRate, default 1000)",
    )
    .option(
      "--config-hook <command>",
      "run this (/bin/sh -c) after each remote configuration is applied (tether.config.applyHook; device only)",
    )
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
        settings?: string;
        metricsInterval?: string;
        statsdPort?: string;
        influxPort?: string;
        scrape?: string[];
        bufferSize?: string;
        procRoot?: string;
        sysRoot?: string;
        followLog?: string[];
        allowLog?: string[];
        journal?: boolean;
        logRate?: string;
        logBurst?: string;
        deviceLogRate?: string;
        configHook?: string;
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
            // Validated by the agent before it enrolls: a bad value exits 2 naming the key and the file.
            metrics: {
              settingsFile: o.settings === undefined ? undefined : resolve(o.settings),
              flags: {
                interval: o.metricsInterval,
                statsdPort: o.statsdPort,
                influxPort: o.influxPort,
                scrape: o.scrape,
                bufferSize: o.bufferSize,
                procRoot: o.procRoot === undefined ? undefined : resolve(o.procRoot),
                sysRoot: o.sysRoot === undefined ? undefined : resolve(o.sysRoot),
              },
            },
            logs: {
              flags: {
                follow: o.followLog,
                allow: o.allowLog,
                // commander sets journal: true unless --no-journal: only the flag counts as a setting.
                journal: o.journal === false ? false : undefined,
                rate: o.logRate,
                burst: o.logBurst,
                deviceRate: o.deviceLogRate,
              },
            },
            config: { flags: { applyHook: o.configHook } },
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

/** tether server [reset-admin] */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseDurationMs } from "@tether/protocol/metrics";
import type { Command } from "commander";
import { optInt, parseDuration, parseHostPort, parseIntArg, parseSize } from "../args.js";
import type { Ctx } from "../context.js";
import { CliError, EXIT } from "../io.js";
import { cliLogger, fatalError, LOG_FORMAT_HELP, LOG_LEVEL_HELP } from "../log.js";
import { defaultServerDataDir } from "../paths.js";

interface ServerOpts {
  data?: string;
  listen: string;
  mqttListen: string;
  publicUrl?: string;
  tlsCert?: string;
  tlsKey?: string;
  rekeySeconds?: string;
  maxEventStreams?: string;
  maxPreauth?: string;
  maxPreauthPerAddress?: string;
  preauthTimeout?: string;
  mqttMaxKeepalive?: string;
  httpRequestTimeout?: string;
  deviceRate?: string;
  deviceBurst?: string;
  loginLimit?: string;
  loginAddressLimit?: string;
  enrollLimit?: string;
  enrollPollLimit?: string;
  database?: string;
  broker?: string;
  brokerAdminFile?: string;
  agentBrokerUrl?: string;
  brokerCa?: string;
  metricsRemoteWrite?: string;
  metricsRetention?: string;
  logsRetention?: string;
  logsMaxBytes?: string;
  sshListen?: string;
  tunnelPerDevice?: string;
  tunnelPerUser?: string;
  tunnelIdle?: string;
  tunnelMaxLength?: string;
  tokenRotateDays?: string;
  logFormat?: string;
  logLevel?: string;
}

function paths(dir: string, caPath: string) {
  return [
    ["admin password", join(dir, "admin.password")],
    ["admin token", join(dir, "admin.token")],
    ["CA certificate", caPath],
    ["server info", join(dir, "server.json")],
  ] as const;
}

export function registerServer(program: Command, ctx: Ctx): void {
  const server = program
    .command("server")
    .description("run the Tether server (HTTPS API + console + MQTT broker)")
    .option(
      "--data <dir>",
      "data directory (default: $TETHER_HOME/server, /var/lib/tether/server as root, else ~/.local/share/tether/server)",
    )
    .option("--listen <host:port>", "HTTPS API and console", "0.0.0.0:8443")
    .option("--mqtt-listen <host:port>", "MQTT over TLS for agents", "0.0.0.0:8883")
    .option("--public-url <url>", "URL devices and browsers use to reach the server")
    .option("--tls-cert <file>", "serve this certificate (PEM) instead of the built-in CA's")
    .option("--tls-key <file>", "key for --tls-cert")
    .option("--rekey-seconds <n>", "control-channel session key lifetime")
    .option(
      "--max-event-streams <n>",
      "command event streams (live output) one user may have open at once (default 16)",
    )
    .option(
      "--max-preauth <n>",
      "connections not yet authenticated, per listener (MQTT, HTTPS); when full the oldest is closed (default 4096)",
    )
    .option("--max-preauth-per-address <n>", "the same, per source address (default 1024)")
    .option(
      "--preauth-timeout <seconds>",
      "time to authenticate (MQTT) or send a request (HTTPS) (default 15)",
    )
    .option("--mqtt-max-keepalive <seconds>", "largest MQTT keepalive a device may ask for (default 300)")
    .option(
      "--http-request-timeout <seconds>",
      "time to receive a whole HTTP request, body included (default 60)",
    )
    .option("--device-rate <n>", "control messages per second one device may send (default 2000)")
    .option("--device-burst <n>", "control messages one device may send at once (default 20000)")
    .option("--login-limit <n>", "failed sign-ins per username per minute (default 10)")
    .option("--login-address-limit <n>", "sign-in attempts per source address per minute (default 60)")
    .option(
      "--enroll-limit <n>",
      "GET /enroll/info and POST /enroll, each, per source address per minute (default 2000)",
    )
    .option("--enroll-poll-limit <n>", "POST /enroll/poll per source address per minute (default 12000)")
    .option("--database <url>", "sqlite:PATH or postgres://... (default: sqlite in the data dir)")
    .option("--broker <url>", "use this external Mosquitto (dynamic security) instead of the embedded broker")
    .option("--broker-admin-file <file>", 'JSON {"username","password"} of the broker\'s dynsec admin')
    .option("--agent-broker-url <url>", "broker address given to agents (default: --broker)")
    .option(
      "--broker-ca <file>",
      "PEM of the CA that signed the external broker's TLS certificate (default: Tether's CA)",
    )
    .option(
      "--metrics-remote-write <url>",
      "also forward every metric sample, with device labels, to this Prometheus remote-write URL",
    )
    .option(
      "--metrics-retention <raw,1m,1h>",
      "how long raw samples, 1 min and 1 h rollups are kept (default 7d,30d,400d)",
    )
    .option("--logs-retention <duration>", "how long device log lines are kept after receipt (default 7d)")
    .option(
      "--logs-max-bytes <size>",
      "log text kept per project; past it the oldest lines go first (default 1G; e.g. 512M)",
    )
    .option(
      "--ssh-listen <host:port>",
      "run the SSH gateway here (ssh -p PORT DEVICE@server; port 0 picks one, written to server.json as sshPort)",
    )
    .option("--tunnel-per-device <n>", "open terminal, SSH and forward sessions per device (default 8)")
    .option("--tunnel-per-user <n>", "open sessions per user (default 16)")
    .option("--tunnel-idle <duration>", "close a session idle this long (default 30m)")
    .option("--tunnel-max-length <duration>", "close a session this long after it opened (default 12h)")
    .option("--token-rotate-days <n>", "days between device telemetry-token rotations (default 30; 0: never)")
    .option("--log-format <text|json>", LOG_FORMAT_HELP)
    .option("--log-level <level>", LOG_LEVEL_HELP)
    .action(async (o: ServerOpts) => {
      const dataDir = resolve(
        o.data ?? ctx.io.env.TETHER_DATA ?? defaultServerDataDir(ctx.io.env, ctx.io.home),
      );
      const listen = parseHostPort(o.listen, "--listen");
      const mqttListen = parseHostPort(o.mqttListen, "--mqtt-listen");
      if (!!o.tlsCert !== !!o.tlsKey) throw new CliError("pass both --tls-cert and --tls-key", EXIT.usage);
      if (!!o.broker !== !!o.brokerAdminFile) {
        throw new CliError("pass both --broker and --broker-admin-file", EXIT.usage);
      }
      if (o.agentBrokerUrl && !o.broker) throw new CliError("--agent-broker-url needs --broker", EXIT.usage);
      if (o.publicUrl) {
        try {
          if (new URL(o.publicUrl).protocol !== "https:") throw new Error();
        } catch {
          throw new CliError(
            `--public-url must be an https:// URL, got ${JSON.stringify(o.publicUrl)}`,
            EXIT.usage,
          );
        }
      }
      if (o.metricsRemoteWrite && !/^https?:\/\//.test(o.metricsRemoteWrite)) {
        throw new CliError(
          `--metrics-remote-write must be an http:// or https:// URL, got ${JSON.stringify(o.metricsRemoteWrite)}`,
          EXIT.usage,
        );
      }
      const retention = o.metricsRetention ? parseRetention(o.metricsRetention) : undefined;
      const firstStart = !existsSync(join(dataDir, "admin.token"));
      const { log, logFormat } = await cliLogger(ctx, o);
      const { createServer, VERSION } = await import("@tether/server");
      const srv = await createServer({
        log,
        dataDir,
        listen,
        mqttListen,
        publicUrl: o.publicUrl,
        tlsCert: o.tlsCert,
        tlsKey: o.tlsKey,
        database: o.database,
        rekeySeconds: optInt(o.rekeySeconds, "--rekey-seconds"),
        exec: o.maxEventStreams
          ? { maxStreamsPerUser: parseIntArg(o.maxEventStreams, "--max-event-streams") }
          : undefined,
        listeners: {
          maxPreauth: optInt(o.maxPreauth, "--max-preauth"),
          maxPreauthPerAddress: optInt(o.maxPreauthPerAddress, "--max-preauth-per-address"),
          preauthTimeoutMs: optInt(o.preauthTimeout, "--preauth-timeout", 1000),
          mqttMaxKeepaliveSeconds: optInt(o.mqttMaxKeepalive, "--mqtt-max-keepalive"),
          httpRequestTimeoutMs: optInt(o.httpRequestTimeout, "--http-request-timeout", 1000),
        },
        control: {
          deviceRate: optInt(o.deviceRate, "--device-rate"),
          deviceBurst: optInt(o.deviceBurst, "--device-burst"),
        },
        rateLimits: {
          loginPerUsername: optInt(o.loginLimit, "--login-limit"),
          loginPerAddress: optInt(o.loginAddressLimit, "--login-address-limit"),
          enrollPerAddress: optInt(o.enrollLimit, "--enroll-limit"),
          enrollPollPerAddress: optInt(o.enrollPollLimit, "--enroll-poll-limit"),
        },
        telemetry: { tokenRotateDays: optInt(o.tokenRotateDays, "--token-rotate-days") },
        metrics: { remoteWrite: o.metricsRemoteWrite, retention },
        logs: {
          retentionMs: o.logsRetention ? Math.round(parseDuration(o.logsRetention) * 1000) : undefined,
          maxBytesPerProject: o.logsMaxBytes ? parseSize(o.logsMaxBytes, "--logs-max-bytes") : undefined,
        },
        tunnels: {
          perDevice: optInt(o.tunnelPerDevice, "--tunnel-per-device"),
          perUser: optInt(o.tunnelPerUser, "--tunnel-per-user"),
          idleMs: o.tunnelIdle ? Math.round(parseDuration(o.tunnelIdle) * 1000) : undefined,
          maxMs: o.tunnelMaxLength ? Math.round(parseDuration(o.tunnelMaxLength) * 1000) : undefined,
        },
        ssh: o.sshListen ? { listen: parseHostPort(o.sshListen, "--ssh-listen") } : undefined,
        broker: o.broker
          ? {
              url: o.broker,
              adminFile: resolve(o.brokerAdminFile!),
              agentUrl: o.agentBrokerUrl,
              caFile: o.brokerCa ? resolve(o.brokerCa) : undefined,
            }
          : undefined,
      });
      const stop = ctx.io.stopSignal();
      let info: Awaited<ReturnType<typeof srv.listen>>;
      try {
        info = await srv.listen();
      } catch (err) {
        await srv.close().catch(() => undefined);
        throw fatalError(log, logFormat, `cannot start the server: ${(err as Error).message}`, EXIT.generic);
      }
      const lines = [
        `Tether server ${VERSION} is running (data: ${dataDir})`,
        `  console:  ${info.consoleUrl}`,
        `  API:      ${info.url}`,
        `  MQTT:     ${info.mqttUrl}`,
        `  MQTT/WS:  ${info.wsUrl}`,
        // The SSH gateway (--ssh-listen): its port, and the host key users compare on first connect.
        ...(info.sshPort
          ? [
              `  SSH:      ssh -p ${info.sshPort} DEVICE@${new URL(info.url).hostname.replace(/^\[|\]$/g, "")}`,
              `  ${"SSH host key:".padEnd(16)}${info.sshFingerprint} (ED25519)`,
            ]
          : []),
        ...paths(dataDir, info.caCert).map(([k, v]) => `  ${`${k}:`.padEnd(16)}${v}`),
      ];
      if (firstStart) {
        lines.push(
          "",
          `First start: created the admin account. Its console password is in ${join(dataDir, "admin.password")}`,
          `and an admin API token in ${join(dataDir, "admin.token")} (both readable only by you).`,
          dataDir === resolve(defaultServerDataDir(ctx.io.env, ctx.io.home))
            ? "On this machine the CLI uses that token automatically, e.g.: tether token create"
            : `For the CLI on this machine: export TETHER_DATA=${dataDir} (or TETHER_URL, TETHER_TOKEN, TETHER_CA_CERT)`,
        );
      }
      // One write, set off by blank lines: log lines (stderr) come before or after it, never inside.
      ctx.io.stdout(`\n${lines.join("\n")}\n\n`);
      await new Promise<void>((r) => {
        if (stop.aborted) return r();
        stop.addEventListener("abort", () => r());
      });
      log.info("stopping the server");
      await srv.close();
    });

  server
    .command("reset-admin")
    .description(
      "set a new admin password and API token (writes admin.password and admin.token); the admin's other sign-ins and API tokens stop working",
    )
    .option("--data <dir>", "data directory")
    .option("--database <url>", "sqlite:PATH or postgres://...")
    .action(async (o: { data?: string; database?: string }, cmd: Command) => {
      const parent = cmd.parent?.opts() as ServerOpts | undefined;
      const dataDir = resolve(
        o.data ?? parent?.data ?? ctx.io.env.TETHER_DATA ?? defaultServerDataDir(ctx.io.env, ctx.io.home),
      );
      const { log } = await cliLogger(ctx, { logFormat: parent?.logFormat }, "warn");
      const { createServer, ensureAdmin } = await import("@tether/server");
      const srv = await createServer({
        dataDir,
        listen: { host: "127.0.0.1", port: 0 },
        mqttListen: { host: "127.0.0.1", port: 0 },
        database: o.database ?? parent?.database,
        log,
      });
      try {
        await ensureAdmin(srv.services.accounts, dataDir, true, srv.services.userChanged);
      } finally {
        await srv.close();
      }
      ctx.io.stdout(
        `admin reset: new password in ${join(dataDir, "admin.password")}\n` +
          `             new API token in ${join(dataDir, "admin.token")}\n` +
          "             the admin's previous sign-ins and API tokens no longer work\n" +
          `             CA certificate: ${srv.tls.caPath}\n` +
          `             server info: ${join(dataDir, "server.json")}\n`,
      );
    });
}

/** `--metrics-retention 7d,30d,400d`: raw, 1 min and 1 h rollups. */
function parseRetention(s: string): { rawMs: number; minuteMs: number; hourMs: number } {
  const parts = s.split(",").map((p) => parseDurationMs(p));
  if (parts.length !== 3 || parts.some((p) => p === undefined)) {
    throw new CliError(
      `--metrics-retention takes three durations (raw,1m,1h), e.g. 7d,30d,400d; got ${JSON.stringify(s)}`,
      EXIT.usage,
    );
  }
  const [rawMs, minuteMs, hourMs] = parts as number[];
  return { rawMs: rawMs!, minuteMs: minuteMs!, hourMs: hourMs! };
}

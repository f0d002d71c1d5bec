/**
 * `tether agent`: enroll if the data directory holds no identity yet, wait while pending,
 * then run the control channel until SIGTERM/SIGINT.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { deviceNameFromHostname, fingerprint } from "@tether/protocol";
import pino, { type Logger } from "pino";
import { Backoff } from "./backoff.js";
import { ControlClient } from "./control-client.js";
import { EnrollError, enroll, pendingLine, poll } from "./enroll.js";
import { collectFacts } from "./facts.js";
import { HttpError } from "./https-json.js";
import { ensureDataDir, type Identity, loadIdentity, loadOrCreateKeys, saveIdentity } from "./identity.js";
import { createAgentTunnels } from "./tunnels/index.js";
import { Journal } from "./journal.js";
import {
  loadMetricsSettings,
  MetricsSettingsError,
  type MetricsSources,
} from "./capabilities/metrics/index.js";
import {
  AgentLogTap,
  loadLogsSettings,
  LogsSettingsError,
  type LogsSources,
} from "./capabilities/logs/index.js";
import { createTelemetry } from "./telemetry/index.js";
import { ConfigSettingsError, type ConfigSources, loadConfigSettings } from "./capabilities/config/index.js";

export interface AgentOptions {
  dataDir: string;
  url?: string;
  token?: string;
  tokenFile?: string;
  name?: string;
  websocket?: boolean;
  /** MQTT keepalive (default 30 s): a silent drop is noticed within 1.5× this. */
  keepaliveSeconds?: number;
  /** Cap of the reconnect backoff (default 60 s). */
  backoffMaxMs?: number;
  log?: Logger;
  /** Abort waiting/running (tests, signals). */
  signal?: AbortSignal;
  /** The telemetry channel (docs/protocol.md §14): on-disk buffer size, all streams (default 64 MiB). */
  telemetry?: { bufferBytes?: number };
  /** Settings of the metrics capability (`tether.metrics.*`); typed by its module when it lands. */
  metrics?: MetricsAgentSettings;
  /** Settings of the logs capability (`tether.logs.*`); the settings file defaults to metrics.settingsFile. */
  logs?: LogsAgentSettings;
  /** Settings of the config capability (`tether.config.*`); the settings file defaults to metrics.settingsFile. */
  config?: ConfigSources;
}

/** Where the logs settings come from: the device's settings file and flags (docs/protocol.md §15). */
export type LogsAgentSettings = LogsSources;

/** Where the metrics settings come from: the device's settings file and flags (docs/protocol.md §14.6). */
export type MetricsAgentSettings = MetricsSources;

export class AgentError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });

export async function prepareIdentity(
  o: AgentOptions,
  log: Logger,
): Promise<{ identity: Identity; keys: ReturnType<typeof loadOrCreateKeys> }> {
  ensureDataDir(o.dataDir);
  const keys = loadOrCreateKeys(o.dataDir);
  let identity = loadIdentity(o.dataDir);
  // enroll() has just said it is waiting (with the fingerprint): the first wait need not.
  let announced = false;
  if (!identity) {
    const token = o.token ?? (o.tokenFile ? readFileSync(o.tokenFile, "utf8").trim() : undefined);
    if (!o.url || !token) {
      throw new AgentError(
        `${o.dataDir} holds no enrolled identity yet: pass --url and --token (or --token-file) to enroll`,
        2,
      );
    }
    // --name is sent as given (the server refuses a bad one); the hostname is made to fit the rule.
    const name = o.name ?? deviceNameFromHostname(hostname());
    for (let attempt = 0; ; attempt++) {
      try {
        identity = await enroll({ url: o.url, token, name, keys, facts: collectFacts(), log });
        break;
      } catch (err) {
        // 429: the server's enrollment rate limit (many devices behind one address): retry later.
        if (err instanceof HttpError && err.status !== 429)
          throw new AgentError(`enrollment refused: ${err.message} (${err.code})`, 3);
        if (err instanceof EnrollError) throw new AgentError(`enrollment failed: ${err.message}`, 3);
        // Network trouble: retry (idempotent per key, so a lost answer burns nothing).
        const delay = Math.min(60_000, 1000 * 2 ** attempt) * (0.5 + Math.random() / 2);
        log.warn(
          { err: (err as Error).message, retryInMs: Math.round(delay) },
          "cannot reach the server to enroll",
        );
        await sleep(delay, o.signal);
        if (o.signal?.aborted) throw new AgentError("stopped", 0);
      }
    }
    saveIdentity(o.dataDir, identity);
    announced = true;
  }
  const keyFingerprint = fingerprint(keys.sign.publicKey);
  while (identity.state === "pending" || (identity.state === "accepted" && !identity.broker)) {
    if (!announced) {
      const { deviceId, name, state } = identity;
      if (state === "pending") {
        log.info(
          { deviceId, name, state, fingerprint: keyFingerprint },
          `${name} is pending: ${pendingLine(name, keyFingerprint)}`,
        );
      } else {
        log.info({ deviceId, name, state }, `${name} is accepted: waiting for its broker credential`);
      }
    }
    announced = false;
    await sleep((identity.pollSeconds ?? 5) * 1000, o.signal);
    if (o.signal?.aborted) {
      log.info("agent stopped (still waiting for an operator)");
      throw new AgentError("stopped", 0);
    }
    try {
      identity = await poll(identity, keys);
      saveIdentity(o.dataDir, identity);
    } catch (err) {
      if (err instanceof HttpError && err.status === 403) {
        identity = { ...identity, state: "revoked" };
        saveIdentity(o.dataDir, identity);
        break;
      }
      log.warn({ err: (err as Error).message }, "poll failed; will retry");
    }
  }
  if (identity.state === "rejected") throw new AgentError("an operator rejected this device", 4);
  if (identity.state === "revoked")
    throw new AgentError("this device was revoked; enroll again with a new data directory", 4);
  return { identity, keys };
}

/** Run until the signal aborts. Resolves when stopped cleanly. */
export async function runAgent(o: AgentOptions): Promise<void> {
  // The agent's own log also feeds the logs capability (source `agent`, tether.logs.agentLog).
  const agentLog = new AgentLogTap();
  const log = agentLog.wrap(
    o.log ?? pino({ level: process.env.TETHER_LOG_LEVEL ?? "info" }, pino.destination(2)),
  );
  // A bad settings file stops the agent before it enrolls, naming the file and the key.
  let metricsSettings: ReturnType<typeof loadMetricsSettings>;
  let logsSettings: ReturnType<typeof loadLogsSettings>;
  let configSettings: ReturnType<typeof loadConfigSettings>;
  try {
    metricsSettings = loadMetricsSettings(o.metrics);
    logsSettings = loadLogsSettings({
      settingsFile: o.logs?.settingsFile ?? o.metrics?.settingsFile,
      flags: o.logs?.flags,
    });
    configSettings = loadConfigSettings({
      settingsFile: o.config?.settingsFile ?? o.metrics?.settingsFile,
      flags: o.config?.flags,
    });
  } catch (err) {
    if (
      err instanceof MetricsSettingsError ||
      err instanceof LogsSettingsError ||
      err instanceof ConfigSettingsError
    )
      throw new AgentError(err.message, 2);
    throw err;
  }
  for (const w of metricsSettings.warnings) log.warn(w);
  const { identity, keys } = await prepareIdentity(o, log);
  const journal = new Journal(o.dataDir);
  // The telemetry channel is separate from the control channel: it uploads from start,
  // connected or not; only its token arrives over control (docs/protocol.md §14).
  const telemetry = createTelemetry({
    dataDir: o.dataDir,
    deviceId: identity.deviceId,
    apiUrl: identity.apiUrl,
    caCert: identity.caCert,
    bufferBytes: o.telemetry?.bufferBytes ?? metricsSettings.resolved.bufferBytes,
    // The streams share the buffer; each drops its own oldest batches when its half is full.
    quotas: { metrics: 0.5, logs: 0.5 },
    log,
  });
  // Tunnels are dialled on request (docs/protocol.md §17); terminal and forward serve them.
  const tunnels = createAgentTunnels({
    apiUrl: identity.apiUrl,
    caCert: identity.caCert,
    deviceId: identity.deviceId,
    log: log.child({ part: "tunnels" }),
  });
  let fatal: Error | null = null;
  const client = new ControlClient({
    identity,
    keys,
    journal,
    log,
    facts: collectFacts,
    websocket: o.websocket,
    saveIdentity: (id) => saveIdentity(o.dataDir, id),
    keepaliveSeconds: o.keepaliveSeconds,
    backoff: new Backoff(1000, o.backoffMaxMs ?? 60_000),
    onFatal: (err) => {
      fatal = err;
      ac.abort();
    },
    telemetry: { telemetry },
    metrics: { telemetry, settings: metricsSettings },
    logs: { telemetry, settings: logsSettings, dataDir: o.dataDir, agentLog },
    tunnel: { tunnels },
    terminal: { tunnels, dataDir: o.dataDir },
    forward: { tunnels },
    // Remote configuration (docs/protocol.md §18.5): files fetched with the telemetry token, secret files opened with the static key.
    config: { dataDir: o.dataDir, noiseKey: keys.noise, telemetry, settings: configSettings },
  });
  const ac = new AbortController();
  o.signal?.addEventListener("abort", () => ac.abort());
  log.info({ deviceId: identity.deviceId, name: identity.name }, "agent starting");
  telemetry.start();
  client.start();
  await new Promise<void>((resolve) => {
    if (ac.signal.aborted) resolve();
    ac.signal.addEventListener("abort", () => resolve());
  });
  await client.stop();
  await telemetry.stop();
  log.info("agent stopped");
  if (fatal) throw new AgentError((fatal as Error).message, 5);
}

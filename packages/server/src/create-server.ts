/**
 * createServer(config) builds a ready server (store, keys, TLS, services, HTTP app) without
 * listening; listen() starts the HTTPS API and the embedded broker. Tests drive the app
 * in-process; main only wires and listens (docs/architecture.md §4).
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import type { FastifyInstance } from "fastify";
import pino, { type Logger } from "pino";
import { WebSocketServer, createWebSocketStream } from "ws";
import { Accounts } from "./accounts.js";
import { ensureAdmin } from "./admin.js";
import { Audit } from "./audit.js";
import type { BrokerLink } from "./broker/broker-link.js";
import { startEmbeddedBroker } from "./broker/embedded.js";
import { type ExternalBroker, loadReconcileDevices, startExternalBroker } from "./broker/external.js";
import { TUNNEL_AGENT_PATH, type UpType } from "@tether/protocol";
import type { CapabilityContext, ServerCapability } from "./capability.js";
import {
  capabilityMigrations,
  capabilityTelemetryMigrations,
  createCapabilities,
  type RunningCapabilities,
} from "./capabilities.js";
import { DEFAULT_LISTENER_LIMITS, DEFAULT_RATE_LIMITS, type HostPort, type ServerConfig } from "./config.js";
import { Control, DEFAULT_CONTROL_OPTIONS } from "./control/index.js";
import { DeviceOps } from "./device-ops.js";
import { type DeviceRow, Devices } from "./devices.js";
import { Enrollment } from "./enrollment.js";
import { buildApp } from "./http/app.js";
import type { Services } from "./http/context.js";
import { fitToFdLimit, gateHttpServer, PreauthGate } from "./net/preauth.js";
import { Revocation } from "./revocation.js";
import { digestEquals } from "./security/secrets.js";
import { loadOrCreateServerKeys, type ServerKeys } from "./security/server-keys.js";
import { loadOrCreateTls, type TlsMaterial } from "./security/tls.js";
import { openStore, type Store } from "./store/db.js";
import { coreMigrations } from "./store/migrations.js";
import { createTunnelLayer, type TunnelLayer, tunnelMigrations } from "./tunnels/index.js";
import { createTelemetryLayer, openTelemetryDb, type TelemetryLayer } from "./telemetry/index.js";
import { VERSION } from "./version.js";

export type { HostPort, ServerConfig } from "./config.js";

export interface ServerInfoFile {
  url: string;
  mqttUrl: string;
  wsUrl: string;
  caCert: string;
  fingerprint: string;
  consoleUrl: string;
  pid: number;
  version: string;
  /** The SSH gateway's port (tether server --ssh-listen), and its host key's SHA256 fingerprint. */
  sshPort?: number;
  sshFingerprint?: string;
}

export interface TetherServer {
  app: FastifyInstance;
  services: Services;
  keys: ServerKeys;
  tls: TlsMaterial;
  store: Store;
  revocation: Revocation;
  /** The telemetry channel layer (docs/protocol.md §14): tokens, ingest, the telemetry database. */
  telemetry: TelemetryLayer;
  /** The tunnel layer (docs/protocol.md §17): tests and benchmarks open sessions through it. */
  tunnels: TunnelLayer;
  /** The control channel (tests and benchmarks read its counters). */
  control: Control;
  /** What each capability exposes (e.g. `capabilities.ping.ping(device)`). */
  capabilities: RunningCapabilities;
  log: Logger;
  listen(): Promise<ServerInfoFile>;
  close(): Promise<void>;
}

export function parseHostPort(s: string, what: string): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(s);
  if (!m) throw new Error(`${what} must be HOST:PORT, got ${JSON.stringify(s)}`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`${what}: port ${port} is out of range`);
  return { host: m[1] ?? m[2], port };
}

const hostForUrl = (h: string) => (h.includes(":") ? `[${h}]` : h);

/** The store with the core's and every capability's migrations. */
export function openServerStore(url: string): Promise<Store> {
  return openStore(url, [coreMigrations, tunnelMigrations, ...capabilityMigrations]);
}

export async function createServer(cfg: ServerConfig): Promise<TetherServer> {
  const dataDir = resolve(cfg.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  const log =
    cfg.log ?? pino({ level: cfg.logLevel ?? process.env.TETHER_LOG_LEVEL ?? "info" }, pino.destination(2));
  // Listener limits (docs/security.md "Listeners"): two gated listeners, MQTT and HTTPS.
  const limits = {
    ...DEFAULT_LISTENER_LIMITS,
    ...Object.fromEntries(Object.entries(cfg.listeners ?? {}).filter(([, v]) => v !== undefined)),
  };
  const preauth = fitToFdLimit(
    { max: limits.maxPreauth, perAddress: limits.maxPreauthPerAddress, timeoutMs: limits.preauthTimeoutMs },
    2,
    log,
  );
  const databaseUrl = cfg.database ?? `sqlite:${join(dataDir, "tether.db")}`;
  const store = await openServerStore(databaseUrl);
  // On SQLite its own file (<dataDir>/telemetry.db), so ingest never blocks the main writer.
  const telemetryDb = await openTelemetryDb(databaseUrl, dataDir, capabilityTelemetryMigrations).catch(
    async (err) => {
      await store.close();
      throw err;
    },
  );
  const keys = loadOrCreateServerKeys(dataDir);
  const publicHost = cfg.publicUrl ? new URL(cfg.publicUrl).hostname.replace(/^\[|\]$/g, "") : undefined;
  const tls = await loadOrCreateTls(
    dataDir,
    publicHost ? [publicHost] : [],
    cfg.tlsCert && cfg.tlsKey ? { cert: cfg.tlsCert, key: cfg.tlsKey } : undefined,
  );

  const db = store.db;
  const accounts = new Accounts(db);
  const audit = new Audit(db);
  const devices = new Devices(db);
  const revocation = new Revocation();
  const control = new Control(db, devices, keys, log, {
    ...DEFAULT_CONTROL_OPTIONS,
    rekeySeconds: cfg.rekeySeconds ?? DEFAULT_CONTROL_OPTIONS.rekeySeconds,
    ...Object.fromEntries(Object.entries(cfg.control ?? {}).filter(([, v]) => v !== undefined)),
  });
  let broker: BrokerLink | null = null;
  let external: ExternalBroker | null = null;
  const brokerCa = cfg.broker?.caFile ? readFileSync(cfg.broker.caFile, "utf8") : undefined;
  let apiUrl = cfg.publicUrl ?? "";
  let brokerUrl = "";
  let wsUrl = "";
  const enrollment = new Enrollment({
    db,
    keys,
    audit,
    caCert: tls.ca,
    apiUrl: () => apiUrl,
    // The CA agents trust for the broker: the external broker's own when given, else ours.
    broker: () => ({ url: brokerUrl, wsUrl: wsUrl || undefined, caCert: brokerCa ?? tls.ca }),
    onCredential: async (d, password) => {
      if (cfg.broker) {
        if (!external) throw new Error("the external broker is not connected yet");
        await external.setCredential(d, password);
      }
      // An accepted device's first credential: also how an auto-accepted device gets its first telemetry token.
      await deviceAccepted(d);
    },
  });
  // Capabilities hear of accepted and deleted devices (a first telemetry token; forgetting one).
  // A hook's failure is logged, not the operator's: the sweep issues a missing token later.
  const tellCapabilities = async (what: string, run: (c: ServerCapability<UpType>) => unknown) => {
    for (const c of capabilities.list) {
      try {
        await run(c);
      } catch (err) {
        log.error({ err, capability: c.name }, `${what} step failed`);
      }
    }
  };
  const deviceAccepted = (d: DeviceRow) => tellCapabilities("device accepted", (c) => c.deviceAccepted?.(d));
  const deviceOps = new DeviceOps(
    db,
    devices,
    audit,
    revocation,
    (id) => {
      control.invalidate(id);
      // External broker: a deleted device's dynsec client and role go too.
      external?.sync(id).catch((err) => log.error({ err, deviceId: id }, "broker: device sync failed"));
    },
    {
      onAccepted: deviceAccepted,
      onDeleted: (id) => tellCapabilities("device deleted", (c) => c.deviceDeleted?.(id)),
      onLabelsChanged: (d, actor) =>
        tellCapabilities("device labels changed", (c) => c.deviceLabelsChanged?.(d, actor)),
    },
  );
  // Revocation steps (docs/architecture.md §3): the transport's first, then each capability's.
  revocation.join("broker: close the connection", async (d) => {
    if (external) await external.disable(d.id);
    else broker?.kick(d.id);
  });
  revocation.join("control: drop sessions and queued messages", (d) => control.forget(d.id));
  const telemetry = createTelemetryLayer({
    store: telemetryDb,
    db,
    devices,
    link: control.link,
    log: log.child({ part: "telemetry" }),
    config: cfg,
  });
  revocation.join("telemetry: revoke the device token", (d) => telemetry.revoke(d));
  // Tunnels (docs/protocol.md §17): terminals, SSH and forwards open sessions through this layer.
  const tunnels: TunnelLayer = createTunnelLayer({
    db,
    dialect: store.dialect,
    devices,
    accounts,
    audit,
    link: control.link,
    log: log.child({ part: "tunnels" }),
    dataDir,
    limits: Object.fromEntries(Object.entries(cfg.tunnels ?? {}).filter(([, v]) => v !== undefined)),
    execUsers: (projectId) => capabilities.api.exec.api.execUsers(projectId),
  });
  revocation.join("tunnels: close terminals, SSH sessions and forwards", (d) => tunnels.revokeDevice(d));
  const ctx: CapabilityContext = {
    db,
    dialect: store.dialect,
    devices,
    accounts,
    audit,
    link: control.link,
    telemetry,
    tunnels,
    broker: {
      async applySecret(device, password) {
        if (external) await external.setCredential(device, password);
        // Reconnect now, so the new secret is proven at once and the old one forgotten.
        broker?.disconnect(device.id);
      },
    },
    log,
    dataDir,
    config: cfg,
  };
  const capabilities = createCapabilities(ctx);
  // The server's own health (GET /api/v1/server/metrics) adds the control channel's counters.
  capabilities.api.metrics.setServerStats(() => ({
    control_handshakes_total: control.stats.handshakes,
    control_refused_total: control.stats.refused,
    control_decrypt_failures_total: control.stats.decryptFailures,
    control_durable_batches_total: control.stats.durableBatches,
    control_rate_limited_total: control.stats.rateLimited,
    control_wills_ignored_total: control.stats.willsIgnored,
    control_messages_up_total: control.stats.messagesUp,
    control_frames_down_total: control.stats.framesDown,
  }));
  // Alerts evaluate what the other capabilities store (docs/protocol.md §16).
  capabilities.api.alerts.attach({
    metrics: capabilities.api.metrics.store,
    logs: capabilities.api.logs,
    presence: control.presence.events,
  });
  control.route(capabilities.up, capabilities.delivered);
  for (const c of capabilities.list)
    if (c.revokeDevice) revocation.join(c.revokeDevice.step, c.revokeDevice.run);
  const websockets = new Map(capabilities.list.flatMap((c) => Object.entries(c.websockets ?? {})));
  websockets.set(TUNNEL_AGENT_PATH, tunnels.websocket);

  const services: Services = {
    store,
    accounts,
    audit,
    devices,
    deviceOps,
    enrollment,
    presence: control.presence,
    async userChanged(change) {
      await tunnels
        .userChanged(change)
        .catch((err) => log.error({ err }, "tunnels: user change step failed"));
      for (const c of capabilities.list) {
        try {
          await c.userChanged?.(change);
        } catch (err) {
          log.error({ err, capability: c.name }, "user change step failed");
        }
      }
    },
    allowedOrigins: () => (cfg.publicUrl ? [new URL(cfg.publicUrl).origin] : []),
    rateLimits: {
      ...DEFAULT_RATE_LIMITS,
      ...Object.fromEntries(Object.entries(cfg.rateLimits ?? {}).filter(([, v]) => v !== undefined)),
    },
  };
  await ensureAdmin(accounts, dataDir);
  const app = await buildApp(services, {
    https: { cert: tls.cert, key: tls.key },
    timeouts: {
      requestMs: limits.httpRequestTimeoutMs,
      keepAliveMs: limits.httpKeepAliveTimeoutMs,
      handshakeMs: preauth.timeoutMs,
      // Node checks request and header timeouts only this often.
      checkEveryMs: Math.max(
        100,
        Math.min(30_000, Math.floor(Math.min(limits.httpRequestTimeoutMs, preauth.timeoutMs) / 4)),
      ),
    },
    log,
    version: VERSION,
    plugins: capabilities.list.flatMap((c) => (c.routes ? [c.routes] : [])),
  });

  let closed = false;
  let closeGate = () => {};
  return {
    app,
    services,
    keys,
    tls,
    store,
    revocation,
    telemetry,
    tunnels,
    control,
    capabilities: capabilities.api,
    log,
    async listen() {
      await control.presence.resetAll("server restarted");
      const advertisedHost =
        publicHost ?? (["0.0.0.0", "::"].includes(cfg.mqttListen.host) ? hostname() : cfg.mqttListen.host);
      if (cfg.broker) {
        broker = external = await startExternalBroker({
          url: cfg.broker.url,
          adminFile: cfg.broker.adminFile,
          agentUrl: cfg.broker.agentUrl,
          caCert: brokerCa,
          log: log.child({ part: "broker" }),
          db,
          hooks: { onUp: (id, payload) => control.onUp(id, payload) },
        });
        control.attach(broker);
        await external.start(await loadReconcileDevices(db));
      } else {
        broker = await startEmbeddedBroker({
          host: cfg.mqttListen.host,
          port: cfg.mqttListen.port,
          tls: { cert: tls.cert, key: tls.key },
          log: log.child({ part: "broker" }),
          publicHost: advertisedHost,
          preauth,
          preauthBytes: limits.mqttMaxPreauthBytes,
          maxKeepaliveSeconds: limits.mqttMaxKeepaliveSeconds,
          hooks: {
            async authenticate(clientId, username, password) {
              if (!password || clientId !== username) return null;
              const d = await devices.get(clientId);
              if (!d || d.state !== "accepted" || !d.broker_password_hash) return null;
              if (!digestEquals(password.toString("utf8"), d.broker_password_hash)) return null;
              return { id: d.id, shard: d.shard };
            },
            onUp: (id, payload) => control.onUp(id, payload),
            onDisconnect: (id) =>
              void control.onDisconnect(id).catch((err) => log.error({ err }, "presence update failed")),
          },
        });
      }
      control.attach(broker);
      for (const c of capabilities.list) await c.start?.();
      const wss = new WebSocketServer({ noServer: true, maxPayload: 512 * 1024 });
      // HTTPS connections count as unauthenticated until they send a complete request head,
      // and again while idle between requests (docs/security.md "Listeners").
      const httpGate = new PreauthGate("HTTPS", preauth, log);
      closeGate = () => httpGate.closeAll();
      app.server.headersTimeout = Math.min(preauth.timeoutMs, limits.httpRequestTimeoutMs);
      // Registered first, so a request or upgrade is counted authenticated before it is served.
      gateHttpServer(app.server, httpGate);
      app.server.on("upgrade", (req, socket, head) => {
        const path = (req.url ?? "").split("?")[0];
        const own = websockets.get(path);
        if (own) return own(req, socket, head);
        if (path !== "/mqtt" || !broker?.handleWebSocket) {
          socket.destroy();
          return;
        }
        (socket as any).setNoDelay?.(true);
        wss.handleUpgrade(req, socket, head, (ws) => {
          const stream = createWebSocketStream(ws);
          stream.on("error", () => ws.terminate());
          broker!.handleWebSocket!(stream, req);
        });
      });
      await app.listen({ host: cfg.listen.host, port: cfg.listen.port });
      app.server.on("connection", (s: any) => s.setNoDelay?.(true));
      const port = (app.server.address() as AddressInfo).port;
      const httpHost = ["0.0.0.0", "::"].includes(cfg.listen.host) ? hostname() : cfg.listen.host;
      apiUrl = cfg.publicUrl?.replace(/\/$/, "") ?? `https://${hostForUrl(httpHost)}:${port}`;
      brokerUrl = broker.mqttUrl;
      wsUrl = broker.handleWebSocket ? `${apiUrl.replace(/^https:/, "wss:")}/mqtt` : "";
      const info: ServerInfoFile = {
        url: apiUrl,
        mqttUrl: brokerUrl,
        wsUrl,
        caCert: tls.caPath,
        fingerprint: keys.fingerprint,
        consoleUrl: `${apiUrl}/`,
        pid: process.pid,
        version: VERSION,
      };
      // Listeners of capabilities (the SSH gateway) start once the HTTPS port is known.
      for (const c of capabilities.list) Object.assign(info, (await c.listen?.()) ?? {});
      writeFileSync(join(dataDir, "server.json"), `${JSON.stringify(info, null, 2)}\n`);
      return info;
    },
    async close() {
      if (closed) return;
      closed = true;
      // Each step is bounded so a stuck peer cannot keep a stopping server alive.
      const bounded = async (what: string, p: Promise<unknown>) => {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<void>((r) => {
          timer = setTimeout(() => {
            log.warn(`${what} did not finish in 5 s; going on`);
            r();
          }, 5000);
        });
        await Promise.race([p, late]);
        clearTimeout(timer);
      };
      await bounded("closing the broker", broker?.close() ?? Promise.resolve());
      closeGate();
      await bounded("ending tunnel sessions", tunnels.close());
      await bounded("closing HTTP", app.close());
      await bounded("flushing control state", control.close());
      // Uploads already queued get their answer while the stream modules are still open.
      await bounded("draining telemetry ingest", telemetry.drain());
      for (const c of capabilities.list) {
        if (c.close) await bounded(`closing ${c.name}`, c.close());
      }
      await bounded("closing the telemetry database", telemetry.close());
      await store.close();
    },
  };
}

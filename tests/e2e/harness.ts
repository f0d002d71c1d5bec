/**
 * End-to-end test harness: real server and agent processes over loopback, a raw HTTPS
 * client for the API. Waits are on conditions (polled state with a generous cap), never
 * fixed sleeps.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { createFaultProxy, type FaultProxy } from "../support/fault-proxy.js";
import { type MosquittoHandle, startMosquitto } from "../support/mosquitto.js";
import { readResponse } from "../support/net.js";

export const ROOT = new URL("../..", import.meta.url).pathname;
const TSX = ["--import", "tsx", "--conditions=source"];

const tmpDirs: string[] = [];
export function tempDir(prefix = "tether-test-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tmpDirs.push(d);
  return d;
}
/**
 * At the end of a test file (its `after`): kill every agent it started and left running (an
 * agent outliving its test keeps retrying a server that is gone, and takes CPU from every test
 * after it), stop its brokers, remove its temp dirs and databases.
 */
export async function cleanupTempDirs(): Promise<void> {
  await Promise.all([...liveAgents].map((a) => a.kill()));
  await stopTestBrokers();
  for (const d of tmpDirs.splice(0)) rmSync(d, { recursive: true, force: true });
  await dropTestDatabases();
}

/**
 * The broker under test: the embedded one by default; a private Mosquitto (dynamic security)
 * per server data directory when TETHER_TEST_BROKER=mosquitto, so a restarted server finds
 * the same broker with its dynsec state. Stopped by cleanupTempDirs().
 */
export const TEST_BROKER = process.env.TETHER_TEST_BROKER === "mosquitto" ? "mosquitto" : "embedded";
const brokers = new Map<string, Promise<MosquittoHandle>>();

export async function brokerFor(dataDir: string): Promise<MosquittoHandle | undefined> {
  if (TEST_BROKER !== "mosquitto") return undefined;
  let b = brokers.get(dataDir);
  if (!b) {
    b = startMosquitto();
    brokers.set(dataDir, b);
  }
  return b;
}

async function stopTestBrokers(): Promise<void> {
  const all = [...brokers.values()];
  brokers.clear();
  await Promise.all(all.map(async (b) => (await b.catch(() => undefined))?.stop()));
}

/**
 * The store under test: SQLite by default; PostgreSQL when TETHER_TEST_DB=postgres
 * (TETHER_TEST_PG_URL names the server, default postgres://postgres@127.0.0.1:5432/).
 * Each server data directory gets its own database, so a restarted server finds its data.
 */
export const TEST_DB = process.env.TETHER_TEST_DB === "postgres" ? "postgres" : "sqlite";
const PG_BASE = process.env.TETHER_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/";
const createdDbs = new Set<string>();

async function pgAdmin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: new URL("postgres", PG_BASE).toString() });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function databaseFor(dataDir: string): Promise<string | undefined> {
  if (TEST_DB !== "postgres") return undefined;
  const name = `tether_t_${createHash("sha256").update(dataDir).digest("hex").slice(0, 20)}`;
  if (!createdDbs.has(name)) {
    await pgAdmin(async (c) => {
      await c.query(`create database ${name}`).catch((err) => {
        if (err.code !== "42P04") throw err; // already exists: a restart of the same server
      });
    });
    createdDbs.add(name);
  }
  return new URL(name, PG_BASE).toString();
}

async function dropTestDatabases(): Promise<void> {
  if (createdDbs.size === 0) return;
  const names = [...createdDbs];
  createdDbs.clear();
  await pgAdmin(async (c) => {
    for (const n of names) await c.query(`drop database if exists ${n} with (force)`);
  }).catch((err) => process.stderr.write(`could not drop test databases: ${err.message}\n`));
}

export { freePort } from "../support/net.js";

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | undefined>;
}

export interface Api {
  url: string;
  request<T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<ApiResponse<T>>;
  /** Like request, but throws unless the status is 2xx; returns the body. */
  call<T = any>(method: string, path: string, body?: unknown): Promise<T>;
}

export function makeApi(url: string, ca: string, token?: string, extra: Record<string, string> = {}): Api {
  const request = <T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    new Promise<ApiResponse<T>>((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = https.request(
        new URL(path, url),
        {
          method,
          ca,
          headers: {
            ...(token ? { authorization: `Bearer ${token}` } : {}),
            ...(data ? { "content-type": "application/json", "content-length": String(data.length) } : {}),
            ...extra,
            ...headers,
          },
        },
        (res) => readResponse(res).then(resolve, reject),
      );
      req.on("error", reject);
      if (data) req.write(data);
      req.end();
    });
  return {
    url,
    request,
    async call<T>(method: string, path: string, body?: unknown): Promise<T> {
      const r = await request<T>(method, path, body);
      if (r.status < 200 || r.status >= 300) {
        throw new Error(`${method} ${path} -> ${r.status} ${JSON.stringify(r.body)}`);
      }
      return r.body;
    },
  };
}

/** Poll a condition until it returns a truthy value (or the cap passes). */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface ServerInfo {
  url: string;
  mqttUrl: string;
  wsUrl: string;
  caCert: string;
  fingerprint: string;
}

export interface ServerHandle {
  dataDir: string;
  info: ServerInfo;
  ca: string;
  token: string;
  api: Api;
  proc: ChildProcess;
  httpPort: number;
  mqttPort: number;
  stderr(): string;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

export async function startServer(
  o: {
    dataDir?: string;
    httpPort?: number;
    mqttPort?: number;
    env?: Record<string, string>;
    /** Run the server under this hard limit on open files (`ulimit -Hn`). */
    fdLimit?: number;
  } = {},
): Promise<ServerHandle> {
  const dataDir = o.dataDir ?? join(tempDir(), "server");
  const database = await databaseFor(dataDir);
  const broker = await brokerFor(dataDir);
  const args = [
    ...TSX,
    join(ROOT, "tests/e2e/fixtures/server-main.ts"),
    dataDir,
    String(o.httpPort ?? 0),
    String(o.mqttPort ?? 0),
  ];
  // Node raises its soft limit to the hard one by itself, so a low limit must be the hard one.
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    env: {
      ...process.env,
      TETHER_LOG_LEVEL: "info",
      ...(o.fdLimit ? { TETHER_TEST_FD_LIMIT: String(o.fdLimit) } : {}),
      ...(database ? { TETHER_DATABASE_URL: database } : {}),
      ...(broker ? { TETHER_BROKER_URL: broker.url, TETHER_BROKER_ADMIN_FILE: broker.adminFile } : {}),
      ...o.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  proc.stderr!.on("data", (c) => {
    err += c;
    if (err.length > 2_000_000) err = err.slice(-1_000_000);
  });
  let out = "";
  const info = await new Promise<ServerInfo>((resolve, reject) => {
    proc.stdout!.on("data", (c) => {
      out += c;
      const m = /READY (\{.*\})\n/.exec(out);
      if (m) resolve(JSON.parse(m[1]));
    });
    proc.on("exit", (code) =>
      reject(new Error(`server exited (${code}) before ready:\n${err.slice(-3000)}`)),
    );
  });
  const ca = readFileSync(info.caCert, "utf8");
  const token = readFileSync(join(dataDir, "admin.token"), "utf8").trim();
  const mqttPort = Number(new URL(info.mqttUrl).port);
  if (broker && mqttPort !== broker.port) {
    proc.kill("SIGKILL");
    throw new Error(`server tells agents ${info.mqttUrl}, not its Mosquitto at ${broker.url}`);
  }
  const exited = once(proc, "exit");
  return {
    dataDir,
    info,
    ca,
    token,
    api: makeApi(info.url, ca, token),
    proc,
    httpPort: Number(new URL(info.url).port),
    /** The port agents dial: the embedded broker's, or the private Mosquitto's. */
    mqttPort,
    stderr: () => err,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      const t = setTimeout(() => {
        process.stderr.write(`server did not stop within 15 s of SIGTERM; killing it\n${err.slice(-2000)}\n`);
        proc.kill("SIGKILL");
      }, 15_000);
      await exited;
      clearTimeout(t);
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      await exited;
    },
  };
}

export interface AgentHandle {
  dataDir: string;
  proc: ChildProcess;
  stderr(): string;
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
  kill(): Promise<void>;
}

/** Agents started by this test process and not yet exited. */
const liveAgents = new Set<AgentHandle>();

export function startAgent(o: {
  dataDir: string;
  url?: string;
  token?: string;
  name?: string;
  env?: Record<string, string>;
}): AgentHandle {
  const args = [...TSX, join(ROOT, "tests/e2e/fixtures/agent-main.ts"), o.dataDir];
  if (o.url && o.token) args.push(o.url, o.token);
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, TETHER_LOG_LEVEL: "debug", ...(o.name ? { AGENT_NAME: o.name } : {}), ...o.env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  proc.stderr!.on("data", (c) => {
    err += c;
    if (err.length > 2_000_000) err = err.slice(-1_000_000);
  });
  const exited = once(proc, "exit").then(([code]) => code as number | null);
  const handle: AgentHandle = {
    dataDir: o.dataDir,
    proc,
    stderr: () => err,
    exited,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      return exited;
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      await exited;
    },
  };
  liveAgents.add(handle);
  void exited.then(() => liveAgents.delete(handle));
  return handle;
}

export async function createToken(api: Api, body: Record<string, unknown> = {}): Promise<string> {
  const r = await api.call<{ token: string }>("POST", "/api/v1/enrollment-tokens", body);
  return r.token;
}

export interface Device {
  id: string;
  name: string;
  state: string;
  online: boolean;
  labels: Record<string, string>;
  [k: string]: unknown;
}

export async function device(api: Api, ref: string): Promise<Device> {
  return api.call<Device>("GET", `/api/v1/devices/${encodeURIComponent(ref)}`);
}

/** Enroll a new auto-accepted agent and wait until it is online. */
export async function enrollOnline(
  server: ServerHandle,
  o: { name: string; labels?: Record<string, string>; env?: Record<string, string> },
): Promise<{ agent: AgentHandle; device: Device }> {
  const token = await createToken(server.api, { autoAccept: true, labels: o.labels ?? {} });
  const agent = startAgent({
    dataDir: join(tempDir(), "agent"),
    url: server.info.url,
    token,
    name: o.name,
    env: o.env,
  });
  const d = await waitFor(async () => {
    if (agent.proc.exitCode !== null) throw new Error(`agent exited: ${agent.stderr().slice(-2000)}`);
    const r = await server.api.request<Device>("GET", `/api/v1/devices/${o.name}`);
    return r.status === 200 && r.body.online ? r.body : undefined;
  }, `${o.name} online`);
  return { agent, device: d };
}

/** Point a (stopped) agent's broker URL at another port on loopback, e.g. a fault proxy. */
export function redirectAgentBroker(agentDataDir: string, port: number): void {
  const idFile = join(agentDataDir, "identity.json");
  const id = JSON.parse(readFileSync(idFile, "utf8"));
  // Keep the scheme: mqtts:// for the embedded broker, mqtt:// for a loopback Mosquitto.
  id.broker.url = `${new URL(id.broker.url).protocol}//127.0.0.1:${port}`;
  writeFileSync(idFile, JSON.stringify(id));
}

/**
 * Enroll a device, then run its agent again behind a fault-injecting proxy in front of the
 * broker (tests/support/fault-proxy.ts) with `env`; resolves once it is online through the
 * proxy. The caller stops both.
 */
export async function enrollBehindProxy(
  server: ServerHandle,
  o: { name: string; env?: Record<string, string> },
): Promise<{ agent: AgentHandle; proxy: FaultProxy }> {
  const first = (await enrollOnline(server, { name: o.name })).agent;
  await first.stop();
  const proxy = await createFaultProxy({ targetPort: server.mqttPort });
  redirectAgentBroker(first.dataDir, proxy.port);
  const agent = startAgent({ dataDir: first.dataDir, env: o.env });
  await waitFor(async () => (await device(server.api, o.name)).online, `${o.name} online through the proxy`);
  return { agent, proxy };
}

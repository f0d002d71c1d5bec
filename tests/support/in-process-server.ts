/**
 * A Tether server in this process (createServer), for tests that wire the server to a broker
 * they run themselves (a private Mosquitto, tests/support/mosquitto.ts) or that reach into its
 * store and services. Without `broker` it runs its embedded broker. Its log is kept in memory
 * for assertions; its store follows the pass (databaseFor: SQLite or PostgreSQL).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createServer, type TetherServer } from "@tether/server";
import pino from "pino";
import { type Api, databaseFor, makeApi } from "../e2e/harness.js";

export interface InProcessServer {
  srv: TetherServer;
  /** The admin's API client. */
  api: Api;
  url: string;
  /** The server's CA certificate (PEM), for more API clients (makeApi). */
  ca: string;
  dataDir: string;
  /** Every log line so far (pino JSON, level info and up). */
  logs: string[];
}

export async function startInProcessServer(o: {
  dataDir: string;
  /** 0 (the default): any free port. */
  httpPort?: number;
  broker?: { url: string; adminFile: string; caFile?: string };
}): Promise<InProcessServer> {
  const logs: string[] = [];
  const log = pino({ level: "info" }, { write: (s: string) => void logs.push(s) });
  const srv = await createServer({
    dataDir: o.dataDir,
    listen: { host: "127.0.0.1", port: o.httpPort ?? 0 },
    mqttListen: { host: "127.0.0.1", port: 0 },
    database: await databaseFor(o.dataDir),
    broker: o.broker,
    log,
  });
  const info = await srv.listen();
  const ca = readFileSync(info.caCert, "utf8");
  const token = readFileSync(join(o.dataDir, "admin.token"), "utf8").trim();
  return { srv, api: makeApi(info.url, ca, token), url: info.url, ca, dataDir: o.dataDir, logs };
}

/** The log lines that contain `msg` (and `also`, when given: a device id, say). */
export function logged(server: InProcessServer, msg: string, also?: string): string[] {
  return server.logs.filter((l) => l.includes(msg) && (!also || l.includes(also)));
}

/** An API token of `username` in the default project, made in the store (test setup only). */
export async function storeApiToken(
  server: InProcessServer,
  username: string,
  name = "setup",
): Promise<string> {
  const a = server.srv.services.accounts;
  return (await a.createApiToken(await a.userId(username), await a.projectId("default"), name)).token;
}

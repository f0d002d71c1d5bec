/**
 * Shared by the logs tests: a real server (SQLite, or PostgreSQL in its pass) with a few
 * devices, a viewer and a user of another project; log batches uploaded through the real
 * telemetry ingest with the device's token (./support.js); the tail's SSE client.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { LogLine } from "@tether/protocol";
import { createServer, type TetherServer } from "@tether/server";
import type { ServerConfig } from "../src/config.js";
import { pino } from "pino";
import { type Api, databaseFor, makeApi } from "../../../tests/e2e/harness.js";
import { type ServerAt, type SseReader, seedDevice, sse as readSse, uploadBatch } from "./support.js";

export const DEVICES = [
  { id: "l1-0001", name: "robot-1", labels: { site: "tokyo" } },
  { id: "l2-0002", name: "robot-2", labels: { site: "tokyo" } },
  { id: "l3-0003", name: "robot-3", labels: { site: "osaka" } },
];

export interface LogsServer {
  srv: TetherServer;
  url: string;
  ca: string;
  admin: Api;
  adminToken: string;
  viewer: Api;
  viewerToken: string;
  /** A user with a role in another project only. */
  stranger: Api;
  logs: string[];
}

export async function startLogsServer(
  dataDir: string,
  o: Partial<ServerConfig> = {},
  seed = true,
): Promise<LogsServer> {
  const logs: string[] = [];
  const srv = await createServer({
    dataDir,
    listen: { host: "127.0.0.1", port: 0 },
    mqttListen: { host: "127.0.0.1", port: 0 },
    database: await databaseFor(dataDir),
    log: pino({ level: "info" }, { write: (s: string) => void logs.push(s) }),
    ...o,
  });
  const info = await srv.listen();
  const ca = readFileSync(info.caCert, "utf8");
  const adminToken = readFileSync(join(dataDir, "admin.token"), "utf8").trim();
  const a = srv.services.accounts;
  const projectId = await a.projectId("default");
  let viewerToken: string;
  let strangerToken: string;
  if (seed) {
    const uid = await a.createUser("watcher", "a-long-enough-password", projectId);
    await a.setRole(uid, projectId, "viewer");
    viewerToken = (await a.createApiToken(uid, projectId, "t")).token;
    const other = await a.ensureProject("elsewhere");
    const sid = await a.createUser("stranger", "a-long-enough-password", other);
    await a.setRole(sid, other, "admin");
    strangerToken = (await a.createApiToken(sid, other, "t")).token;
    for (const d of DEVICES) await seedDevice(srv, projectId, d);
  } else {
    viewerToken = adminToken;
    strangerToken = adminToken;
  }
  return {
    srv,
    url: info.url,
    ca,
    admin: makeApi(info.url, ca, adminToken),
    adminToken,
    viewer: makeApi(info.url, ca, viewerToken),
    viewerToken,
    stranger: makeApi(info.url, ca, strangerToken),
    logs,
  };
}

/** Upload a logs batch with the device's newest token; the answer (status and body). */
export const uploadLogs = (
  s: ServerAt,
  deviceId: string,
  seq: number,
  body: Record<string, unknown>,
  sentAt?: number,
): Promise<{ status: number; body: any }> => uploadBatch(s, deviceId, "logs", seq, body, sentAt);

export async function uploadOk(
  s: ServerAt,
  deviceId: string,
  seq: number,
  body: Record<string, unknown>,
  sentAt?: number,
): Promise<{ accepted: number; dropped: Record<string, number>; duplicate: boolean }> {
  const r = await uploadLogs(s, deviceId, seq, body, sentAt);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

/** An SSE client of the tail (./support.js sse): the events so far, `lines()` the `line` events' data. */
export function sse(
  s: { url: string; ca: string },
  path: string,
  token: string,
  headers: Record<string, string> = {},
): SseReader & { lines(): LogLine[] } {
  const r = readSse(s, path, token, headers);
  return { ...r, lines: () => r.of<LogLine>("line") };
}

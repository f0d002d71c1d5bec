/**
 * Shared by the logs tests: a real server (SQLite, or PostgreSQL in its pass) with a few
 * devices, a viewer and a user of another project; log batches uploaded through the real
 * telemetry ingest with the device's token; an SSE client that records events.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import https from "node:https";
import type { IncomingMessage } from "node:http";
import { join } from "node:path";
import type { LogLine } from "@tether/protocol";
import { createServer, type TetherServer } from "@tether/server";
import type { ServerConfig } from "../src/config.js";
import { pino } from "pino";
import { type Api, databaseFor, makeApi } from "../../../tests/e2e/harness.js";
import { readResponse } from "../../../tests/support/net.js";
import { insertDevice } from "./support.js";

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
    for (const d of DEVICES) {
      await insertDevice(srv.store.db, projectId, d.id);
      await srv.store.db
        .updateTable("devices")
        .set({ name: d.name, labels: JSON.stringify(d.labels) })
        .where("id", "=", d.id)
        .execute();
      await srv.telemetry.rotateToken((await srv.services.devices.get(d.id))!);
    }
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
export async function uploadLogs(
  s: { srv: TetherServer; url: string; ca: string },
  deviceId: string,
  seq: number,
  body: Record<string, unknown>,
  sentAt = Date.now(),
): Promise<{ status: number; body: any }> {
  const row = await s.srv.store.db
    .selectFrom("outbox")
    .select("body")
    .where("device_id", "=", deviceId)
    .where("type", "=", "telemetry.token")
    .orderBy("mid", "desc")
    .executeTakeFirstOrThrow();
  const token = (JSON.parse(row.body) as { token: string }).token;
  const data = Buffer.from(JSON.stringify({ v: 1, device: deviceId, stream: "logs", seq, sentAt, ...body }));
  return new Promise((resolve, reject) => {
    const req = https.request(
      new URL("/api/v1/telemetry/batches", s.url),
      {
        method: "POST",
        ca: s.ca,
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          "content-length": String(data.length),
        },
      },
      (r) => readResponse(r).then(resolve, reject),
    );
    req.on("error", reject);
    req.end(data);
  });
}

export async function uploadOk(
  s: { srv: TetherServer; url: string; ca: string },
  deviceId: string,
  seq: number,
  body: Record<string, unknown>,
  sentAt?: number,
): Promise<{ accepted: number; dropped: Record<string, number>; duplicate: boolean }> {
  const r = await uploadLogs(s, deviceId, seq, body, sentAt);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

export interface SseEvent {
  event: string;
  id?: string;
  data: any;
}

/** An SSE client: the events so far; pause() stops reading (a slow consumer). */
export function sse(
  s: { url: string; ca: string },
  path: string,
  token: string,
  headers: Record<string, string> = {},
) {
  const events: SseEvent[] = [];
  let buf = "";
  let res: IncomingMessage | undefined;
  const opened = new Promise<{ status: number; body?: any }>((resolve, reject) => {
    const req = https.get(
      new URL(path, s.url),
      { ca: s.ca, headers: { authorization: `Bearer ${token}`, ...headers } },
      (r) => {
        res = r;
        if (r.statusCode !== 200)
          return void readResponse(r).then((x) => resolve({ status: x.status, body: x.body }));
        resolve({ status: 200 });
        r.setEncoding("utf8");
        r.on("data", (c: string) => {
          buf += c;
          let i = buf.indexOf("\n\n");
          while (i >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const ev = /^event: (.*)$/m.exec(block)?.[1];
            const id = /^id: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (ev && data !== undefined) events.push({ event: ev, id, data: JSON.parse(data) });
            i = buf.indexOf("\n\n");
          }
        });
        r.on("error", () => {});
      },
    );
    req.on("error", () => {});
    req.on("error", reject);
  });
  return {
    events,
    opened,
    lines: () => events.filter((e) => e.event === "line").map((e) => e.data as LogLine),
    pause: () => res?.pause(),
    resume: () => res?.resume(),
    close: () => res?.destroy(),
  };
}

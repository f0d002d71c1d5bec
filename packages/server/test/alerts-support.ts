/**
 * Shared by the alerts and webhooks tests: an in-process server with an injectable clock,
 * users of each role, devices with labels, and webhook receivers (node:http on 127.0.0.x)
 * that record every request and answer as the test says.
 */
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import {
  createServer as httpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { ServerConfig } from "../src/config.js";
import { createServer, type TetherServer } from "@tether/server";
import { pino } from "pino";
import { type Api, databaseFor, makeApi, tempDir } from "../../../tests/e2e/harness.js";
import { uploadMetrics } from "./metrics-support.js";
import { seedDevice } from "./support.js";

export interface Received {
  headers: IncomingMessage["headers"];
  body: string;
  json: any;
}

export interface Receiver {
  url: string;
  got: Received[];
  /** How to answer the next request (default 200). */
  answer: (req: IncomingMessage, res: ServerResponse, n: number) => void;
  close(): Promise<void>;
}

export async function receiver(host = "127.0.0.1"): Promise<Receiver> {
  const r: Receiver = {
    url: "",
    got: [],
    answer: (_req, res) => res.writeHead(200).end("ok"),
    close: async () => {},
  };
  const srv: Server = httpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      r.got.push({ headers: req.headers, body, json });
      r.answer(req, res, r.got.length);
    });
  });
  await new Promise<void>((ok) => srv.listen(0, host, ok));
  r.url = `http://${host}:${(srv.address() as AddressInfo).port}/hook`;
  r.close = () =>
    new Promise<void>((ok) => {
      srv.closeAllConnections();
      srv.close(() => ok());
    });
  return r;
}

/** The signature check a receiver does (the recipe in the docs). */
export function verify(secret: string, header: string | undefined, body: string): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? "");
  if (!m) return false;
  const want = createHmac("sha256", secret).update(`${m[1]}.${body}`).digest("hex");
  return want === m[2];
}

export interface World {
  srv: TetherServer;
  url: string;
  ca: string;
  admin: Api;
  operator: Api;
  viewer: Api;
  projectId: number;
  /** The alerts clock; tests move it. */
  clock: { now: number };
  upload(
    deviceId: string,
    metrics: { name: string; labels?: Record<string, string>; value: number }[],
  ): Promise<void>;
}

export const DEVICES = [
  { id: "r1-0001", name: "robot-1", labels: { site: "tokyo" } },
  { id: "r2-0002", name: "robot-2", labels: { site: "tokyo" } },
  { id: "r3-0003", name: "robot-3", labels: { site: "osaka" } },
];

let worlds = 0;

export async function world(
  alerts: NonNullable<ServerConfig["alerts"]> = {},
  dataDir = tempDir("tether-alerts-"),
): Promise<World> {
  const clock = { now: Date.now() };
  const srv = await createServer({
    dataDir,
    listen: { host: "127.0.0.1", port: 0 },
    mqttListen: { host: "127.0.0.1", port: 0 },
    database: await databaseFor(dataDir),
    log: pino({ level: "silent" }),
    alerts: { clock: () => clock.now, ...alerts },
  });
  const info = await srv.listen();
  const ca = readFileSync(info.caCert, "utf8");
  const admin = makeApi(info.url, ca, readFileSync(join(dataDir, "admin.token"), "utf8").trim());
  const a = srv.services.accounts;
  const projectId = await a.projectId("default");
  const n = ++worlds;
  const as = async (name: string, role: "viewer" | "operator") => {
    const uid = await a.createUser(n === 1 ? name : `${name}-${n}`, "a-long-enough-password", projectId);
    await a.setRole(uid, projectId, role);
    return makeApi(info.url, ca, (await a.createApiToken(uid, projectId, "t")).token);
  };
  const operator = await as("oper", "operator");
  const viewer = await as("watcher", "viewer");
  const seqs = new Map<string, number>();
  for (const d of DEVICES) {
    if (!(await srv.services.devices.get(d.id))) await seedDevice(srv, projectId, d);
  }
  let t = Date.now();
  return {
    srv,
    url: info.url,
    ca,
    admin,
    operator,
    viewer,
    projectId,
    clock,
    async upload(deviceId, metrics) {
      // Milliseconds: a world made again after a restart starts above every seq the last one used.
      const seq = (seqs.get(deviceId) ?? Date.now()) + 1;
      seqs.set(deviceId, seq);
      t += 1000;
      await uploadMetrics({ srv, url: info.url, ca }, deviceId, seq, {
        metrics: metrics.map((m) => ({ name: m.name, labels: m.labels ?? {}, points: [[t, m.value]] })),
      });
    },
  };
}

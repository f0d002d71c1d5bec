/**
 * Shared by the configuration delivery and rollout tests: an in-process server (SQLite, or
 * PostgreSQL in the store pass) with accepted devices that have real X25519 keys and telemetry
 * tokens; the test plays the agent: it reads `config.apply` from the outbox, acknowledges it
 * (the delivered handler) and reports through the real `config.report` handler.
 */
import { readFileSync } from "node:fs";
import https from "node:https";
import { join } from "node:path";
import { generateX25519, type KeyPair } from "@tether/protocol";
import { createServer, type TetherServer } from "@tether/server";
import { pino } from "pino";
import { type Api, databaseFor, makeApi, tempDir } from "../../../tests/e2e/harness.js";
import { seedDevice } from "./support.js";

export interface Dev {
  id: string;
  name: string;
  labels: Record<string, string>;
}

export interface ApplyMsg {
  mid: number;
  body: {
    rev: number;
    hash: string;
    values: Record<string, unknown>;
    files: { path: string; hash: string; size: number; secret: boolean; d?: string }[];
  };
}

export interface ConfigWorld {
  srv: TetherServer;
  url: string;
  ca: string;
  admin: Api;
  projectId: number;
  actor: { username: string; projectId: number };
  cfg: TetherServer["capabilities"]["config"];
  keys: Map<string, KeyPair>;
  /** The `config.apply` messages waiting in the device's outbox, oldest first. */
  applies(deviceId: string): Promise<ApplyMsg[]>;
  /** The agent acknowledges every waiting `config.apply` (they leave the outbox; the delivered handler runs). */
  ack(deviceId: string): Promise<ApplyMsg[]>;
  /** A `config.report` through the capability's handler, in a transaction like the transport's. */
  report(
    deviceId: string,
    b: { rev: number; hash: string; status: "applied" | "failed" | "ignored" | "drift" } & Record<
      string,
      unknown
    >,
  ): Promise<void>;
  /** Ack and report applied what the device was sent last. */
  applyLatest(deviceId: string): Promise<ApplyMsg>;
  token(deviceId: string): Promise<string>;
  close(): Promise<void>;
}

export async function configWorld(devs: Dev[]): Promise<ConfigWorld> {
  const dataDir = tempDir("tether-config-");
  const srv = await createServer({
    dataDir,
    listen: { host: "127.0.0.1", port: 0 },
    mqttListen: { host: "127.0.0.1", port: 0 },
    database: await databaseFor(dataDir),
    log: pino({ level: "silent" }),
  });
  const info = await srv.listen();
  const ca = readFileSync(info.caCert, "utf8");
  const admin = makeApi(info.url, ca, readFileSync(join(dataDir, "admin.token"), "utf8").trim());
  const projectId = await srv.services.accounts.projectId("default");
  const keys = new Map<string, KeyPair>();
  for (const d of devs) {
    await seedDevice(srv, projectId, d);
    const k = generateX25519();
    keys.set(d.id, k);
    await srv.store.db
      .updateTable("devices")
      .set({ noise_key: Buffer.from(k.publicKey).toString("base64url") })
      .where("id", "=", d.id)
      .execute();
  }
  const cfg = srv.capabilities.config;
  const db = srv.store.db;
  const applies = async (deviceId: string): Promise<ApplyMsg[]> =>
    (
      await db
        .selectFrom("outbox")
        .select(["mid", "body"])
        .where("device_id", "=", deviceId)
        .where("type", "=", "config.apply")
        .orderBy("mid")
        .execute()
    ).map((r) => ({ mid: r.mid, body: JSON.parse(r.body) }));
  const dev = async (id: string) => {
    const d = await srv.services.devices.get(id);
    if (!d) throw new Error(`no device ${id}`);
    return d;
  };
  const w: ConfigWorld = {
    srv,
    url: info.url,
    ca,
    admin,
    projectId,
    actor: { username: "admin", projectId },
    cfg,
    keys,
    applies,
    async ack(deviceId) {
      const ms = await applies(deviceId);
      const d = await dev(deviceId);
      for (const m of ms) {
        await db.deleteFrom("outbox").where("device_id", "=", deviceId).where("mid", "=", m.mid).execute();
        await cfg.delivery.delivered(d, m.mid);
      }
      return ms;
    },
    async report(deviceId, b) {
      const d = await dev(deviceId);
      const after: (() => void)[] = [];
      await db.transaction().execute(async (trx) => {
        await cfg.delivery.report({ device: d, trx, after: (f) => after.push(f) }, {
          error: null,
          hook: null,
          drift: [],
          at: Date.now(),
          ...b,
        } as never);
      });
      for (const f of after) f();
      await cfg.rollouts.idle();
    },
    async applyLatest(deviceId) {
      const ms = await w.ack(deviceId);
      const m = ms.at(-1);
      if (!m) throw new Error(`nothing sent to ${deviceId}`);
      await w.report(deviceId, { rev: m.body.rev, hash: m.body.hash, status: "applied" });
      return m;
    },
    async token(deviceId) {
      const row = await db
        .selectFrom("outbox")
        .select("body")
        .where("device_id", "=", deviceId)
        .where("type", "=", "telemetry.token")
        .orderBy("mid", "desc")
        .executeTakeFirstOrThrow();
      return (JSON.parse(row.body) as { token: string }).token;
    },
    close: () => srv.close(),
  };
  return w;
}

/** GET a path with headers; the raw body. */
export function getRaw(
  w: { url: string; ca: string },
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = https.get(new URL(path, w.url), { ca: w.ca, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}

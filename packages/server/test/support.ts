/**
 * Shared by the server's tests: an accepted device row inserted straight into the store (and
 * one with a name, labels and a telemetry token); telemetry batches uploaded through the real
 * ingest endpoint with the device's newest token (the test plays the agent); an SSE client
 * that records the events of a stream.
 */
import type { IncomingMessage } from "node:http";
import https from "node:https";
import type { TelemetryStream } from "@tether/protocol";
import type { TetherServer } from "@tether/server";
import type { Kysely } from "kysely";
import { readResponse } from "../../../tests/support/net.js";
import { nowIso } from "../src/store/db.js";
import type { DB } from "../src/store/schema.js";

export async function insertDevice(db: Kysely<DB>, projectId: number, id: string): Promise<void> {
  await db
    .insertInto("devices")
    .values({
      id,
      project_id: projectId,
      name: id,
      state: "accepted",
      sign_key: `sign-${id}`,
      noise_key: `noise-${id}`,
      fingerprint: `fp-${id}`,
      hostname: `${id}.local`,
      source_address: "127.0.0.1",
      labels: "{}",
      facts: null,
      shard: 0,
      broker_password_hash: null,
      enroll_token_id: null,
      created_at: nowIso(),
      last_seen_at: null,
      online: 0,
      conn_id: null,
      hs_counter: "0",
      down_next_mid: 1,
      up_low: 0,
      up_above: "[]",
    })
    .execute();
}

/** An accepted device with a name and labels, and a telemetry token (queued for it in the outbox). */
export async function seedDevice(
  srv: TetherServer,
  projectId: number,
  d: { id: string; name: string; labels: Record<string, string> },
): Promise<void> {
  await insertDevice(srv.store.db, projectId, d.id);
  await srv.store.db
    .updateTable("devices")
    .set({ name: d.name, labels: JSON.stringify(d.labels) })
    .where("id", "=", d.id)
    .execute();
  await srv.telemetry.rotateToken((await srv.services.devices.get(d.id))!);
}

/** Where a test server answers: its store, HTTPS URL and CA. */
export interface ServerAt {
  srv: TetherServer;
  url: string;
  ca: string;
}

/**
 * Upload a telemetry batch through the real ingest endpoint with the device's newest token
 * (read from its queued `telemetry.token` message); the answer, status and body.
 */
export async function uploadBatch(
  s: ServerAt,
  deviceId: string,
  stream: TelemetryStream,
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
  const data = Buffer.from(JSON.stringify({ v: 1, device: deviceId, stream, seq, sentAt, ...body }));
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

export interface SseEvent {
  event: string;
  id?: string;
  data: any;
}

export interface SseReader {
  /** The events so far (those with a name and data). */
  events: SseEvent[];
  /** The answer's status (and JSON body when not 200). */
  opened: Promise<{ status: number; body?: any }>;
  /** The data of the events so far named `event`. */
  of<T = any>(event: string): T[];
  /** Stop reading (a slow consumer), and read again. */
  pause(): void;
  resume(): void;
  close(): void;
}

/** An SSE client of `path` with a bearer token: records the events it reads. */
export function sse(
  s: { url: string; ca: string },
  path: string,
  token: string,
  headers: Record<string, string> = {},
): SseReader {
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
    req.on("error", reject);
  });
  return {
    events,
    opened,
    of: (event) => events.filter((e) => e.event === event).map((e) => e.data),
    pause: () => void res?.pause(),
    resume: () => void res?.resume(),
    close: () => void res?.destroy(),
  };
}

/**
 * Shared by the telemetry layer's tests: the layer over a real main store and telemetry
 * database (SQLite, or PostgreSQL when TETHER_TEST_DB=postgres), its ingest route on a real
 * HTTPS listener, a FakeLink for the token messages, and a counting stream handler that
 * stores one row per accepted batch in the telemetry database, in the claim's transaction.
 */
import { mkdtempSync, rmSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import type { TelemetryStream } from "@tether/protocol";
import Fastify, { type FastifyInstance } from "fastify";
import type { Kysely, Migration } from "kysely";
import { pino } from "pino";
import { databaseFor } from "../../../tests/e2e/harness.js";
import { readResponse } from "../../../tests/support/net.js";
import type { ServerConfig } from "../src/config.js";
import { openServerStore } from "../src/create-server.js";
import { Devices } from "../src/devices.js";
import { loadOrCreateTls } from "../src/security/tls.js";
import { nowIso, type Store } from "../src/store/db.js";
import {
  createTelemetryLayer,
  type IncomingBatch,
  openTelemetryDb,
  type SeqClaim,
  type StreamHandler,
  type StreamIngestResult,
  type TelemetryLayerImpl,
} from "../src/telemetry/index.js";
import { FakeLink } from "./fake-link.js";
import { insertDevice } from "./support.js";

/** A table of the test handler in the telemetry database. */
const testMigrations = (): Record<string, Migration> => ({
  tt0001_test_rows: {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable("test_rows")
        .addColumn("device_id", "text", (c) => c.notNull())
        .addColumn("stream", "text", (c) => c.notNull())
        .addColumn("seq", "bigint", (c) => c.notNull())
        .addColumn("n", "integer", (c) => c.notNull())
        .execute();
    },
  },
});

/** Stores one row per accepted batch (n = series in it), inside the transaction that claims its seq. */
export class CountingHandler implements StreamHandler {
  calls = 0;
  batches = 0;
  constructor(private readonly db: Kysely<any>) {}

  ingest(batches: IncomingBatch[], claim: SeqClaim): Promise<(StreamIngestResult | "duplicate")[]> {
    this.calls++;
    this.batches += batches.length;
    return this.db.transaction().execute(async (trx) => {
      const out: (StreamIngestResult | "duplicate")[] = [];
      for (const b of batches) {
        if (!(await claim(trx, b))) {
          out.push("duplicate");
          continue;
        }
        const n = b.batch.metrics?.length ?? b.batch.logs?.length ?? 0;
        await trx
          .insertInto("test_rows")
          .values({ device_id: b.device.id, stream: b.batch.stream, seq: b.batch.seq, n })
          .execute();
        out.push({ accepted: n, dropped: {} });
      }
      return out;
    });
  }
}

export interface Fixture {
  dir: string;
  main: Store;
  layer: TelemetryLayerImpl;
  link: FakeLink;
  devices: Devices;
  handler: CountingHandler;
  app: FastifyInstance;
  url: string;
  ca: string;
  logs: string[];
  /** POST a batch (object → JSON; Buffer as is) with a token. */
  post(
    token: string | undefined,
    body: unknown,
    o?: { gzip?: boolean; headers?: Record<string, string> },
  ): Promise<{ status: number; body: any }>;
  /** The plaintext of the newest telemetry.token message queued for a device. */
  lastToken(deviceId: string): Promise<string>;
  rows(deviceId?: string): Promise<{ device_id: string; stream: string; seq: number; n: number }[]>;
  close(): Promise<void>;
}

export const batch = (device: string, seq: number, extra: Record<string, unknown> = {}) => ({
  v: 1,
  device,
  stream: "metrics",
  seq,
  sentAt: Date.now(),
  metrics: [{ name: "cpu_usage_percent", points: [[Date.now(), 12.5]] }],
  ...extra,
});

export async function telemetryFixture(
  o: { config?: ServerConfig; streams?: TelemetryStream[]; devices?: string[] } = {},
): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), "tether-telemetry-"));
  const url = (await databaseFor(dir)) ?? `sqlite:${join(dir, "tether.db")}`;
  const main = await openServerStore(url);
  const { id: projectId } = await main.db
    .insertInto("projects")
    .values({ name: "p", created_at: nowIso() })
    .returning("id")
    .executeTakeFirstOrThrow();
  for (const id of o.devices ?? ["dev-a", "dev-b"]) await insertDevice(main.db, projectId, id);
  const store = await openTelemetryDb(url, dir, [testMigrations]);
  const logs: string[] = [];
  const log = pino({ level: "info" }, { write: (s: string) => void logs.push(s) });
  const link = new FakeLink(main.db);
  const devices = new Devices(main.db);
  const layer = createTelemetryLayer({
    store,
    db: main.db,
    devices,
    link,
    log,
    config: o.config ?? ({} as ServerConfig),
  }) as TelemetryLayerImpl;
  const handler = new CountingHandler(store.db);
  for (const s of o.streams ?? ["metrics", "logs"]) layer.handle(s, handler);
  const tls = await loadOrCreateTls(dir, []);
  const app = Fastify({ https: { cert: tls.cert, key: tls.key } }) as unknown as FastifyInstance;
  await layer.routes(app);
  await app.listen({ host: "127.0.0.1", port: 0 });
  const base = `https://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

  const post: Fixture["post"] = (token, body, po = {}) =>
    new Promise((resolve, reject) => {
      let data = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
      if (po.gzip) data = gzipSync(data);
      const req = https.request(
        new URL("/api/v1/telemetry/batches", base),
        {
          method: "POST",
          ca: tls.ca,
          headers: {
            "content-type": "application/json",
            "content-length": String(data.length),
            ...(po.gzip ? { "content-encoding": "gzip" } : {}),
            ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
            ...po.headers,
          },
        },
        (res) => readResponse(res).then(resolve, reject),
      );
      // The server may answer (401, 413) and close before the whole body is sent.
      req.on("error", reject);
      req.end(data);
    });

  return {
    dir,
    main,
    layer,
    link,
    devices,
    handler,
    app,
    url: base,
    ca: tls.ca,
    logs,
    post,
    async lastToken(deviceId) {
      const msgs = (await link.outbox.pending(deviceId)).filter((m) => m.type === "telemetry.token");
      const last = msgs.at(-1);
      if (!last) throw new Error(`no telemetry.token queued for ${deviceId}`);
      return (last.body as { token: string }).token;
    },
    async rows(deviceId) {
      let q = store.db.selectFrom("test_rows").selectAll();
      if (deviceId) q = q.where("device_id", "=", deviceId);
      const rs = await q.orderBy("stream").orderBy("seq").execute();
      return rs.map((r: any) => ({ device_id: r.device_id, stream: r.stream, seq: Number(r.seq), n: r.n }));
    },
    async close() {
      await app.close();
      await layer.close();
      await main.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

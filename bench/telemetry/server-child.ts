/**
 * A Tether server in its own process for bench:telemetry (so its CPU and the clients' never
 * share one event loop). Usage: server-child.ts '<json options>'
 *   { dataDir, database?, devices: N (simulated devices to create, accepted, with tokens),
 *     tokensFile (where their ids and telemetry tokens go), enrollUses (an enrollment token
 *     for real agents), config? (more server settings, e.g. bench:logs' logs and alerts) }
 * Simulated devices are inserted into the store directly (their enrollment is not under
 * test); their telemetry tokens come from the server's own sweep (which issues a token to
 * every accepted device without one) and are read from the outbox message that would carry
 * them to the agent (docs/protocol.md §14.1).
 * Events: {ev:"ready", url, ca, adminToken, pid, devices}, {ev:"stats", ...},
 * {ev:"compacted", ...}. Commands: "stats", "compact [nowMs]", "quit".
 */
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createServer } from "@tether/server";
import { sql } from "kysely";
import pino from "pino";
import { emit, onCommand } from "../lib/util.js";
import { metricStoreOf, telemetryOf } from "./server-access.js";

const o = JSON.parse(process.argv[2]!) as {
  dataDir: string;
  database?: string;
  devices: number;
  tokensFile?: string;
  enrollUses?: number;
  config?: Record<string, unknown>;
};

const srv = await createServer({
  dataDir: o.dataDir,
  database: o.database,
  listen: { host: "127.0.0.1", port: 0 },
  mqttListen: { host: "127.0.0.1", port: 0 },
  log: pino({ level: "warn" }, pino.destination(2)),
  rateLimits: { enrollPerAddress: 1_000_000, enrollPollPerAddress: 1_000_000, loginPerAddress: 1_000_000 },
  // The sweep issues the simulated devices' first tokens; quickly, so set-up is short. The
  // queries' 24 h backfill of one device (4.3 M samples in 2 s) is over a device's default
  // sample budget (burst 2 M, then 50 k/s): set-up only, so the budget is raised for it.
  telemetry: { sweepMs: 200, deviceSampleBurst: 10_000_000 },
  ...o.config,
});
const info = await srv.listen();
const db = srv.store.db;
const projectId = await srv.services.accounts.projectId("default");

const devices: { id: string; name: string; token?: string }[] = [];
if (o.devices > 0) {
  const now = new Date().toISOString();
  for (let i = 0; i < o.devices; i++)
    devices.push({ id: `dev_${randomBytes(10).toString("hex")}`, name: `sim-${String(i).padStart(4, "0")}` });
  for (let i = 0; i < devices.length; i += 200) {
    await db
      .insertInto("devices")
      .values(
        devices.slice(i, i + 200).map((d) => ({
          id: d.id,
          project_id: projectId,
          name: d.name,
          state: "accepted",
          sign_key: randomBytes(32).toString("base64url"),
          noise_key: randomBytes(32).toString("base64url"),
          fingerprint: "bench",
          hostname: d.name,
          source_address: "127.0.0.1",
          labels: JSON.stringify({ site: i % 2 ? "tokyo" : "osaka" }),
          facts: null,
          shard: 0,
          broker_password_hash: null,
          enroll_token_id: null,
          created_at: now,
          last_seen_at: null,
          online: 0,
          conn_id: null,
          hs_counter: "0",
          down_next_mid: 1,
          up_low: 0,
          up_above: "[]",
        })),
      )
      .execute();
  }
  // Wait for the sweep to give every device a token; read them from the outbox.
  const deadline = Date.now() + 120_000;
  const byId = new Map(devices.map((d) => [d.id, d]));
  for (;;) {
    const rows = await sql<{ device_id: string; body: string }>`
      select device_id, body from outbox where type = 'telemetry.token'`.execute(db);
    for (const r of rows.rows) {
      const d = byId.get(r.device_id);
      if (d) d.token = (JSON.parse(r.body) as { token: string }).token;
    }
    if (devices.every((d) => d.token)) break;
    if (Date.now() > deadline)
      throw new Error(
        `the telemetry sweep issued tokens to ${devices.filter((d) => d.token).length}/${devices.length} devices in 120 s`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
  if (o.tokensFile) writeFileSync(o.tokensFile, JSON.stringify(devices), { mode: 0o600 });
}

let enrollToken: string | undefined;
if (o.enrollUses) {
  ({ token: enrollToken } = await srv.services.enrollment.createToken(projectId, "bench", {
    autoAccept: true,
    uses: o.enrollUses,
  }));
}

emit({
  ev: "ready",
  pid: process.pid,
  url: info.url,
  ca: srv.tls.ca,
  adminToken: readFileSync(join(o.dataDir, "admin.token"), "utf8").trim(),
  devices: devices.length,
  enrollToken,
});

onCommand((cmd, args) => {
  void (async () => {
    try {
      if (cmd === "stats") {
        const store = metricStoreOf(srv);
        emit({ ev: "stats", metrics: store?.stats() ?? null, telemetry: telemetryOf(srv)?.stats() ?? null });
      } else if (cmd === "compact") {
        const store = metricStoreOf(srv);
        if (!store) throw new Error("the metric store is not reachable from the server object");
        const t0 = performance.now();
        const r = await store.compact(args[0] ? Number(args[0]) : undefined);
        emit({ ev: "compacted", ms: performance.now() - t0, ...r });
      } else if (cmd === "quit") {
        await srv.close();
        process.exit(0);
      }
    } catch (err) {
      emit({ ev: "error", cmd, message: String((err as Error)?.stack ?? err) });
    }
  })();
});

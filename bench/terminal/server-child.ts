/**
 * A Tether server in its own process for bench:terminal (its RSS measured alone, its event loop
 * not shared with the clients'). Usage: server-child.ts '<json>' with
 *   { dataDir, enrollUses (an auto-accept enrollment token for that many agents), tunnels?,
 *     operators? (that many more users, role operator, each with an API token) }
 * `tunnels` raises the per-user session limit and `operators` spreads the 100-shell row over
 * several users (a user may have 64 terminal WebSockets open at once).
 * Events: {ev:"ready", pid, url, ca, adminToken, enrollToken, operatorTokens}, {ev:"online", n}.
 * Commands: "watch N" (emit the online count as it changes until ≥ N), "quit".
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createServer } from "@tether/server";
import { sql } from "kysely";
import pino from "pino";
import { emit, onCommand } from "../lib/util.js";

const o = JSON.parse(process.argv[2]!) as {
  dataDir: string;
  enrollUses: number;
  tunnels?: Record<string, number>;
  operators?: number;
};

const srv = await createServer({
  dataDir: o.dataDir,
  listen: { host: "127.0.0.1", port: 0 },
  mqttListen: { host: "127.0.0.1", port: 0 },
  log: pino({ level: "warn" }, pino.destination(2)),
  // Many agents enroll from 127.0.0.1 here: the per-address limits are not under test.
  rateLimits: { enrollPerAddress: 1_000_000, enrollPollPerAddress: 1_000_000, loginPerAddress: 1_000_000 },
  tunnels: o.tunnels,
});
const info = await srv.listen();
const projectId = await srv.services.accounts.projectId("default");
const { token: enrollToken } = await srv.services.enrollment.createToken(projectId, "bench", {
  autoAccept: true,
  uses: Math.max(1, o.enrollUses),
});
const operatorTokens: string[] = [];
for (let i = 0; i < (o.operators ?? 0); i++) {
  const accounts = srv.services.accounts;
  const uid = await accounts.createUser(`bench-op-${i}`, `bench-${i}-${process.pid}-password`, projectId);
  await accounts.setRole(uid, projectId, "operator");
  operatorTokens.push((await accounts.createApiToken(uid, projectId, "bench")).token);
}

emit({
  ev: "ready",
  pid: process.pid,
  url: info.url,
  ca: srv.tls.ca,
  adminToken: readFileSync(join(o.dataDir, "admin.token"), "utf8").trim(),
  enrollToken,
  operatorTokens,
});

async function countOnline(): Promise<number> {
  const r = await sql<{ n: number }>`select count(*) as n from devices where online = 1`.execute(
    srv.store.db,
  );
  return Number(r.rows[0]!.n);
}

onCommand((cmd, args) => {
  if (cmd === "watch") {
    const target = Number(args[0]);
    let last = -1;
    const tick = async () => {
      const n = await countOnline();
      if (n !== last) {
        last = n;
        emit({ ev: "online", n });
      }
      if (n < target) setTimeout(tick, 100);
    };
    void tick();
  } else if (cmd === "quit") {
    void srv.close().then(() => process.exit(0));
  }
});

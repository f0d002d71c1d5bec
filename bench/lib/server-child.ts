/**
 * A Tether server in its own process, so its RSS is measured alone.
 * Usage: server-child.ts DATA_DIR HTTP_PORT MQTT_PORT TOKEN_USES
 * Events: {ev:"ready", ...}, {ev:"online", n}. Commands: "watch N", "quit".
 */
import { createServer } from "@tether/server";
import { sql } from "kysely";
import pino from "pino";
import { emit, onCommand } from "./util.js";

const [dataDir, httpPort, mqttPort, tokenUses] = process.argv.slice(2);
const srv = await createServer({
  dataDir,
  listen: { host: "127.0.0.1", port: Number(httpPort) },
  mqttListen: { host: "127.0.0.1", port: Number(mqttPort) },
  log: pino({ level: "warn" }, pino.destination(2)),
  // Thousands of agents enroll from 127.0.0.1 here: the per-address limits are not under test.
  rateLimits: { enrollPerAddress: 1_000_000, enrollPollPerAddress: 1_000_000, loginPerAddress: 1_000_000 },
});
const info = await srv.listen();
let token: string | undefined;
if (Number(tokenUses) > 0) {
  const projectId = await srv.services.accounts.projectId("default");
  ({ token } = await srv.services.enrollment.createToken(projectId, "bench", {
    autoAccept: true,
    uses: Number(tokenUses),
  }));
}
emit({
  ev: "ready",
  pid: process.pid,
  url: info.url,
  mqttUrl: info.mqttUrl,
  httpPort: Number(new URL(info.url).port),
  mqttPort: Number(new URL(info.mqttUrl).port),
  token,
  tls: { cert: srv.tls.cert, key: srv.tls.key, ca: srv.tls.ca },
});

async function countOnline(): Promise<number> {
  const r = await sql<{ n: number }>`select count(*) as n from devices where online = 1`.execute(
    srv.store.db,
  );
  return Number(r.rows[0].n);
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
      if (n < target) setTimeout(tick, 50);
    };
    void tick();
  } else if (cmd === "quit") {
    void srv.close().then(() => process.exit(0));
  }
});

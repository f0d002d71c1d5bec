/**
 * N plain MQTT.js TLS clients (clean session, keepalive 30 s, one QoS 1 subscription each,
 * like an agent's down topic). Usage: bare-clients.ts PORT CA_FILE N
 * Events: {ev:"connected", n}. Commands: "go", "quit".
 */
import { readFileSync } from "node:fs";
import mqtt from "mqtt";
import { emit, onCommand } from "./util.js";

const [port, caFile, nArg] = process.argv.slice(2);
const N = Number(nArg);
const ca = readFileSync(caFile, "utf8");
let connected = 0;
onCommand((cmd) => {
  if (cmd === "go") {
    for (let i = 0; i < N; i++) {
      const id = `bare-${i}`;
      const c = mqtt.connect(`mqtts://127.0.0.1:${port}`, {
        clientId: id,
        username: id,
        password: "x".repeat(43),
        clean: true,
        keepalive: 30,
        reconnectPeriod: 0,
        connectTimeout: 15_000,
        protocolVersion: 4,
        ca,
        rejectUnauthorized: true,
      });
      c.once("connect", () => {
        (c.stream as any)?.setNoDelay?.(true);
        c.subscribe(`bare/${id}/down`, { qos: 1 }, () => {
          connected++;
          if (connected % 100 === 0 || connected === N) emit({ ev: "connected", n: connected });
        });
      });
      c.on("error", (err) => process.stderr.write(`client ${id}: ${err.message}\n`));
    }
  } else if (cmd === "quit") {
    process.exit(0);
  }
});

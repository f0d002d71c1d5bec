/**
 * A bare Aedes broker over TLS (no auth hooks, in-memory persistence), the peer for the
 * embedded broker. Usage: bare-broker.ts TLS_JSON_FILE. Events: {ev:"ready", port, pid}.
 */
import { readFileSync } from "node:fs";
import { startBareBroker } from "./bare.js";
import { emit, onCommand } from "./util.js";

const tls = JSON.parse(readFileSync(process.argv[2], "utf8"));
const b = await startBareBroker(tls);
emit({ ev: "ready", port: b.port, pid: process.pid });
onCommand((cmd) => {
  if (cmd === "quit") void b.close().then(() => process.exit(0));
});

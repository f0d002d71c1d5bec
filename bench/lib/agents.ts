/**
 * N simulated Tether agents in one process: each has its own keys, enrollment, journal
 * data dir, MQTT connection and Noise handshake (the real ControlClient).
 * Usage: agents.ts BASE_DIR N URL TOKEN CONCURRENCY
 * Events: {ev:"enrolled", n}, {ev:"prepared"}, {ev:"ready", n}. Commands: "go", "quit".
 */
import { join } from "node:path";
import { collectFacts, ControlClient, Journal, prepareIdentity } from "@tether/agent";
import pino from "pino";
import { emit, onCommand } from "./util.js";

const [baseDir, nArg, url, token, concArg] = process.argv.slice(2);
const N = Number(nArg);
const concurrency = Number(concArg ?? 20);
const log = pino({ level: "warn" }, pino.destination(2));

const prepared: Awaited<ReturnType<typeof prepareIdentity>>[] = new Array(N);
let next = 0;
let done = 0;
async function worker() {
  for (;;) {
    const i = next++;
    if (i >= N) return;
    prepared[i] = await prepareIdentity(
      { dataDir: join(baseDir, `agent-${i}`), url, token, name: `sim-${i}` },
      log,
    );
    if (++done % 100 === 0 || done === N) emit({ ev: "enrolled", n: done });
  }
}
await Promise.all(Array.from({ length: Math.min(concurrency, N) }, worker));

const facts = collectFacts();
const clients = prepared.map(
  ({ identity, keys }, i) =>
    new ControlClient({
      identity,
      keys,
      journal: new Journal(join(baseDir, `agent-${i}`)),
      log,
      facts: () => facts,
    }),
);
emit({ ev: "prepared", n: clients.length });

let ready = 0;
for (const c of clients) {
  c.once("ready", () => {
    ready++;
    if (ready % 100 === 0 || ready === N) emit({ ev: "ready", n: ready });
  });
}

onCommand((cmd) => {
  if (cmd === "go") {
    for (const c of clients) c.start();
  } else if (cmd === "quit") {
    process.exit(0); // the server is stopped next; no goodbyes needed
  }
});

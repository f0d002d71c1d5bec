/**
 * One share of the simulated fleet for bench:config (the approach of bench:exec's
 * ../lib/exec-agents.ts): the devices i (0 ≤ i < N) with i % PROCS === SHARE, named sim-i,
 * each a real ControlClient (own keys, enrollment, data dir, journal, MQTT connection, Noise
 * session) with the config capability wired as `tether agent` wires it
 * (packages/agent/src/agent.ts): it writes config/effective.json and config/files/* under the
 * device's data dir and fetches files that are not inline over HTTPS with the device's
 * telemetry token (the telemetry layer, with no metric/log streams: it only holds the token and
 * downloads). Several devices share one Node process so that 1,000 fit on 2 cores.
 * Usage: agents.ts BASE_DIR URL TOKEN N PROCS SHARE ENROLL_CONCURRENCY
 * Events: {ev:"enrolled", n}, {ev:"prepared", n}, {ev:"ready", n}.
 * Commands: "go", "quit".
 */
import { join } from "node:path";
import { collectFacts, ControlClient, Journal, prepareIdentity } from "@tether/agent";
import pino from "pino";
import { createTelemetry } from "../../packages/agent/src/telemetry/index.js";
import { emit, onCommand } from "../lib/util.js";

const [baseDir, url, token, nArg, procsArg, shareArg, concArg] = process.argv.slice(2);
const N = Number(nArg);
const PROCS = Number(procsArg);
const SHARE = Number(shareArg);
const concurrency = Number(concArg ?? 10);
// "error": the metrics and logs modules warn once per device that they have no stream here.
const log = pino({ level: "error" }, pino.destination(2));

const mine: number[] = [];
for (let i = SHARE; i < N; i += PROCS) mine.push(i);

const facts = collectFacts();
const clients: ControlClient[] = new Array(mine.length);
let next = 0;
let enrolled = 0;
async function worker() {
  for (;;) {
    const k = next++;
    if (k >= mine.length) return;
    const dataDir = join(baseDir!, `agent-${mine[k]}`);
    const { identity, keys } = await prepareIdentity(
      { dataDir, url: url!, token: token!, name: `sim-${mine[k]}` },
      log,
    );
    const telemetry = createTelemetry({
      dataDir,
      deviceId: identity.deviceId,
      apiUrl: identity.apiUrl,
      caCert: identity.caCert,
      quotas: {}, // no metric or log stream: the token and downloads only
      log,
    });
    clients[k] = new ControlClient({
      identity,
      keys,
      journal: new Journal(dataDir),
      log,
      facts: () => facts,
      telemetry: { telemetry },
      config: { dataDir, noiseKey: keys.noise, telemetry },
    });
    if (++enrolled % 50 === 0 || enrolled === mine.length) emit({ ev: "enrolled", n: enrolled });
  }
}
await Promise.all(Array.from({ length: Math.min(concurrency, mine.length) }, worker));
emit({ ev: "prepared", n: clients.length });

let ready = 0;
for (const c of clients)
  c.once("ready", () => {
    if (++ready % 50 === 0 || ready === clients.length) emit({ ev: "ready", n: ready });
  });

onCommand((cmd) => {
  if (cmd === "go") for (const c of clients) c.start();
  else if (cmd === "quit") process.exit(0); // the server is stopped next; no goodbyes needed
});

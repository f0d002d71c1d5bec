/**
 * One share of the simulated fleet for bench:terminal's 100-shell row (the approach of
 * bench:exec's ../lib/exec-agents.ts): the devices i (0 ≤ i < N) with i % PROCS === SHARE,
 * named term-i, each a real ControlClient (own keys, enrollment, data dir, MQTT connection,
 * Noise session) with its own tunnel layer and the terminal capability, as `tether agent` wires
 * them (packages/agent/src/agent.ts): each shell is a real PTY and process on this machine,
 * dialled back over its own WSS tunnel. Several devices share one Node process so that 100
 * devices fit on 2 cores; the server's side (what the row measures) is the same per session.
 * Usage: fleet-agents.ts BASE_DIR URL TOKEN N PROCS SHARE
 * Events: {ev:"prepared", n}, {ev:"ready", n}, {ev:"rss", kib}. Commands: "go", "rss", "quit".
 */
import { join } from "node:path";
import { collectFacts, ControlClient, Journal, prepareIdentity } from "@tether/agent";
import pino from "pino";
import { createAgentTunnels } from "../../packages/agent/src/tunnels/index.js";
import { emit, onCommand } from "../lib/util.js";

const [baseDir, url, token, nArg, procsArg, shareArg] = process.argv.slice(2);
const N = Number(nArg);
const PROCS = Number(procsArg);
const SHARE = Number(shareArg);
const log = pino({ level: "warn" }, pino.destination(2));

const mine: number[] = [];
for (let i = SHARE; i < N; i += PROCS) mine.push(i);

const facts = collectFacts();
const clients: ControlClient[] = [];
let next = 0;
async function worker() {
  for (;;) {
    const k = next++;
    if (k >= mine.length) return;
    const dataDir = join(baseDir!, `agent-${mine[k]}`);
    const { identity, keys } = await prepareIdentity(
      { dataDir, url: url!, token: token!, name: `term-${mine[k]}` },
      log,
    );
    const tunnels = createAgentTunnels({
      apiUrl: identity.apiUrl,
      caCert: identity.caCert,
      deviceId: identity.deviceId,
      log,
    });
    clients[k] = new ControlClient({
      identity,
      keys,
      journal: new Journal(dataDir),
      log,
      facts: () => facts,
      tunnel: { tunnels },
      terminal: { tunnels, dataDir },
      forward: { tunnels },
    });
  }
}
await Promise.all(Array.from({ length: Math.min(10, mine.length) }, worker));
emit({ ev: "prepared", n: clients.length });

let ready = 0;
for (const c of clients)
  c.once("ready", () => {
    if (++ready === clients.length) emit({ ev: "ready", n: ready });
  });

onCommand((cmd) => {
  if (cmd === "go") for (const c of clients) c.start();
  else if (cmd === "rss") emit({ ev: "rss", kib: process.memoryUsage().rss / 1024 });
  else if (cmd === "quit") process.exit(0); // the server is stopped next; the PTYs die with us
});

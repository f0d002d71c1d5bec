/**
 * One share of a simulated fleet for bench:exec: the devices i (0 ≤ i < N) with
 * i % PROCS === SHARE, named sim-i, each a real ControlClient with its own keys, enrollment,
 * data dir (journal/outbox) and MQTT connection, and each running commands for real (the
 * agent's own exec handler spawns a process per command). Several shares run side by side
 * so that one process's event loop and fork() rate do not cap the whole fleet.
 * Usage: exec-agents.ts BASE_DIR URL TOKEN N PROCS SHARE ENROLL_CONCURRENCY
 * Events: {ev:"enrolled", n}, {ev:"prepared", n}, {ev:"ready", n}, {ev:"cpu", ...}.
 * Commands: "go", "cpu", "prof-start", "prof-stop FILE" (a V8 CPU profile of this process
 * between the two, written to FILE; event {ev:"prof", file}), "quit".
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { join } from "node:path";
import { collectFacts, ControlClient, Journal, prepareIdentity } from "@tether/agent";
import pino from "pino";
import { emit, onCommand } from "./util.js";

const [baseDir, url, token, nArg, procsArg, shareArg, concArg] = process.argv.slice(2);
const N = Number(nArg);
const PROCS = Number(procsArg);
const SHARE = Number(shareArg);
const concurrency = Number(concArg ?? 10);
const log = pino({ level: "warn" }, pino.destination(2));

const mine: number[] = [];
for (let i = SHARE; i < N; i += PROCS) mine.push(i);

const prepared: Awaited<ReturnType<typeof prepareIdentity>>[] = new Array(mine.length);
let next = 0;
let enrolled = 0;
async function worker() {
  for (;;) {
    const k = next++;
    if (k >= mine.length) return;
    const i = mine[k];
    prepared[k] = await prepareIdentity(
      { dataDir: join(baseDir, `agent-${i}`), url, token, name: `sim-${i}` },
      log,
    );
    if (++enrolled % 50 === 0 || enrolled === mine.length) emit({ ev: "enrolled", n: enrolled });
  }
}
await Promise.all(Array.from({ length: Math.min(concurrency, mine.length) }, worker));

const facts = collectFacts();
const clients = prepared.map(
  ({ identity, keys }, k) =>
    new ControlClient({
      identity,
      keys,
      journal: new Journal(join(baseDir, `agent-${mine[k]}`)),
      log,
      facts: () => facts,
    }),
);
emit({ ev: "prepared", n: clients.length });

let ready = 0;
for (const c of clients) {
  c.once("ready", () => {
    ready++;
    if (ready % 50 === 0 || ready === clients.length) emit({ ev: "ready", n: ready });
  });
}

let session: Session | null = null;
const post = (method: string, params?: object) =>
  new Promise<any>((resolve, reject) =>
    session!.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res))),
  );

onCommand((cmd, args) => {
  if (cmd === "prof-start") {
    session = new Session();
    session.connect();
    void post("Profiler.enable")
      .then(() => post("Profiler.setSamplingInterval", { interval: 1000 }))
      .then(() => post("Profiler.start"))
      .then(() => emit({ ev: "prof-started" }));
  } else if (cmd === "prof-stop") {
    void post("Profiler.stop").then(({ profile }) => {
      writeFileSync(args[0], JSON.stringify(profile));
      session!.disconnect();
      session = null;
      emit({ ev: "prof", file: args[0] });
    });
  } else if (cmd === "go") {
    for (const c of clients) c.start();
  } else if (cmd === "cpu") {
    const u = process.cpuUsage();
    emit({
      ev: "cpu",
      userMs: u.user / 1000,
      systemMs: u.system / 1000,
      rssKiB: process.memoryUsage().rss / 1024,
    });
  } else if (cmd === "quit") {
    process.exit(0); // the server is stopped next; no goodbyes needed
  }
});

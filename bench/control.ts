/**
 * Control-channel benchmark (npm run bench:control).
 *  1. Round trip: server.capabilities.ping.ping(device) through the embedded broker to one in-process
 *     agent and back, beside raw MQTT request/response (two MQTT.js clients, bare Aedes,
 *     same TLS cert, QoS 1, setNoDelay), all in this process.
 *  2. Fleet connect: N simulated agents (child process) connect at once to a server (its own
 *     child process): time until the server's DB shows all N online, and server RSS per
 *     device, beside a bare Aedes broker (own child) holding N plain MQTT.js TLS connections.
 *  3. Round trip through an external Mosquitto (private instance, dynamic security): the
 *     server with broker: {url, adminFile} and one in-process agent, beside raw MQTT
 *     request/response between two plain MQTT.js clients through the same Mosquitto (plain
 *     TCP on loopback in both cases, QoS 1, setNoDelay; each case in a fresh process).
 *     Skipped (rows say so) if Mosquitto with the dynsec plugin is not installed.
 * Prints a markdown table on stdout; writes bench/results/control.json.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { collectFacts, ControlClient, Journal, prepareIdentity } from "@tether/agent";
import { createServer } from "@tether/server";
import pino from "pino";
import { DYNSEC_PLUGIN, MOSQUITTO, MOSQUITTO_CTRL, startMosquitto } from "../tests/support/mosquitto.js";
import { storageBench } from "./lib/storage.js";
import { progress, ROOT, settledRss, sleep, spawnChild, summarize } from "./lib/util.js";

const N = Number(process.env.BENCH_AGENTS ?? 1000);
const PINGS = Number(process.env.BENCH_PINGS ?? 2000);
const WARMUP = 200;
/** Extra warm-up for the steady-state rows: V8 keeps optimising the Tether path for ~2,000 pings. */
const STEADY_WARMUP = Number(process.env.BENCH_STEADY_WARMUP ?? 3000);
const ENROLL_CONCURRENCY = 20;

const tmpRoot = mkdtempSync(join(tmpdir(), "tether-bench-"));
const results: Record<string, any> = { startedAt: new Date().toISOString(), agents: N, pings: PINGS };

async function waitUntil(fn: () => Promise<boolean> | boolean, what: string, capMs = 30_000) {
  const deadline = Date.now() + capMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

// ---------------------------------------------------------------- 1. round trip

async function tetherRoundTrip() {
  progress("rtt: starting an in-process server");
  const srv = await createServer({
    dataDir: join(tmpRoot, "rtt-server"),
    listen: { host: "127.0.0.1", port: 0 },
    mqttListen: { host: "127.0.0.1", port: 0 },
    log: pino({ level: "warn" }, pino.destination(2)),
  });
  const info = await srv.listen();
  const projectId = await srv.services.accounts.projectId("default");
  const { token } = await srv.services.enrollment.createToken(projectId, "bench", { autoAccept: true });
  const log = pino({ level: "warn" }, pino.destination(2));
  const dataDir = join(tmpRoot, "rtt-agent");
  const { identity, keys } = await prepareIdentity({ dataDir, url: info.url, token, name: "bench-rtt" }, log);
  const client = new ControlClient({
    identity,
    keys,
    journal: new Journal(dataDir),
    log,
    facts: collectFacts,
  });
  const ready = new Promise<void>((r) => client.once("ready", () => r()));
  client.start();
  await ready;
  await waitUntil(
    async () => (await srv.services.devices.get(identity.deviceId))?.online === 1,
    "the agent to be online",
  );
  const device = (await srv.services.devices.get(identity.deviceId))!;
  progress(`rtt: agent ${device.id} online; ${WARMUP} warm-up pings`);
  for (let i = 0; i < WARMUP; i++) await srv.capabilities.ping.ping(device);
  progress(`rtt: measuring ${PINGS} sequential control.ping round trips`);
  const samples: number[] = [];
  for (let i = 0; i < PINGS; i++) samples.push(await srv.capabilities.ping.ping(device));
  progress(`rtt: ${STEADY_WARMUP} more warm-up pings, then ${PINGS} steady-state round trips`);
  for (let i = 0; i < STEADY_WARMUP; i++) await srv.capabilities.ping.ping(device);
  const steady: number[] = [];
  for (let i = 0; i < PINGS; i++) steady.push(await srv.capabilities.ping.ping(device));

  const tlsMaterial = { cert: srv.tls.cert, key: srv.tls.key, ca: srv.tls.ca };
  await client.stop();
  await srv.close();
  return { samples, steady, tlsMaterial };
}

/** The raw peer runs in a fresh process (same in-process arrangement inside it), so neither
 * case profits from code the other already warmed up (aedes, mqtt.js and TLS are shared). */
async function rawRoundTrip(tlsFile: string) {
  progress(
    "raw: bare Aedes over TLS with the server's cert; requester + responder MQTT.js clients (fresh process)",
  );
  const child = spawnChild("raw-rtt", join(ROOT, "bench/lib/raw-rtt.ts"), [
    tlsFile,
    String(WARMUP),
    String(STEADY_WARMUP),
    String(PINGS),
  ]);
  const r = await child.wait<{ samples: number[]; steady: number[] }>(
    (e) => e.ev === "done",
    "raw round trips",
  );
  await child.stop();
  return r;
}

// ---------------------------------------------------------------- 3. through Mosquitto

type Samples = { samples: number[]; steady: number[] };

async function mosquittoRoundTrips(): Promise<{ tether: Samples; raw: Samples } | null> {
  const missing = [MOSQUITTO, MOSQUITTO_CTRL, DYNSEC_PLUGIN].filter((p) => !existsSync(p));
  if (missing.length) {
    progress(`mosquitto: skipped (missing ${missing.join(", ")})`);
    return null;
  }
  // Mosquitto leaves Nagle on for its sockets unless told otherwise: without this every
  // round trip (Tether and raw alike) waits ~40 ms for a delayed ACK.
  const mosq = await startMosquitto({ extraConfig: ["set_tcp_nodelay true"] });
  progress(`mosquitto: private broker at ${mosq.url}`);
  try {
    const run = async (mode: "tether" | "raw") => {
      progress(
        mode === "tether"
          ? "mosquitto: server (broker: external) + in-process agent, control.ping (fresh process)"
          : "mosquitto: raw requester + responder MQTT.js clients (fresh process)",
      );
      const child = spawnChild(`mosq-${mode}`, join(ROOT, "bench/lib/mosquitto-rtt.ts"), [
        mode,
        mosq.url,
        mosq.adminFile,
        tmpRoot,
        String(WARMUP),
        String(STEADY_WARMUP),
        String(PINGS),
      ]);
      const r = await child.wait<Samples>((e) => e.ev === "done", `${mode} round trips via Mosquitto`);
      await child.stop();
      return r;
    };
    return { tether: await run("tether"), raw: await run("raw") };
  } finally {
    await mosq.stop();
  }
}

// ---------------------------------------------------------------- 2. fleet connect

async function tetherFleet() {
  const serverScript = join(ROOT, "bench/lib/server-child.ts");
  const dataDir = join(tmpRoot, "fleet-server");
  progress(`fleet: starting the server (child) for enrollment of ${N} agents`);
  let server = spawnChild("server", serverScript, [dataDir, "0", "0", String(N)]);
  const first = await server.wait((e) => e.ev === "ready", "server ready");
  const agents = spawnChild("agents", join(ROOT, "bench/lib/agents.ts"), [
    join(tmpRoot, "fleet-agents"),
    String(N),
    first.url,
    first.token,
    String(ENROLL_CONCURRENCY),
  ]);
  const tEnroll = Date.now();
  agents.on((e) => {
    if (e.ev === "enrolled") progress(`fleet: enrolled ${e.n}/${N}`);
  });
  await agents.wait((e) => e.ev === "prepared", "agents enrolled and prepared", 240_000);
  const enrollS = (Date.now() - tEnroll) / 1000;
  progress(`fleet: ${N} agents enrolled in ${enrollS.toFixed(1)} s; restarting the server on the same ports`);
  // A fresh server process (same data dir, ports and keys): "before" is then a server with
  // N enrolled devices and no connections, without the enrollment phase's heap.
  await server.stop();
  server = spawnChild("server", serverScript, [dataDir, String(first.httpPort), String(first.mqttPort), "0"]);
  const ready = await server.wait((e) => e.ev === "ready", "server ready");
  progress(`fleet: server pid ${ready.pid}; waiting for its RSS to settle`);
  const before = await settledRss(server.pid);
  progress(
    `fleet: server RSS before connect ${(before.kib / 1024).toFixed(1)} MiB; starting ${N} agents at once`,
  );

  agents.on((e) => {
    if (e.ev === "ready") progress(`fleet: ${e.n}/${N} agents have a control channel`);
  });
  let lastOnline = 0;
  server.on((e) => {
    if (e.ev === "online" && (e.n - lastOnline >= 100 || e.n === N)) {
      lastOnline = e.n;
      progress(`fleet: server reports ${e.n}/${N} online`);
    }
  });
  server.send(`watch ${N}`);
  await server.wait((e) => e.ev === "online" && e.n === 0, "initial online count");
  const t0 = performance.now();
  agents.send("go");
  await server.wait((e) => e.ev === "online" && e.n >= N, "all devices online", 120_000);
  const connectS = (performance.now() - t0) / 1000;
  progress(`fleet: all ${N} online after ${connectS.toFixed(2)} s; waiting for the server's RSS to settle`);
  const after = await settledRss(server.pid);
  await agents.stop();
  await server.stop();
  return {
    enrollS,
    connectS,
    rssBeforeKiB: before.kib,
    rssAfterKiB: after.kib,
    perDeviceKiB: (after.kib - before.kib) / N,
  };
}

async function bareFleet(tlsMaterial: { cert: string; key: string; ca: string }) {
  const tlsFile = join(tmpRoot, "bare-tls.json");
  const caFile = join(tmpRoot, "bare-ca.pem");
  writeFileSync(tlsFile, JSON.stringify(tlsMaterial), { mode: 0o600 });
  writeFileSync(caFile, tlsMaterial.ca);
  progress("bare: starting a bare Aedes TLS broker (child)");
  const broker = spawnChild("bare-broker", join(ROOT, "bench/lib/bare-broker.ts"), [tlsFile]);
  const ready = await broker.wait((e) => e.ev === "ready", "bare broker ready");
  const clients = spawnChild("bare-clients", join(ROOT, "bench/lib/bare-clients.ts"), [
    String(ready.port),
    caFile,
    String(N),
  ]);
  const before = await settledRss(broker.pid);
  progress(`bare: broker RSS before ${(before.kib / 1024).toFixed(1)} MiB; connecting ${N} clients`);
  await sleep(1000); // the clients process is loaded
  const t0 = performance.now();
  clients.send("go");
  clients.on((e) => {
    if (e.ev === "connected") progress(`bare: ${e.n}/${N} connected and subscribed`);
  });
  await clients.wait((e) => e.ev === "connected" && e.n >= N, "all bare clients connected", 120_000);
  const connectS = (performance.now() - t0) / 1000;
  const after = await settledRss(broker.pid);
  await clients.stop();
  await broker.stop();
  return {
    connectS,
    rssBeforeKiB: before.kib,
    rssAfterKiB: after.kib,
    perDeviceKiB: (after.kib - before.kib) / N,
  };
}

// ---------------------------------------------------------------- report

function fmt(v: number, digits = 2) {
  return Number.isFinite(v) ? v.toFixed(digits) : "n/a";
}

async function main() {
  const tStart = Date.now();
  const tether = await tetherRoundTrip();
  const tlsFile = join(tmpRoot, "bare-tls.json");
  writeFileSync(tlsFile, JSON.stringify(tether.tlsMaterial), { mode: 0o600 });
  const raw = await rawRoundTrip(tlsFile);
  const ts = summarize(tether.samples);
  const rs = summarize(raw.samples);
  const tss = summarize(tether.steady);
  const rss = summarize(raw.steady);
  results.roundTrip = {
    warmup: WARMUP,
    tether: ts,
    raw: rs,
    ratioP50: ts.p50 / rs.p50,
    ratioP99: ts.p99 / rs.p99,
    steady: {
      warmup: WARMUP + STEADY_WARMUP,
      tether: tss,
      raw: rss,
      ratioP50: tss.p50 / rss.p50,
      ratioP99: tss.p99 / rss.p99,
    },
  };
  progress(
    `rtt: tether p50 ${fmt(ts.p50, 3)} p99 ${fmt(ts.p99, 3)} ms; raw p50 ${fmt(rs.p50, 3)} p99 ${fmt(rs.p99, 3)} ms`,
  );

  const mq = await mosquittoRoundTrips();
  if (mq) {
    const t = summarize(mq.tether.samples);
    const p = summarize(mq.raw.samples);
    const tst = summarize(mq.tether.steady);
    const pst = summarize(mq.raw.steady);
    results.mosquitto = {
      tether: t,
      raw: p,
      ratioP50: t.p50 / p.p50,
      ratioP99: t.p99 / p.p99,
      steady: { tether: tst, raw: pst, ratioP50: tst.p50 / pst.p50, ratioP99: tst.p99 / pst.p99 },
    };
    progress(
      `mosquitto: tether p50 ${fmt(t.p50, 3)} p99 ${fmt(t.p99, 3)} ms; raw p50 ${fmt(p.p50, 3)} p99 ${fmt(p.p99, 3)} ms`,
    );
  } else {
    results.mosquitto = null;
  }

  progress("storage: device registry operations on SQLite and PostgreSQL");
  results.storage = await storageBench(tmpRoot);
  const fleet = await tetherFleet();
  const bare = await bareFleet(tether.tlsMaterial);
  results.fleet = { tether: fleet, bare, ratioPerDevice: fleet.perDeviceKiB / bare.perDeviceKiB };

  const rows: string[][] = [];
  const row = (
    metric: string,
    t: number,
    p: number,
    ratio: number | null,
    goal: string,
    pass: boolean | null,
    d = 2,
  ) =>
    rows.push([
      metric,
      fmt(t, d),
      fmt(p, d),
      ratio === null ? "" : `${fmt(ratio)}×`,
      goal,
      pass === null ? "" : pass ? "PASS" : "MISS",
    ]);
  const r = results.roundTrip;
  row("control round trip p50 (ms)", ts.p50, rs.p50, r.ratioP50, "≤ 1.5× raw", r.ratioP50 <= 1.5, 3);
  row("control round trip p99 (ms)", ts.p99, rs.p99, r.ratioP99, "≤ 2× raw", r.ratioP99 <= 2, 3);
  const st = r.steady;
  row(
    `  … steady state, after ${st.warmup} warm-up: p50 (ms)`,
    tss.p50,
    rss.p50,
    st.ratioP50,
    "≤ 1.5× raw",
    st.ratioP50 <= 1.5,
    3,
  );
  row(
    `  … steady state, after ${st.warmup} warm-up: p99 (ms)`,
    tss.p99,
    rss.p99,
    st.ratioP99,
    "≤ 2× raw",
    st.ratioP99 <= 2,
    3,
  );
  const m = results.mosquitto;
  if (m) {
    const w = WARMUP + STEADY_WARMUP;
    row("via Mosquitto: control round trip p50 (ms)", m.tether.p50, m.raw.p50, m.ratioP50, "", null, 3);
    row("via Mosquitto: control round trip p99 (ms)", m.tether.p99, m.raw.p99, m.ratioP99, "", null, 3);
    const ms = m.steady;
    row(
      `  … steady state, after ${w} warm-up: p50 (ms)`,
      ms.tether.p50,
      ms.raw.p50,
      ms.ratioP50,
      "",
      null,
      3,
    );
    row(
      `  … steady state, after ${w} warm-up: p99 (ms)`,
      ms.tether.p99,
      ms.raw.p99,
      ms.ratioP99,
      "",
      null,
      3,
    );
  } else {
    rows.push(["via Mosquitto: control round trip", "skipped", "Mosquitto not installed", "", "", ""]);
  }
  row(
    `fleet: ${N} agents connect → all online (s)`,
    fleet.connectS,
    bare.connectS,
    null,
    "≤ 10 s",
    fleet.connectS <= 10,
  );
  row(
    "server RSS before connect (MiB)",
    fleet.rssBeforeKiB / 1024,
    bare.rssBeforeKiB / 1024,
    null,
    "",
    null,
    1,
  );
  row(
    `server RSS with ${N} online (MiB)`,
    fleet.rssAfterKiB / 1024,
    bare.rssAfterKiB / 1024,
    null,
    "",
    null,
    1,
  );
  const ratio = results.fleet.ratioPerDevice;
  row(
    "RSS per connected device (KiB)",
    fleet.perDeviceKiB,
    bare.perDeviceKiB,
    ratio,
    "≤ 1.5× bare",
    ratio <= 1.5,
    1,
  );
  const fmtOps = (v: number) => `${Math.round(v)}`;
  const sto = results.storage;
  for (const k of ["insert", "get", "label", "list", "mixed"] as const) {
    const sq = sto.sqlite.opsPerSec[k];
    const pq = sto.postgres?.opsPerSec[k];
    rows.push([
      `registry ops/s: ${k} (SQLite; peer = PostgreSQL)`,
      fmtOps(sq),
      pq === undefined ? "not reachable" : fmtOps(pq),
      pq === undefined ? "" : `${fmt(pq / sq)}×`,
      "",
      "",
    ]);
  }
  results.table = rows.map(([metric, tether, peer, ratioS, goal, result]) => ({
    metric,
    tether,
    peer,
    ratio: ratioS,
    goal,
    result,
  }));
  results.totalSeconds = (Date.now() - tStart) / 1000;

  const header = ["metric", "tether", "peer", "ratio", "goal", "result"];
  const lines = [
    `| ${header.join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows.map((cells) => `| ${cells.join(" | ")} |`),
  ];
  const notes = [
    "",
    `registry rows: ${process.env.BENCH_STORE_OPS ?? 2000} sequential operations through the server's query layer; list = all ${process.env.BENCH_STORE_OPS ?? 2000} devices of a project filtered by a selector; mixed = 1 list per 3 lookups/label updates. Ratio = PostgreSQL/SQLite.`,
    "via Mosquitto: tether = server (broker: external, dynsec) + in-process agent, control.ping; peer = raw MQTT.js requester→Mosquitto→responder→back; both plain MQTT over TCP on loopback, QoS 1, setNoDelay (and set_tcp_nodelay true in mosquitto.conf), each in a fresh process, same private Mosquitto 2.0.",
    `peer: round trip = raw MQTT.js requester→bare Aedes→responder→back (QoS 1, TLS, same cert, in-process); fleet = bare Aedes (own process) holding ${N} MQTT.js TLS connections.`,
    `tether round trip: ${PINGS} sequential control.ping after ${WARMUP} warm-up; fleet: enrollment (${fmt(fleet.enrollS, 1)} s, not timed) before connect.`,
  ];
  mkdirSync(join(ROOT, "bench/results"), { recursive: true });
  writeFileSync(join(ROOT, "bench/results/control.json"), `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${lines.join("\n")}\n${notes.join("\n")}\n`);
  progress(`done in ${results.totalSeconds.toFixed(0)} s; wrote bench/results/control.json`);
}

try {
  await main();
} finally {
  rmSync(tmpRoot, { recursive: true, force: true });
}
process.exit(0);

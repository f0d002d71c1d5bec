/**
 * Remote command execution benchmark (npm run bench:exec). One run measures:
 *  1. Single exec: `true` on one device, round trip from the client's side (POST
 *     /api/v1/commands → the `done` event of GET /commands/{id}/events), beside the control
 *     channel's ping round trip (POST /devices/{ref}/ping), both the wall time of SDK calls
 *     (one client each, so neither pays for the other's connections), interleaved, after a
 *     warm-up.
 *  2. Fleet exec: `uname -a` on 100 devices (each spawns a real process) beside parallel-ssh
 *     -p 100 over 100 SSH connections to an OpenSSH server of the benchmark's own on loopback.
 *  3. Fleet exec: `uname -a` on N (1,000) devices, concurrency 0, until every result is in,
 *     beside one fresh Node process spawning the same N processes at once (the local limit).
 * The peers are measured first, with nothing else running; then a Tether server (its own
 * process) and the fleet (N real ControlClients over BENCH_AGENT_PROCS processes).
 * Prints a markdown table on stdout; writes bench/results/exec.json.
 * Env: BENCH_DEVICES (1000), BENCH_EXEC_ITER (200), BENCH_AGENT_PROCS (4), BENCH_RUNS (3),
 * BENCH_CPU_PROF=DIR: V8 CPU profiles of the server (whole life, --cpu-prof) and of the agent
 * processes (the measured N-device runs) into DIR, and their hot spots during those runs.
 */
import { readFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { LIVE_RUN_STATUSES, TetherClient, type HttpResponse, type Transport } from "@tether/sdk";
import { nodeTransport } from "@tether/sdk/node";
import { startSshPeer } from "./lib/pssh.js";
import { spawnLimit } from "./lib/spawn-limit.js";
import { type Child, git, progress, ROOT, sleep, spawnChild, summarize, TSX } from "./lib/util.js";

const N = Number(process.env.BENCH_DEVICES ?? 1000);
const SMALL = Math.min(100, N);
const ITER = Number(process.env.BENCH_EXEC_ITER ?? 200);
const WARMUP = Math.max(20, Math.round(ITER / 10));
const PROCS = Math.max(1, Math.min(N, Number(process.env.BENCH_AGENT_PROCS ?? 4)));
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const ENROLL_CONCURRENCY = 10; // per agent process
const FLEET_ARGV = ["uname", "-a"];
const CPU_PROF = process.env.BENCH_CPU_PROF;
const SDK_ITER = Math.max(10, Math.round(ITER / 4));

const tmpRoot = mkdtempSync(join(tmpdir(), "tether-bench-exec-"));
const results: Record<string, any> = {
  startedAt: new Date().toISOString(),
  commit: git(["rev-parse", "--short", "HEAD"]),
  /** Files under packages/ that differ from that commit (what was measured is the work tree). */
  uncommitted: git(["status", "--porcelain", "--", "packages"]).split("\n").filter(Boolean),
  devices: N,
  agentProcesses: PROCS,
  iterations: ITER,
  runs: RUNS,
};

const median = (xs: number[]) => summarize(xs).p50;
const fmt = (v: number, digits = 2) => (Number.isFinite(v) ? v.toFixed(digits) : "n/a");

/** utime+stime (and reaped children's) of a process, in ms, from /proc. */
function cpuMs(pid: number): { self: number; children: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const tick = 10; // USER_HZ = 100 on Linux
  return { self: (Number(f[11]) + Number(f[12])) * tick, children: (Number(f[13]) + Number(f[14])) * tick };
}

const CORES = readFileSync("/proc/cpuinfo", "utf8").match(/^processor/gm)?.length ?? 1;

interface CpuSnapshot {
  at: number;
  /** pid → ppid and CPU ms (own + reaped children) */
  procs: Map<number, { ppid: number; ms: number }>;
}

function cpuSnapshot(): CpuSnapshot {
  const procs = new Map<number, { ppid: number; ms: number }>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, "utf8");
      const x = st.slice(st.lastIndexOf(")") + 2).split(" ");
      const ms = (Number(x[11]) + Number(x[12]) + Number(x[13]) + Number(x[14])) * 10; // USER_HZ 100
      procs.set(Number(d), { ppid: Number(x[1]), ms });
    } catch {} // gone meanwhile
  }
  return { at: performance.now(), procs };
}

/**
 * Cores that other user processes kept busy between two snapshots: everything outside this
 * benchmark's process tree and outside the kernel's threads (whose work, like softirq time,
 * is partly this benchmark's). Short-lived processes count through their parent's reaped time.
 */
function foreignCores(a: CpuSnapshot, b: CpuSnapshot): number {
  const kids = new Map<number, number[]>();
  for (const [pid, v] of b.procs) kids.set(v.ppid, [...(kids.get(v.ppid) ?? []), pid]);
  const skip = new Set<number>();
  for (const root of [process.pid, 2]) {
    const stack = [root];
    while (stack.length) {
      const pid = stack.pop()!;
      skip.add(pid);
      stack.push(...(kids.get(pid) ?? []));
    }
  }
  let ms = 0;
  for (const [pid, v] of b.procs) if (!skip.has(pid)) ms += Math.max(0, v.ms - (a.procs.get(pid)?.ms ?? 0));
  return ms / Math.max(1, b.at - a.at);
}

/** Waits (up to BENCH_QUIET_WAIT_S, default 180 s) until other processes use < 0.3 cores. */
async function waitForQuiet(): Promise<{ foreignCores: number; waitedS: number; loadavg1: number }> {
  const capS = Number(process.env.BENCH_QUIET_WAIT_S ?? 180);
  const t0 = Date.now();
  for (;;) {
    const a = cpuSnapshot();
    await sleep(2000);
    const busy = foreignCores(a, cpuSnapshot());
    const waitedS = (Date.now() - t0) / 1000;
    if (busy < 0.3 || waitedS >= capS) {
      if (busy >= 0.3)
        progress(
          `WARNING: other processes keep ${fmt(busy, 2)} of ${CORES} cores busy (load average ${fmt(loadavg()[0], 2)}); measuring anyway: the numbers are disturbed`,
        );
      return { foreignCores: busy, waitedS, loadavg1: loadavg()[0] };
    }
    progress(`other processes keep ${fmt(busy, 2)} of ${CORES} cores busy; waiting for a quieter machine`);
    await sleep(8000);
  }
}

/**
 * The SDK's node transport, except that it builds its TLS context once. nodeTransport(ca)
 * gives its https.Agent `ca: [...tls.rootCertificates, ca]`, so every new connection
 * parses ~140 root certificates (~60–80 ms here), and commandEvents() ends its stream by
 * destroying the socket: each exec would pay that, which is the SDK's cost, not the
 * server's. The SDK as shipped is measured too (a row of its own).
 */
function benchTransport(ca: string): Transport {
  const secureContext = tls.createSecureContext({ ca: [...tls.rootCertificates, ca] });
  const agent = new https.Agent({ keepAlive: true, secureContext } as https.AgentOptions);
  const t: Transport = (r) =>
    new Promise<HttpResponse>((resolve, reject) => {
      const data = r.body === undefined ? undefined : Buffer.from(r.body, "utf8");
      const req = https.request(
        new URL(r.url),
        {
          method: r.method,
          agent,
          headers: { ...r.headers, ...(data ? { "content-length": String(data.length) } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", reject);
          res.on("end", () => {
            const headers: Record<string, string> = {};
            for (const [k, v] of Object.entries(res.headers))
              if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : v;
            resolve({
              status: res.statusCode ?? 0,
              headers,
              setCookies: res.headers["set-cookie"] ?? [],
              body: Buffer.concat(chunks).toString("utf8"),
            });
          });
        },
      );
      req.setTimeout(120_000, () => req.destroy(new Error("no answer within 120 s")));
      req.on("error", reject);
      req.end(data);
    });
  t.stream = (r, onText, signal) =>
    new Promise((resolve, reject) => {
      const req = https.request(new URL(r.url), { method: r.method, headers: r.headers, agent }, (res) => {
        res.setEncoding("utf8");
        const status = res.statusCode ?? 0;
        let body = "";
        res.on("data", (c: string) => {
          if (status >= 400) body += c;
          else onText(c);
        });
        res.on("error", (err) => (signal.aborted ? resolve({ status, body }) : reject(err)));
        res.on("end", () => resolve({ status, body }));
        res.on("close", () => resolve({ status, body }));
      });
      req.setTimeout(120_000, () => req.destroy(new Error("the event stream went silent")));
      signal.addEventListener("abort", () => req.destroy(), { once: true });
      req.on("error", (err) => (signal.aborted ? resolve({ status: 200, body: "" }) : reject(err)));
      req.end();
    });
  return t;
}

// ---------------------------------------------------------------- peers

async function spawnLimits() {
  const measure = async (n: number) => {
    const out = [];
    for (let i = 0; i < RUNS; i++) {
      const a = cpuSnapshot();
      const [r] = await spawnLimit(n, FLEET_ARGV, 1);
      out.push({ ...r, foreignCores: foreignCores(a, cpuSnapshot()) });
    }
    progress(`limit: ${out.map((r) => `${fmt(r.ms, 0)} ms`).join(", ")}`);
    const bad = out.filter((r) => r.failures > 0);
    if (bad.length) progress(`limit: FAILURE: ${bad.length} of the ${n}-process runs had failed spawns`);
    return out;
  };
  progress(`limit: one fresh Node process spawns ${N} × ${FLEET_ARGV.join(" ")} at once (${RUNS} runs)`);
  const big = await measure(N);
  progress(`limit: the same for ${SMALL} processes (${RUNS} runs)`);
  const small = await measure(SMALL);
  return { big, small };
}

async function psshPeer() {
  const peer = await startSshPeer(join(tmpRoot, "ssh"));
  try {
    progress(`pssh: warm-up run (${SMALL} connections), then ${RUNS} measured runs`);
    const all = [];
    for (let i = 0; i <= RUNS; i++) {
      const a = cpuSnapshot();
      const r = {
        ...(await peer.run(SMALL, FLEET_ARGV, { parallelism: SMALL, expect: /^Linux / })),
        foreignCores: 0,
      };
      r.foreignCores = foreignCores(a, cpuSnapshot());
      progress(
        `pssh: ${i === 0 ? "warm-up" : `run ${i}`}: ${fmt(r.ms, 0)} ms, ${r.succeeded} [SUCCESS], ${r.failed} [FAILURE], ${r.outputLines} output lines`,
      );
      if (r.succeeded !== SMALL || r.outputLines !== SMALL) {
        progress(
          `pssh: FAILURE: only ${r.succeeded}/${SMALL} hosts succeeded (${r.outputLines} outputs); exit ${r.exitCode}; ${r.failures.join(" | ")}`,
        );
      }
      if (i > 0) all.push(r);
    }
    return { runs: all, bashrcHidden: peer.bashrcHidden, port: peer.port };
  } finally {
    await peer.stop();
  }
}

// ---------------------------------------------------------------- Tether

interface Fleet {
  server: Child;
  agents: Child[];
  url: string;
  token: string;
  ca: string;
  client: TetherClient;
  enrollS: number;
  connectS: number;
}

async function startFleet(): Promise<Fleet> {
  const dataDir = join(tmpRoot, "server");
  progress(`tether: starting the server (child) with an enrollment token for ${N} devices`);
  // util.spawnChild has no way to pass node flags, and --cpu-prof is refused in NODE_OPTIONS:
  // add it to the shared argv prefix for this one spawn.
  const profFlags = CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${CPU_PROF}`] : [];
  if (CPU_PROF) mkdirSync(CPU_PROF, { recursive: true });
  TSX.push(...profFlags);
  const server = spawnChild("server", join(ROOT, "bench/lib/server-child.ts"), [
    dataDir,
    "0",
    "0",
    String(N),
  ]);
  TSX.splice(TSX.length - profFlags.length, profFlags.length);
  const ready = await server.wait((e) => e.ev === "ready", "server ready");
  const token = readFileSync(join(dataDir, "admin.token"), "utf8").trim();
  const ca: string = ready.tls.ca;
  const client = new TetherClient({ url: ready.url, token, transport: benchTransport(ca) });

  progress(`tether: enrolling ${N} devices from ${PROCS} agent processes`);
  const tEnroll = performance.now();
  const agents: Child[] = [];
  const enrolled = new Array(PROCS).fill(0);
  for (let p = 0; p < PROCS; p++) {
    const a = spawnChild(`agents-${p}`, join(ROOT, "bench/lib/exec-agents.ts"), [
      join(tmpRoot, "agents"),
      ready.url,
      ready.token,
      String(N),
      String(PROCS),
      String(p),
      String(ENROLL_CONCURRENCY),
    ]);
    a.on((e) => {
      if (e.ev !== "enrolled") return;
      enrolled[p] = e.n;
      const total = enrolled.reduce((x, y) => x + y, 0);
      if (total % 200 === 0 || total === N) progress(`tether: enrolled ${total}/${N}`);
    });
    agents.push(a);
  }
  await Promise.all(agents.map((a) => a.wait((e) => e.ev === "prepared", "agents prepared", 600_000)));
  const enrollS = (performance.now() - tEnroll) / 1000;
  progress(`tether: ${N} devices enrolled in ${fmt(enrollS, 1)} s; connecting them`);
  server.send(`watch ${N}`);
  await server.wait((e) => e.ev === "online" && e.n === 0, "initial online count");
  const t0 = performance.now();
  for (const a of agents) a.send("go");
  await server.wait((e) => e.ev === "online" && e.n >= N, "all devices online", 180_000);
  const connectS = (performance.now() - t0) / 1000;
  progress(`tether: all ${N} online after ${fmt(connectS, 2)} s`);
  await sleep(2000); // let the connect burst (facts, handshakes) drain
  return { server, agents, url: ready.url, token, ca, client, enrollS, connectS };
}

/** Create a command and wait for its `done` event; client-side timings in ms from the POST. */
async function execAndWait(client: TetherClient, input: Record<string, unknown>) {
  const wall0 = Date.now();
  const t0 = performance.now();
  const created = await client.createCommand(input as any);
  const createdMs = performance.now() - t0;
  const finals: number[] = []; // arrival of each run's final state at the client
  const seen = new Set<string>();
  const done = await client.commandEvents(created.id, (ev) => {
    if (ev.type === "run" && !LIVE_RUN_STATUSES.has(ev.run.status) && !seen.has(ev.run.deviceId)) {
      seen.add(ev.run.deviceId);
      finals.push(performance.now() - t0);
    }
  });
  return { id: created.id, wall0, ms: performance.now() - t0, createdMs, finals, command: done };
}

const q3 = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0], p50: s[Math.floor((s.length - 1) / 2)], max: s[s.length - 1] };
};

/** Every run, checked afterwards: succeeded with the expected stdout; and its server timeline. */
async function checkRuns(client: TetherClient, id: string, wall0: number, expect: RegExp) {
  const c = await client.getCommand(id, { output: true });
  const runs = c.runs ?? [];
  const text = (r: (typeof runs)[number]) =>
    r.stdoutEncoding === "base64" ? Buffer.from(r.stdout ?? "", "base64").toString() : (r.stdout ?? "");
  const bad = runs.filter((r) => r.status !== "succeeded" || !expect.test(text(r)));
  const byStatus: Record<string, number> = {};
  for (const r of bad) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
  const at = (v: string | null) => (v ? Date.parse(v) - wall0 : Number.NaN);
  return {
    total: runs.length,
    succeeded: runs.length - bad.length,
    bad: bad.length,
    byStatus,
    examples: bad.slice(0, 3).map((r) => ({
      device: r.device,
      status: r.status,
      error: r.error,
      exitCode: r.exitCode,
      stdout: text(r).slice(0, 80),
    })),
    state: c.state,
    // server clock, ms after the client's POST: when the agent acknowledged the start
    // ("running"), when the result was stored; and the agent's own spawn→result time
    startedAt: q3(runs.map((r) => at(r.startedAt))),
    finishedAt: q3(runs.map((r) => at(r.finishedAt))),
    agentDurationMs: q3(runs.map((r) => r.durationMs ?? Number.NaN)),
    commandFinishedAt: at(c.finishedAt),
  };
}

async function singleExec(fleet: Fleet) {
  const device = "sim-0";
  const execClient = new TetherClient({
    url: fleet.url,
    token: fleet.token,
    transport: benchTransport(fleet.ca),
  });
  const pingClient = new TetherClient({
    url: fleet.url,
    token: fleet.token,
    transport: benchTransport(fleet.ca),
  });
  const input = { argv: ["true"], devices: [device] };
  progress(`single: ${WARMUP} warm-up exec + ping on ${device}, then ${ITER} of each, interleaved`);
  const once = async (measure: boolean) => {
    const e = await execAndWait(execClient, input);
    const t1 = performance.now();
    const p = await pingClient.ping(device);
    const pingMs = performance.now() - t1;
    if (!measure) return;
    exec.push(e.ms);
    create.push(e.createdMs);
    ping.push(pingMs);
    pingRtt.push(p.rttMs);
    const run = (await execClient.getCommand(e.id)).runs?.[0];
    if (run?.startedAt && run.finishedAt) {
      ack.push(Date.parse(run.startedAt) - e.wall0);
      stored.push(Date.parse(run.finishedAt) - e.wall0);
      agent.push(run.durationMs ?? Number.NaN);
    }
    if (e.command.summary.succeeded !== 1) {
      failed++;
      if (failures.length < 3) failures.push({ id: e.id, summary: e.command.summary });
    }
  };
  const exec: number[] = [];
  const create: number[] = [];
  const ping: number[] = [];
  const pingRtt: number[] = [];
  const ack: number[] = []; // server clock, ms after the POST: the agent acknowledged the start
  const stored: number[] = []; // … the result was stored
  const agent: number[] = []; // the agent's own spawn → result
  let failed = 0;
  const failures: any[] = [];
  for (let i = 0; i < WARMUP; i++) await once(false);
  const snap = cpuSnapshot();
  for (let i = 0; i < ITER; i++) await once(true);
  const others = foreignCores(snap, cpuSnapshot());
  if (failed)
    progress(`single: FAILURE: ${failed}/${ITER} runs did not succeed: ${JSON.stringify(failures)}`);

  // The SDK as shipped (nodeTransport): what `tether exec` and SDK users see today.
  progress(`single: ${SDK_ITER} more exec round trips through the SDK's own nodeTransport`);
  const sdkClient = new TetherClient({
    url: fleet.url,
    token: fleet.token,
    transport: nodeTransport(fleet.ca),
  });
  for (let i = 0; i < 5; i++) await execAndWait(sdkClient, input);
  const sdk: number[] = [];
  for (let i = 0; i < SDK_ITER; i++) {
    const e = await execAndWait(sdkClient, input);
    sdk.push(e.ms);
    if (e.command.summary.succeeded !== 1) failed++;
  }
  return {
    exec: summarize(exec),
    create: summarize(create),
    ping: summarize(ping),
    pingServerRtt: summarize(pingRtt),
    sdkNodeTransport: summarize(sdk),
    serverTimeline: {
      startAcked: summarize(ack),
      resultStored: summarize(stored),
      agentMs: summarize(agent),
    },
    foreignCores: others,
    failed,
    failures,
  };
}

async function fleetExec(fleet: Fleet, n: number, label: string, profile = false) {
  const target = n === N ? { all: true } : { devices: Array.from({ length: n }, (_, i) => `sim-${i}`) };
  const input = { argv: FLEET_ARGV, concurrency: 0, ...target };
  const pids = [fleet.server.pid, ...fleet.agents.map((a) => a.pid)];
  progress(`${label}: warm-up exec of ${FLEET_ARGV.join(" ")} on ${n} devices, then ${RUNS} measured runs`);
  const runs: any[] = [];
  const windows: [number, number][] = []; // CLOCK_MONOTONIC µs, for the server's profile
  for (let i = 0; i <= RUNS; i++) {
    if (profile && i === 1) {
      for (const a of fleet.agents) a.send("prof-start");
      await Promise.all(fleet.agents.map((a) => a.wait((e) => e.ev === "prof-started", "agent profiler")));
    }
    const before = pids.map(cpuMs);
    const snap = cpuSnapshot();
    const w0 = Number(process.hrtime.bigint() / 1000n);
    const r = await execAndWait(fleet.client, input);
    const w1 = Number(process.hrtime.bigint() / 1000n);
    const others = foreignCores(snap, cpuSnapshot());
    const after = pids.map(cpuMs);
    if (i > 0) windows.push([w0, w1]);
    const check = await checkRuns(fleet.client, r.id, r.wall0, /^Linux /);
    const cpu = {
      serverMs: after[0].self - before[0].self,
      agentsMs: after.slice(1).reduce((s, a, k) => s + a.self - before[k + 1].self, 0),
      agentChildrenMs: after.slice(1).reduce((s, a, k) => s + a.children - before[k + 1].children, 0),
    };
    const fin = q3(r.finals);
    progress(
      `${label}: ${i === 0 ? "warm-up" : `run ${i}`}: ${fmt(r.ms, 0)} ms; POST answered after ${fmt(r.createdMs, 0)} ms; ` +
        `agents acked the start ${fmt(check.startedAt.min, 0)}…${fmt(check.startedAt.max, 0)} ms, results stored ${fmt(check.finishedAt.min, 0)}…${fmt(check.finishedAt.max, 0)} ms (server clock), ` +
        `seen by the client ${fmt(fin.min, 0)}…${fmt(fin.max, 0)} ms; agent spawn→result p50 ${fmt(check.agentDurationMs.p50, 0)} max ${fmt(check.agentDurationMs.max, 0)} ms; ` +
        `${check.succeeded}/${n} succeeded; CPU: server ${cpu.serverMs} ms, agent processes ${cpu.agentsMs} ms, their children ${cpu.agentChildrenMs} ms`,
    );
    if (check.total !== n || check.bad > 0) {
      progress(
        `${label}: FAILURE: ${check.bad} of ${check.total} runs (expected ${n}) did not succeed with a "Linux …" stdout: ${JSON.stringify(check.byStatus)} e.g. ${JSON.stringify(check.examples)}`,
      );
    }
    if (others >= 0.3)
      progress(`${label}: WARNING: other processes kept ${fmt(others, 2)} cores busy meanwhile`);
    if (i > 0)
      runs.push({ ms: r.ms, createdMs: r.createdMs, clientFinals: fin, cpu, check, foreignCores: others });
  }
  let agentProfiles: string[] = [];
  if (profile) {
    agentProfiles = await Promise.all(
      fleet.agents.map(async (a, k) => {
        const file = join(CPU_PROF!, `agents-${k}.cpuprofile`);
        a.send(`prof-stop ${file}`);
        return (await a.wait((e) => e.ev === "prof", "agent profile", 60_000)).file as string;
      }),
    );
  }
  return { runs, windows, agentProfiles };
}

// ---------------------------------------------------------------- profiles

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** Self time by function and by file/package within the windows (CLOCK_MONOTONIC µs). */
function hotSpots(files: string[], windows: [number, number][] | null) {
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  let idle = 0;
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  for (const file of files) {
    const p = JSON.parse(readFileSync(file, "utf8")) as {
      nodes: ProfileNode[];
      startTime: number;
      samples: number[];
      timeDeltas: number[];
    };
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    let t = p.startTime;
    for (let i = 0; i < p.samples.length; i++) {
      // A sample stands for the gap before it: a sample that waited for a blocking call
      // (fork, fdatasync) to return is taken right after it, with that call on the stack.
      const dt = p.timeDeltas[i];
      t += dt;
      if (windows && !windows.some(([a, b]) => t >= a && t <= b)) continue;
      const n = nodes.get(p.samples[i])!;
      total += dt;
      const fn = n.callFrame.functionName;
      if (fn === "(idle)") {
        idle += dt;
        continue;
      }
      const url = n.callFrame.url.replace(/^file:\/\//, "").replace(ROOT, "");
      const pkg = url.includes("node_modules/")
        ? `node_modules/${url.split("node_modules/").pop()!.split("/")[0]}`
        : url || `(native: ${fn})`;
      add(byFile, pkg, dt);
      add(byFn, `${fn || "(anonymous)"} ${url ? `${url}:${n.callFrame.lineNumber + 1}` : ""}`.trim(), dt);
    }
  }
  const top = (m: Map<string, number>, k: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(([name, us]) => ({ name, ms: Math.round(us / 1000), share: us / Math.max(1, total - idle) }));
  return {
    sampledMs: Math.round(total / 1000),
    busyMs: Math.round((total - idle) / 1000),
    byFile: top(byFile, 15),
    byFunction: top(byFn, 20),
  };
}

function printHotSpots(title: string, h: ReturnType<typeof hotSpots>): string[] {
  const out = [
    "",
    `${title}: busy ${h.busyMs} ms of ${h.sampledMs} ms sampled`,
    "  by file/package (self time):",
  ];
  for (const x of h.byFile)
    out.push(`    ${String(x.ms).padStart(7)} ms ${fmt(100 * x.share, 1).padStart(5)}%  ${x.name}`);
  out.push("  by function (self time):");
  for (const x of h.byFunction)
    out.push(`    ${String(x.ms).padStart(7)} ms ${fmt(100 * x.share, 1).padStart(5)}%  ${x.name}`);
  return out;
}

// ---------------------------------------------------------------- report

async function main() {
  const tStart = Date.now();
  const load = await waitForQuiet();
  results.machine = { cores: CORES, ...load };
  const limits = await spawnLimits();
  const pssh = await psshPeer();
  results.spawnLimit = limits;
  results.pssh = pssh;

  const fleet = await startFleet();
  results.fleet = { enrollS: fleet.enrollS, connectS: fleet.connectS };
  let single: Awaited<ReturnType<typeof singleExec>>;
  let small: Awaited<ReturnType<typeof fleetExec>>;
  let big: Awaited<ReturnType<typeof fleetExec>>;
  try {
    single = await singleExec(fleet);
    progress(
      `single: exec p50 ${fmt(single.exec.p50)} p99 ${fmt(single.exec.p99)} ms (POST alone p50 ${fmt(single.create.p50)}); ping p50 ${fmt(single.ping.p50)} p99 ${fmt(single.ping.p99)} ms; exec through the SDK's nodeTransport p50 ${fmt(single.sdkNodeTransport.p50)} ms`,
    );
    small = await fleetExec(fleet, SMALL, `fleet-${SMALL}`);
    big = N === SMALL ? small : await fleetExec(fleet, N, `fleet-${N}`, !!CPU_PROF);
  } finally {
    await Promise.all(fleet.agents.map((a) => a.stop()));
    await fleet.server.stop();
  }
  results.single = single;
  results.fleetSmall = small.runs;
  results.fleetBig = big.runs;

  let profileLines: string[] = [];
  if (CPU_PROF) {
    const serverProfiles = readdirSync(CPU_PROF)
      .filter((f) => f.startsWith("CPU.") && f.includes(`.${fleet.server.pid}.0.`))
      .map((f) => join(CPU_PROF, f));
    const server = serverProfiles.length ? hotSpots(serverProfiles, big.windows) : null;
    const agents = big.agentProfiles.length ? hotSpots(big.agentProfiles, null) : null;
    results.hotSpots = { server, agents, files: [...serverProfiles, ...big.agentProfiles] };
    if (server)
      profileLines = profileLines.concat(
        printHotSpots(`server, during the measured ${N}-device runs`, server),
      );
    else profileLines.push("", `server profile not found in ${CPU_PROF}`);
    if (agents)
      profileLines = profileLines.concat(
        printHotSpots(`agent processes (${PROCS}, summed), during the measured ${N}-device runs`, agents),
      );
  }

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
      ratio === null ? "" : `${fmt(ratio, ratio < 0.1 ? 3 : 2)}×`,
      goal,
      pass === null ? "" : pass ? "PASS" : "MISS",
    ]);
  const s = single;
  row(
    "exec `true` on 1 device: round trip p50 (ms; peer = ping)",
    s.exec.p50,
    s.ping.p50,
    s.exec.p50 / s.ping.p50,
    "",
    null,
  );
  row(
    "exec `true` on 1 device: round trip p99 (ms; peer = ping)",
    s.exec.p99,
    s.ping.p99,
    s.exec.p99 / s.ping.p99,
    "",
    null,
  );
  row(
    "  … p50 through the SDK's own nodeTransport (ms; peer = ping)",
    s.sdkNodeTransport.p50,
    s.ping.p50,
    s.sdkNodeTransport.p50 / s.ping.p50,
    "",
    null,
  );
  const smallMs = median(small.runs.map((r) => r.ms));
  const psshMs = median(pssh.runs.map((r) => r.ms));
  const psshOk = pssh.runs.every((r) => r.succeeded === SMALL && r.outputLines === SMALL);
  const smallOk = small.runs.every((r) => r.check.bad === 0 && r.check.total === SMALL);
  row(
    `fleet exec \`uname -a\` on ${SMALL} devices: wall (ms; peer = parallel-ssh -p ${SMALL})`,
    smallMs,
    psshMs,
    smallMs / psshMs,
    "≥ 50× faster (≤ 0.02×)",
    smallMs / psshMs <= 0.02 && psshOk && smallOk,
    1,
  );
  const smallLimit = median(limits.small.map((r) => r.ms));
  row(
    `  … for scale: ${SMALL} local spawns by one Node process (ms)`,
    smallMs,
    smallLimit,
    smallMs / smallLimit,
    "",
    null,
    1,
  );
  const bigMs = median(big.runs.map((r) => r.ms));
  const limitMs = median(limits.big.map((r) => r.ms));
  const bigOk = big.runs.every((r) => r.check.bad === 0 && r.check.total === N);
  row(
    `fleet exec \`uname -a\` on ${N} devices: every result in (ms; peer = ${N} local spawns)`,
    bigMs,
    limitMs,
    bigMs / limitMs,
    "≤ 1.5× the local limit",
    bigMs / limitMs <= 1.5 && bigOk,
    1,
  );
  const failedRuns =
    s.failed +
    small.runs.reduce((a, r) => a + r.check.bad + Math.max(0, SMALL - r.check.total), 0) +
    (N === SMALL ? 0 : big.runs.reduce((a, r) => a + r.check.bad + Math.max(0, N - r.check.total), 0));
  const psshFailed = pssh.runs.reduce((a, r) => a + (SMALL - r.succeeded), 0);
  rows.push([
    "runs not succeeded, all measured runs (peer = pssh hosts not [SUCCESS])",
    String(failedRuns),
    String(psshFailed),
    "",
    "0",
    failedRuns === 0 && psshFailed === 0 ? "PASS" : "MISS",
  ]);
  results.table = rows.map(([metric, tether, peer, ratio, goal, result]) => ({
    metric,
    tether,
    peer,
    ratio,
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
  const b = big.runs;
  const notes = [
    "",
    `single: ${ITER} sequential round trips after ${WARMUP} warm-up, exec and ping interleaved, each its own SDK client (TLS context built once, keep-alive): exec = POST /commands (p50 ${fmt(s.create.p50)} ms alone) + GET /commands/{id}/events until \`done\`; ping = POST /devices/sim-0/ping (server-side rttMs p50 ${fmt(s.pingServerRtt.p50, 3)} ms). Exec p50 timeline (server clock, ms after the POST): start acknowledged by the agent ${fmt(s.serverTimeline.startAcked.p50, 0)}, result stored ${fmt(s.serverTimeline.resultStored.p50, 0)}; the agent's spawn→result ${fmt(s.serverTimeline.agentMs.p50, 0)} ms. ${N - 1} other devices stay connected. The nodeTransport row: ${SDK_ITER} exec round trips through the SDK as shipped.`,
    `fleet rows: median of ${RUNS} after a warm-up; tether = POST /commands {concurrency: 0} → \`done\` event; every run then checked: succeeded, stdout "Linux …". ${N} devices = ${N} ControlClients (own keys, data dir with journal/outbox, MQTT connection, Noise session) in ${PROCS} processes; each run spawns a real process.`,
    `pssh: parallel-ssh -p ${SMALL} -t 0 -i, ${SMALL} × 127.0.0.1:${pssh.port} (its own sshd, ed25519 keys; one TCP connection + SSH session per host), median of ${RUNS} after a warm-up; ${SMALL} [SUCCESS] and ${SMALL} "Linux …" lines counted per run${pssh.bashrcHidden ? "; root's ~/.bashrc (pyenv init on this machine, ~0.2 s per session) hidden from sshd's sessions" : ""}.`,
    `limit: a fresh Node process (under tsx, like the agent processes) spawns ${N} (or ${SMALL}) × \`${FLEET_ARGV.join(" ")}\` at once (detached, stdout/stderr piped and collected) until all have exited; median of ${RUNS}.`,
    `${N}-device runs, ms after the POST: answered ${b.map((r) => fmt(r.createdMs, 0)).join("/")}; starts acknowledged by agents until ${b.map((r) => fmt(r.check.startedAt.max, 0)).join("/")}; first result ${b.map((r) => fmt(r.check.finishedAt.min, 0)).join("/")}, half ${b.map((r) => fmt(r.check.finishedAt.p50, 0)).join("/")}; agent spawn→result p50 ${b.map((r) => fmt(r.check.agentDurationMs.p50, 0)).join("/")}. CPU (ms): server ${b.map((r) => r.cpu.serverMs).join("/")}, agent processes ${b.map((r) => r.cpu.agentsMs).join("/")}, their children ${b.map((r) => r.cpu.agentChildrenMs).join("/")}; the limit's: spawning process ${limits.big.map((r) => r.cpu.selfMs).join("/")}, its children ${limits.big.map((r) => r.cpu.childrenMs).join("/")}.`,
    `code: ${results.commit}${results.uncommitted.length ? ` + ${results.uncommitted.length} uncommitted file(s) under packages/` : ""}; machine: ${CORES} cores; other processes kept ${fmt(load.foreignCores, 2)} cores busy before the start (load average ${fmt(load.loadavg1, 2)}), and during the measured runs: single ${fmt(s.foreignCores, 2)}, pssh ${pssh.runs.map((r) => fmt(r.foreignCores, 2)).join("/")}, ${SMALL}-device ${small.runs.map((r) => fmt(r.foreignCores, 2)).join("/")}, ${N}-device ${b.map((r) => fmt(r.foreignCores, 2)).join("/")} cores; enrollment of ${N} devices ${fmt(fleet.enrollS, 1)} s, connect ${fmt(fleet.connectS, 1)} s (not in the table).`,
  ];
  mkdirSync(join(ROOT, "bench/results"), { recursive: true });
  writeFileSync(join(ROOT, "bench/results/exec.json"), `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${lines.join("\n")}\n${notes.join("\n")}\n${profileLines.join("\n")}\n`);
  progress(`done in ${results.totalSeconds.toFixed(0)} s; wrote bench/results/exec.json`);
}

try {
  await main();
} finally {
  rmSync(tmpRoot, { recursive: true, force: true });
}
process.exit(0);

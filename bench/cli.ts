/**
 * CLI start-up benchmark (npm run bench:cli): what one `tether` call costs, beside the floor
 * (`node -e 0`, a Node process that does nothing) and the same REST call made by curl.
 * A server (its own process, bench/lib/server-child.ts) and one enrolled, connected agent
 * (bench/lib/exec-agents.ts with one device) run first; then, interleaved round by round so
 * that load on the machine hits every row alike, the wall time of:
 *   node -e 0                              the floor
 *   tether --version                       the CLI's own start (no request)
 *   tether devices list                    the installed command: node packages/cli/bin/tether.js
 *   curl GET /api/v1/devices               the same request, bearer token and --cacert
 *   tether exec DEV -- true                a command run on the device, to its exit code
 *   tether devices list, unbundled         the same from tsc's module tree (dist/main.js), as before
 * The CLI gets TETHER_URL / TETHER_TOKEN / TETHER_CA_CERT, as an operator's shell would.
 * Prints one markdown table (p50, p90, p50 / floor) with the goal row
 * `tether devices list ≤ 1.3× node -e 0`; writes bench/results/cli.json.
 * Env: BENCH_CLI_RUNS (30 rounds), BENCH_CLI_WARMUP (3 rounds, not counted).
 * Needs `npm run build` first (bin/tether.js runs packages/cli/dist/tether.cjs).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { git, progress, ROOT, spawnChild, summarize } from "./lib/util.js";

const RUNS = Number(process.env.BENCH_CLI_RUNS ?? 30);
const WARMUP = Number(process.env.BENCH_CLI_WARMUP ?? 3);
const GOAL = 1.3;
const BIN = join(ROOT, "packages/cli/bin/tether.js");
const BUNDLE = join(ROOT, "packages/cli/dist/tether.cjs");

if (!existsSync(BUNDLE)) {
  console.error(`bench:cli: ${BUNDLE} is missing; run npm run build first`);
  process.exit(1);
}

const tmpRoot = mkdtempSync(join(tmpdir(), "tether-bench-cli-"));
const dataDir = join(tmpRoot, "server");

progress("starting the server (child) and one agent");
const server = spawnChild("server", join(ROOT, "bench/lib/server-child.ts"), [dataDir, "0", "0", "1"]);
const ready = await server.wait((e) => e.ev === "ready", "server ready");
const agent = spawnChild("agent", join(ROOT, "bench/lib/exec-agents.ts"), [
  join(tmpRoot, "agents"),
  ready.url,
  ready.token,
  "1",
  "1",
  "0",
  "1",
]);
await agent.wait((e) => e.ev === "prepared", "agent enrolled");
server.send("watch 1");
agent.send("go");
await server.wait((e) => e.ev === "online" && e.n >= 1, "agent online");
const DEVICE = "sim-0";

const token = readFileSync(join(dataDir, "admin.token"), "utf8").trim();
const caFile = join(tmpRoot, "ca.pem");
writeFileSync(caFile, ready.tls.ca);
const env: Record<string, string | undefined> = { ...process.env };
for (const k of Object.keys(env)) if (k.startsWith("TETHER_")) delete env[k];
Object.assign(env, {
  TETHER_URL: ready.url,
  TETHER_TOKEN: token,
  TETHER_CA_CERT: caFile,
  XDG_CONFIG_HOME: tmpRoot, // never the user's own `tether login`
});

interface Row {
  name: string;
  argv: string[];
  /** What the output must contain (the call did its work). */
  check: (stdout: string) => boolean;
}
const node = process.execPath;
const rows: Row[] = [
  { name: "node -e 0", argv: [node, "-e", "0"], check: () => true },
  { name: "tether --version", argv: [node, BIN, "--version"], check: (o) => /^\d+\.\d+\.\d+/.test(o) },
  { name: "tether devices list", argv: [node, BIN, "devices", "list"], check: (o) => o.includes(DEVICE) },
  {
    name: "curl GET /api/v1/devices",
    argv: [
      "curl",
      "-sS",
      "--fail",
      "--cacert",
      caFile,
      "-H",
      `authorization: Bearer ${token}`,
      `${ready.url}/api/v1/devices`,
    ],
    check: (o) => o.includes(DEVICE),
  },
  {
    name: `tether exec ${DEVICE} -- true`,
    argv: [node, BIN, "exec", DEVICE, "--", "true"],
    check: () => true,
  },
];
// For comparison: the same command from the compiled module tree (tsc's dist/main.js), the
// way bin/tether.js ran it before the bundle.
const UNBUNDLED = join(ROOT, "packages/cli/dist/main.js");
if (existsSync(UNBUNDLED))
  rows.push({
    name: "tether devices list, unbundled (dist/main.js)",
    argv: [node, UNBUNDLED, "devices", "list"],
    check: (o) => o.includes(DEVICE),
  });

function once(r: Row): number {
  const t0 = performance.now();
  const p = spawnSync(r.argv[0], r.argv.slice(1), { env, encoding: "utf8", cwd: tmpRoot });
  const ms = performance.now() - t0;
  if (p.status !== 0 || !r.check(p.stdout))
    throw new Error(`${r.name}: exit ${p.status}\nstdout: ${p.stdout}\nstderr: ${p.stderr}`);
  return ms;
}

const load0 = loadavg()[0];
progress(`${WARMUP} warm-up round(s), then ${RUNS} measured, interleaved`);
const samples = rows.map(() => [] as number[]);
for (let i = 0; i < WARMUP + RUNS; i++) {
  rows.forEach((r, j) => {
    const ms = once(r);
    if (i >= WARMUP) samples[j].push(ms);
  });
  if ((i + 1) % 10 === 0) progress(`round ${i + 1}/${WARMUP + RUNS}`);
}
const load1 = loadavg()[0];

await agent.stop();
await server.stop();
rmSync(tmpRoot, { recursive: true, force: true });

const stats = rows.map((r, j) => ({ name: r.name, ...summarize(samples[j]) }));
const floor = stats[0].p50;
const fmt = (v: number) => v.toFixed(1);
const list = stats.find((s) => s.name === "tether devices list")!;
const met = list.p50 <= GOAL * floor;

const lines = [
  "| call | p50 ms | p90 ms | p50 / node -e 0 |",
  "| --- | ---: | ---: | ---: |",
  ...stats.map((s) => `| ${s.name} | ${fmt(s.p50)} | ${fmt(s.p90)} | ${(s.p50 / floor).toFixed(2)}× |`),
  `| **goal: tether devices list ≤ ${GOAL}× node -e 0** | ≤ ${fmt(GOAL * floor)} | | ${(list.p50 / floor).toFixed(2)}× — ${met ? "met" : "not met"} |`,
];
console.log(lines.join("\n"));
console.log(
  `\n${RUNS} interleaved rounds after ${WARMUP} warm-up; wall time of each process from spawn to exit; ` +
    `${cpus().length} cores, load average ${load0.toFixed(2)} before, ${load1.toFixed(2)} after; ` +
    `code ${git(["rev-parse", "--short", "HEAD"])}${git(["status", "--porcelain", "--", "packages"]) ? " + uncommitted changes" : ""}.`,
);

mkdirSync(join(ROOT, "bench/results"), { recursive: true });
writeFileSync(
  join(ROOT, "bench/results/cli.json"),
  `${JSON.stringify(
    {
      startedAt: new Date().toISOString(),
      commit: git(["rev-parse", "--short", "HEAD"]),
      uncommitted: git(["status", "--porcelain", "--", "packages"]).split("\n").filter(Boolean),
      runs: RUNS,
      warmup: WARMUP,
      cores: cpus().length,
      loadavg: { before: load0, after: load1 },
      goal: { row: "tether devices list", maxRatio: GOAL, ratio: list.p50 / floor, met },
      rows: stats,
    },
    null,
    2,
  )}\n`,
);
process.exit(0);

/**
 * The local spawn limit: how long one fresh Node process takes to spawn N processes of the
 * same command all at once (child_process.spawn, stdout and stderr piped and collected),
 * until every one has exited. This is the floor for "N devices each run a command", with no
 * network, no server and no bookkeeping.
 *
 * As a child: spawn-limit.ts N ARGV... → event {ev:"done", ms, ok, bytes, failures}.
 * As a module: spawnLimit(n, argv, runs) runs `runs` fresh children and returns every time.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { emit, spawnChild } from "./util.js";

const SELF = fileURLToPath(import.meta.url);

export interface SpawnLimitRun {
  ms: number;
  ok: number;
  failures: number;
  bytes: number;
  /** CPU of the spawning process during the run, and of the processes it spawned (reaped). */
  cpu: { selfMs: number; childrenMs: number };
}

/** utime+stime and cutime+cstime of this process, in ms (USER_HZ = 100). */
function cpuOfSelf(): { selfMs: number; childrenMs: number } {
  const st = readFileSync("/proc/self/stat", "utf8");
  const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
  return { selfMs: (Number(f[11]) + Number(f[12])) * 10, childrenMs: (Number(f[13]) + Number(f[14])) * 10 };
}

export async function spawnLimit(n: number, argv: string[], runs: number): Promise<SpawnLimitRun[]> {
  const out: SpawnLimitRun[] = [];
  for (let r = 0; r < runs; r++) {
    const child = spawnChild("spawn-limit", SELF, [String(n), ...argv]);
    const ev = await child.wait<SpawnLimitRun>((e) => e.ev === "done", `${n} local spawns`, 120_000);
    await child.stop();
    out.push({ ms: ev.ms, ok: ev.ok, failures: ev.failures, bytes: ev.bytes, cpu: ev.cpu });
  }
  return out;
}

function runOnce(n: number, argv: string[]): Promise<SpawnLimitRun> {
  return new Promise((resolve) => {
    const cpu0 = cpuOfSelf();
    const t0 = performance.now();
    let left = n;
    let ok = 0;
    let bytes = 0;
    const finish = (code: number | null, out: Buffer[]) => {
      const b = Buffer.concat(out);
      bytes += b.length;
      if (code === 0 && b.length > 0) ok++;
      if (--left === 0) {
        const ms = performance.now() - t0;
        const cpu1 = cpuOfSelf();
        const cpu = { selfMs: cpu1.selfMs - cpu0.selfMs, childrenMs: cpu1.childrenMs - cpu0.childrenMs };
        resolve({ ms, ok, failures: n - ok, bytes, cpu });
      }
    };
    for (let i = 0; i < n; i++) {
      // As the agent spawns a command: its own process group, stdin closed, both streams piped.
      const p = spawn(argv[0], argv.slice(1), { detached: true, stdio: ["ignore", "pipe", "pipe"] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      p.stdout.on("data", (c: Buffer) => out.push(c));
      p.stderr.on("data", (c: Buffer) => err.push(c));
      let settled = false;
      const settle = (code: number | null) => {
        if (settled) return;
        settled = true;
        finish(code, out);
      };
      p.once("error", () => settle(-1));
      // 'close' comes after the exit and the end of both streams.
      p.once("close", (code) => settle(code));
    }
  });
}

if (process.argv[1] === SELF) {
  const [nArg, ...argv] = process.argv.slice(2);
  const r = await runOnce(Number(nArg), argv);
  emit({ ev: "done", ...r });
  process.exit(0);
}

/** Small helpers shared by the benchmark and its child processes. */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const TSX = ["--import", "tsx", "--conditions=source"];

/** `git -C ROOT ...args`, its output without the final newline; "" when git fails (no repo, no git). */
export function git(args: string[]): string {
  try {
    return execFileSync("git", ["-C", ROOT, ...args], { encoding: "utf8" }).trimEnd();
  } catch {
    return "";
  }
}

/** `--quick`: the smaller sizes, for a check that a bench still runs. */
export const QUICK = process.argv.includes("--quick");
/** A numeric size from the environment (BENCH_*), or its default. */
export const env = (k: string, d: number) => Number(process.env[k] ?? d);

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function progress(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 23)}] ${msg}\n`);
}

/** Nearest-rank percentile of an already sorted array. */
export function percentile(sorted: number[], q: number): number {
  if (!sorted.length) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function summarize(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  return {
    n: s.length,
    p50: percentile(s, 0.5),
    p90: percentile(s, 0.9),
    p99: percentile(s, 0.99),
    max: s[s.length - 1],
    mean: s.reduce((a, b) => a + b, 0) / s.length,
  };
}

/** VmRSS of a process in KiB. */
export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/**
 * Measurement settle: sample every 500 ms until the last 3 samples differ by ≤1%
 * (no global.gc here). Returns the last sample, in KiB.
 */
export async function settledRss(pid: number, capMs = 20_000): Promise<{ kib: number; settleMs: number }> {
  const t0 = Date.now();
  const samples: number[] = [rssKiB(pid)];
  for (;;) {
    await sleep(500);
    samples.push(rssKiB(pid));
    const last = samples.slice(-3);
    if (last.length === 3 && Math.max(...last) / Math.min(...last) - 1 <= 0.01) break;
    if (Date.now() - t0 > capMs) {
      progress(`RSS of ${pid} did not settle within ${capMs} ms; taking the last sample`);
      break;
    }
  }
  return { kib: samples[samples.length - 1], settleMs: Date.now() - t0 };
}

/** Line-delimited JSON events on stdout, commands on stdin. */
export interface Child {
  proc: ChildProcess;
  pid: number;
  send(cmd: string): void;
  /** Resolves with the first event (from now on, or already buffered) matching. */
  wait<T = any>(pred: (ev: any) => boolean, what: string, timeoutMs?: number): Promise<T>;
  on(fn: (ev: any) => void): void;
  stop(): Promise<void>;
}

export function spawnChild(name: string, script: string, args: string[]): Child {
  // BENCH_CPU_PROF=DIR: a V8 CPU profile of every child process (their whole life).
  const prof = process.env.BENCH_CPU_PROF
    ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
    : [];
  const proc = spawn(process.execPath, [...prof, ...TSX, script, ...args], {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env },
  });
  const listeners = new Set<(ev: any) => void>();
  const backlog: any[] = [];
  let out = "";
  proc.stdout!.on("data", (c) => {
    out += c;
    for (let i = out.indexOf("\n"); i >= 0; i = out.indexOf("\n")) {
      const line = out.slice(0, i);
      out = out.slice(i + 1);
      if (!line.startsWith("{")) continue;
      const ev = JSON.parse(line);
      backlog.push(ev);
      if (backlog.length > 100) backlog.shift();
      for (const l of [...listeners]) l(ev);
    }
  });
  let err = "";
  let stderrLines = 0;
  proc.stderr!.on("data", (c) => {
    err += c;
    for (let i = err.indexOf("\n"); i >= 0; i = err.indexOf("\n")) {
      const line = err.slice(0, i);
      err = err.slice(i + 1);
      if (++stderrLines <= 40) process.stderr.write(`  [${name}] ${line}\n`);
      else if (stderrLines === 41) process.stderr.write(`  [${name}] (further stderr suppressed)\n`);
    }
  });
  const exited = new Promise<number | null>((r) => proc.on("exit", (code) => r(code)));
  return {
    proc,
    pid: proc.pid!,
    send: (cmd) => proc.stdin!.write(`${cmd}\n`),
    on: (fn) => listeners.add(fn),
    wait(pred, what, timeoutMs = 120_000) {
      const hit = backlog.find(pred);
      if (hit) {
        backlog.splice(backlog.indexOf(hit), 1);
        return Promise.resolve(hit);
      }
      return new Promise((resolve, reject) => {
        const l = (ev: any) => {
          if (!pred(ev)) return;
          cleanup();
          backlog.splice(backlog.indexOf(ev), 1);
          resolve(ev);
        };
        const t = setTimeout(() => {
          cleanup();
          reject(new Error(`${name}: timed out after ${timeoutMs} ms waiting for ${what}`));
        }, timeoutMs);
        const onExit = (code: number | null) => {
          cleanup();
          reject(new Error(`${name} exited (${code}) while waiting for ${what}`));
        };
        const cleanup = () => {
          clearTimeout(t);
          listeners.delete(l);
          proc.off("exit", onExit);
        };
        listeners.add(l);
        proc.on("exit", onExit);
      });
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.stdin!.write("quit\n");
      const t = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Child side: emit one event line; read commands. */
export function emit(ev: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(ev)}\n`);
}

export function onCommand(fn: (cmd: string, args: string[]) => void): void {
  let buf = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (c) => {
    buf += c;
    for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line) {
        const [cmd, ...args] = line.split(/\s+/);
        fn(cmd, args);
      }
    }
  });
  process.stdin.on("end", () => process.exit(0));
}

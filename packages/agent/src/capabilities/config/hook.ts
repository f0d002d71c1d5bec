/**
 * The apply hook (docs/protocol.md §18.5): one command run with `/bin/sh -c` in its own process
 * group after a configuration is written. A hook that runs too long gets SIGTERM (the whole
 * group), then SIGKILL after a grace period; its combined output's tail is kept.
 */
import { type ChildProcess, spawn } from "node:child_process";

export interface HookResult {
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  /** The tail of stdout and stderr together. */
  output: string;
}

export interface HookRun {
  done: Promise<HookResult & { spawnError?: string }>;
  /** Stop it now (agent stopping): SIGKILL the group. */
  kill(): void;
}

export function runHook(
  command: string,
  o: { env: NodeJS.ProcessEnv; cwd: string; timeoutMs: number; killGraceMs: number; maxOutput: number },
): HookRun {
  let tail = Buffer.alloc(0);
  const keep = (c: Buffer) => {
    tail = Buffer.concat([tail, c]);
    if (tail.length > o.maxOutput * 2) tail = tail.subarray(tail.length - o.maxOutput);
  };
  let child: ChildProcess;
  try {
    child = spawn("/bin/sh", ["-c", command], {
      cwd: o.cwd,
      env: o.env,
      detached: true, // its own group: a timeout kills what it started too
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (err) {
    const msg = (err as Error).message;
    return {
      done: Promise.resolve({ code: null, signal: null, timedOut: false, output: "", spawnError: msg }),
      kill() {},
    };
  }
  const group = (sig: NodeJS.Signals) => {
    try {
      if (child.pid) process.kill(-child.pid, sig);
    } catch {}
  };
  let timedOut = false;
  let killTimer: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    group("SIGTERM");
    killTimer = setTimeout(() => group("SIGKILL"), o.killGraceMs);
  }, o.timeoutMs);
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const done = new Promise<HookResult & { spawnError?: string }>((resolve) => {
    let spawnError: string | undefined;
    let exit: { code: number | null; signal: string | null } | undefined;
    let finished = false;
    const finish = () => {
      if (finished || !exit) return;
      finished = true;
      clearTimeout(timer);
      clearTimeout(killTimer);
      const t = tail.length > o.maxOutput ? tail.subarray(tail.length - o.maxOutput) : tail;
      resolve({ ...exit, timedOut, output: t.toString("utf8"), ...(spawnError ? { spawnError } : {}) });
    };
    child.on("error", (err) => {
      spawnError = err.message;
      exit ??= { code: null, signal: null };
      finish();
    });
    child.on("exit", (code, signal) => {
      exit = { code, signal };
      // Something it left in the background may hold its pipes: stop reading them soon.
      setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish();
      }, 500).unref();
    });
    child.on("close", () => finish());
  });
  return { done, kill: () => group("SIGKILL") };
}

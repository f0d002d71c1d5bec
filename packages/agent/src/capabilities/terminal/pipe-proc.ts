/**
 * A session without a PTY (docs/protocol.md §17.4): stdin, stdout and stderr as pipes, for
 * scripts (`printf 'ls\nexit 5\n' | tether shell dev`, `ssh dev CMD`). stdout goes to the
 * channel and stderr to its stderr (DATA_ERR), each piped with backpressure; EOF from the
 * user closes stdin. The status is taken at 'close' (every pipe drained), not at 'exit'.
 * child_process drops all supplementary groups when it switches user (libuv: setgroups(0)).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import type { TunnelSignal } from "@tether/protocol";
import type { AgentChannel } from "../../tunnels/index.js";
import { type ExitStatus, nodeSignal, type SessionProc } from "./proc.js";
import type { SpawnPlan } from "./spawn-plan.js";

export async function startPipes(ch: AgentChannel, plan: SpawnPlan): Promise<SessionProc> {
  const u = plan.switchTo;
  const child: ChildProcess = spawn(plan.file, plan.args, {
    cwd: plan.cwd,
    env: plan.env,
    detached: true, // setsid: a session (and group) of its own, so all it starts can be ended
    stdio: ["pipe", "pipe", "pipe"],
    ...(u ? { uid: u.uid, gid: u.gid } : {}),
  });
  if (child.pid === undefined) {
    const [err] = (await once(child, "error")) as [NodeJS.ErrnoException];
    throw err;
  }
  const pid = child.pid;
  child.on("error", () => {}); // after a successful spawn only kill() can fail; nothing to do
  const exited = new Promise<ExitStatus>((resolve) => {
    child.on("close", (code, signal) => resolve({ code, signal }));
  });
  child.stdout?.pipe(ch, { end: false });
  child.stderr?.pipe(ch.stderr, { end: false });
  if (child.stdin) {
    child.stdin.on("error", () => {}); // EPIPE: it exited without reading all its input
    ch.pipe(child.stdin);
  }
  ch.once("close", () => {
    // The user is gone: read the pipes into nothing so the process's end is seen ('close').
    for (const s of [child.stdout, child.stderr]) {
      s?.unpipe();
      s?.resume();
    }
    child.stdin?.destroy();
  });
  let alive = true;
  child.on("exit", () => {
    alive = false;
  });
  ch.on("signal", (name: TunnelSignal) => {
    if (!alive) return; // reaped: its number may name someone else's group by now
    try {
      process.kill(-pid, nodeSignal(name));
    } catch {}
  });
  return { pid, exited };
}

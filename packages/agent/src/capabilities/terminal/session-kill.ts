/**
 * Ending everything a shell session started (docs/protocol.md §17.4: no process outlives its
 * session). Each session's first process is a session leader (node-pty's forkpty and
 * child_process's `detached` both call setsid), so its pid is the session id of everything it
 * forks, including the jobs an interactive shell puts in process groups of their own. The
 * members are found in /proc by that session id; Linux never hands out a pid that is still
 * some session's id, so while members exist the number cannot name another session. Only a
 * process that calls setsid() itself (a daemon) leaves; that is how to keep something running.
 */
import { readdirSync } from "node:fs";
import { procStat } from "../../proc-stat.js";

/**
 * Living members of session `sid` (zombies are dead already: only their parent can reap
 * them); null without /proc (not Linux).
 */
export function sessionMembers(sid: number): number[] | null {
  let names: string[];
  try {
    names = readdirSync("/proc");
  } catch {
    return null;
  }
  const out: number[] = [];
  for (const n of names) {
    const pid = Number(n);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    const st = procStat(pid);
    if (st && st.session === sid && st.state !== "Z") out.push(pid);
  }
  return out;
}

/**
 * Signal every living member of the session. Never the process group `-sid` as such: once the
 * last member is gone the number is free and may already name someone else's group. Only
 * without /proc, where members cannot be listed, the leader's group is signalled instead.
 */
export function signalSession(sid: number, signal: NodeJS.Signals): number {
  // Never the agent's own session, init's, or a nonsense id (a corrupt record).
  if (!Number.isInteger(sid) || sid <= 1 || sid === process.pid || sid === procStat(process.pid)?.session)
    return 0;
  const members = sessionMembers(sid);
  const targets = members ?? [-sid];
  let hit = 0;
  for (const pid of targets) {
    try {
      process.kill(pid, signal);
      hit++;
    } catch {}
  }
  return hit;
}

/** How often a hang-up looks whether the session is gone before its grace period ends. */
const POLL_MS = 50;

/**
 * SIGHUP (and SIGCONT, so a stopped job gets it) to the whole session, SIGKILL to whatever is
 * left after `graceMs`. Resolves once no member is alive (without /proc: after the grace).
 */
export function hangUpSession(sid: number, graceMs = 2000): Promise<void> {
  signalSession(sid, "SIGHUP");
  signalSession(sid, "SIGCONT");
  const deadline = Date.now() + graceMs;
  return new Promise((resolve) => {
    const look = () => {
      const members = sessionMembers(sid);
      if (members !== null && members.length === 0) return resolve();
      if (Date.now() >= deadline) {
        signalSession(sid, "SIGKILL");
        // SIGKILL cannot be caught: the members are gone as soon as the kernel runs them down.
        return setTimeout(() => resolve(), POLL_MS);
      }
      setTimeout(look, POLL_MS);
    };
    setTimeout(look, 0);
  });
}

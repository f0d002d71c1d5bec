/**
 * Who runs a shell session and what it runs (docs/protocol.md §17.4), decided before anything
 * is spawned so that every refusal is a clear OPEN_FAIL sentence, not a process that prints
 * an error and exits 1 (node-pty reports a failed exec that way).
 *
 * - User: absent, the agent's own; present, that account from /etc/passwd, which needs the
 *   agent to run as root unless it is the agent's own (the policy of `exec --user`, §13; the
 *   server already checked the project's run-as list).
 * - Program: argv as given (no shell); a command line through the user's shell (`SHELL -c`,
 *   as sshd does); neither, the user's login shell started with `-l` (node-pty cannot set
 *   argv[0] to "-bash", the other way to ask for a login shell; every common shell — bash,
 *   dash, zsh, ksh, busybox ash, fish — takes `-l`).
 * - Environment: a clean one like a login's, never the agent's own (it may hold the agent's
 *   settings and secrets): PATH, HOME, USER, LOGNAME, SHELL, LANG/LC_* and TZ, TERM with a PTY.
 */
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import type { ErrorCode } from "@tether/protocol";
import { agentUser, type LocalUser, lookupUid, lookupUser } from "../../local-users.js";
import type { ShellOpen } from "../../tunnels/index.js";

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
export const DEFAULT_TERM = "xterm-256color";

export interface SpawnPlan {
  /** The program, resolved to a path (execvp semantics over the session's PATH). */
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  /** Set only when the agent (root) switches to another account. */
  switchTo: LocalUser | null;
  /** Who runs it, for logs and messages. */
  userName: string;
  /** What runs, for logs: "login shell", the argv, or the command. */
  what: string;
}

export type PlanResult = { ok: true; plan: SpawnPlan } | { ok: false; code: ErrorCode; message: string };

/** What the plan reads of the host; tests give their own passwd file and identity. */
export interface PlanHost {
  passwd?: string;
  uid?: number;
  userName?: string;
  env?: NodeJS.ProcessEnv;
}

const refuse = (message: string): PlanResult => ({ ok: false, code: "TETHER_ERR_SPAWN_FAILED", message });

export function planSpawn(spec: ShellOpen, host: PlanHost = {}): PlanResult {
  const env0 = host.env ?? process.env;
  const myUid = host.uid ?? process.getuid?.() ?? -1;
  const me = host.userName ?? agentUser();
  let user: LocalUser | null;
  let switchTo: LocalUser | null = null;
  if (spec.user) {
    user = lookupUser(spec.user, host.passwd);
    if (!user) return refuse(`no user ${spec.user} on this device`);
    if (user.uid !== myUid) {
      if (myUid !== 0)
        return refuse(`the agent runs as ${me}, not as root, so it cannot start a shell as ${spec.user}`);
      switchTo = user;
    }
  } else {
    user = lookupUid(myUid, host.passwd);
  }
  const name = user?.name ?? me;
  const home = user?.home || env0.HOME || "/";
  const shell = user?.shell || env0.SHELL || "/bin/sh";
  const env: Record<string, string> = {
    PATH: env0.PATH || DEFAULT_PATH,
    HOME: home,
    USER: name,
    LOGNAME: name,
    SHELL: shell,
  };
  for (const [k, v] of Object.entries(env0))
    if (v !== undefined && (k === "LANG" || k === "TZ" || k.startsWith("LC_"))) env[k] = v;
  // A UTF-8 locale unless the device chose one: terminals are UTF-8 end to end.
  if (!env.LANG && !env.LC_ALL) env.LANG = "C.UTF-8";
  if (spec.pty) env.TERM = spec.pty.term || DEFAULT_TERM;

  if (spec.argv && spec.command !== undefined)
    return refuse("a session runs either argv or a command line, not both");
  let argv: string[];
  let what: string;
  if (spec.argv) {
    argv = spec.argv;
    what = spec.argv.join(" ");
  } else if (spec.command !== undefined) {
    argv = [shell, "-c", spec.command];
    what = spec.command;
  } else {
    argv = [shell, "-l"];
    what = "login shell";
  }
  const found = resolveProgram(argv[0], env.PATH);
  if (!found.ok) return refuse(found.message);
  return {
    ok: true,
    plan: {
      file: found.path,
      args: argv.slice(1),
      env,
      cwd: isDir(home) ? home : "/",
      switchTo,
      userName: name,
      what,
    },
  };
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** execvp's search: a name with a slash as is, else the first executable file on PATH. */
export function resolveProgram(
  file: string,
  path: string,
): { ok: true; path: string } | { ok: false; message: string } {
  if (file === "") return { ok: false, message: "an empty program name" };
  const candidates = file.includes("/") ? [file] : path.split(delimiter).map((d) => join(d || ".", file));
  let denied = false;
  for (const c of candidates) {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(c);
    } catch {
      continue;
    }
    if (!st.isFile()) continue;
    try {
      accessSync(c, constants.X_OK);
      return { ok: true, path: c };
    } catch {
      denied = true;
    }
  }
  return { ok: false, message: `${file}: ${denied ? "permission denied" : "command not found"}` };
}

/**
 * `<dataDir>/tunnels/live.json`: the shell sessions running now (docs/protocol.md §17.4), so
 * that an agent that crashed finds and ends them at its next start. Written atomically (a temp
 * file, fsynced, renamed) at every start and end of a session. Each entry keeps the leader's
 * start time and the boot it ran in, so a pid reused since then is never taken for it.
 */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { processStartTime } from "../../proc-stat.js";
import { sessionMembers } from "./session-kill.js";

export interface LiveEntry {
  /** Session id (ses_…). */
  session: string;
  /** The leader's pid: the session id of its processes. */
  sid: number;
  /** The leader's start time (/proc/PID/stat field 22). */
  start: string;
  /** /proc/sys/kernel/random/boot_id when it started; pids of another boot mean nothing. */
  boot: string | null;
}

export function bootId(): string | null {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return null;
  }
}

export class LiveRecord {
  readonly file: string;
  private entries: LiveEntry[] = [];

  constructor(dataDir: string) {
    this.file = join(dataDir, "tunnels", "live.json");
  }

  /** What the file holds (the previous run's sessions, before this run adds any). */
  load(): LiveEntry[] {
    try {
      const v: unknown = JSON.parse(readFileSync(this.file, "utf8"));
      if (Array.isArray(v)) this.entries = v.filter(isEntry);
    } catch {
      this.entries = []; // absent or unreadable (only outside hands break an atomic file)
    }
    return [...this.entries];
  }

  add(e: LiveEntry): void {
    this.entries.push(e);
    mkdirSync(join(this.file, ".."), { recursive: true, mode: 0o700 });
    this.save();
  }

  remove(sid: number): void {
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => e.sid !== sid);
    if (this.entries.length !== before) this.save();
  }

  private save(): void {
    const tmp = `${this.file}.tmp`;
    try {
      const fd = openSync(tmp, "w", 0o600);
      try {
        writeSync(fd, JSON.stringify(this.entries));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.file);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
  }
}

function isEntry(v: unknown): v is LiveEntry {
  const e = v as LiveEntry;
  return (
    typeof e === "object" &&
    e !== null &&
    typeof e.session === "string" &&
    Number.isInteger(e.sid) &&
    e.sid > 1 &&
    typeof e.start === "string" &&
    (e.boot === null || typeof e.boot === "string")
  );
}

/**
 * Whether the session of a previous run may still have processes to end. Another boot: no.
 * The leader alive with the recorded start time: yes. A process with the leader's pid but
 * another start time: the pid was reused, which Linux does only once no process is in the
 * old session any more: no. The leader gone: its members, if any (they keep the id in use).
 */
export function leftoverAlive(e: LiveEntry, boot = bootId()): boolean {
  if (e.boot !== null && boot !== null && e.boot !== boot) return false;
  const start = processStartTime(e.sid);
  if (start !== undefined) return start === e.start;
  return (sessionMembers(e.sid)?.length ?? 0) > 0;
}

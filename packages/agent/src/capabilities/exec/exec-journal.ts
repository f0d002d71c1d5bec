/**
 * The exec capability's journal slice (docs/protocol.md §8, §13): a command's life on this
 * device. "started" is on disk before the process is spawned; "pid" (with the process start
 * time, to recognise it after a crash) follows; "done" is written together with the durable
 * result. Record shapes and the `execs` member of state.json are the on-disk format.
 */
import type { JournalSlice } from "../../control/journal-slice.js";

export type ExecJournalRecord =
  | { k: "exec"; id: string; st: "started" | "done" }
  | { k: "exec"; id: string; st: "pid"; pid: number; since: string };

export interface ExecRecord {
  st: "started" | "done";
  pid?: number;
  since?: string;
}

/** Commands started on this device, in start order (Map keeps insertion order). */
export type ExecState = Map<string, ExecRecord>;

/** Finished command ids kept to refuse a re-delivered start (beyond the seen-id window). */
const DONE_EXECS_KEPT = 10_000;

export const execJournal: JournalSlice<ExecJournalRecord, ExecState> = {
  key: "execs",
  kinds: ["exec"],
  init: () => new Map(),
  apply(execs, r) {
    const cur = execs.get(r.id);
    if (r.st === "pid") {
      if (cur?.st === "started") Object.assign(cur, { pid: r.pid, since: r.since });
    } else if (r.st === "started") {
      if (!cur) execs.set(r.id, { st: "started" });
    } else {
      execs.set(r.id, { st: "done" });
    }
  },
  load(execs, saved) {
    for (const [id, r] of saved as [string, ExecRecord][]) execs.set(id, r);
  },
  /** Every started-but-unfinished command plus the newest finished ids. */
  snapshot(execs) {
    const all = [...execs.entries()];
    let drop = all.filter(([, r]) => r.st === "done").length - DONE_EXECS_KEPT;
    const kept = all.filter(([, r]) => r.st !== "done" || drop-- <= 0);
    if (kept.length < all.length) {
      execs.clear();
      for (const [id, r] of kept) execs.set(id, r);
    }
    return kept;
  },
};

/** The records, typed (field order is the on-disk order). */
export const execStarted = (id: string): ExecJournalRecord => ({ k: "exec", id, st: "started" });
export const execDone = (id: string): ExecJournalRecord => ({ k: "exec", id, st: "done" });
export const execPid = (id: string, pid: number, since: string): ExecJournalRecord => ({
  k: "exec",
  id,
  st: "pid",
  pid,
  since,
});

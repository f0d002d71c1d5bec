/**
 * The agent's durable state (docs/protocol.md §8): an append-only journal in the data
 * directory, fsynced in batches (one write and one fdatasync for every record that arrived
 * in the same turn of the event loop), replayed at start and compacted into a snapshot.
 * Holds the handshake counter, the upstream outbox and the ids of downstream messages
 * already processed, so nothing is lost or run twice across crashes; each capability adds
 * its own records and snapshot member through a journal slice (journal-slice.ts).
 */
import {
  closeSync,
  existsSync,
  fdatasync,
  fdatasyncSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
  fsyncSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import type { CoreRecord, JournalRecord, SliceRecord } from "./journal-record.js";
import type { JournalPort, JournalSlice } from "./journal-slice.js";

/** state.json: the core members first, then one member per slice (in slice order). */
interface Snapshot {
  hsCounter: string;
  nextMid: number;
  outbox: { mid: number; t: string; b: unknown }[];
  seenLow: number;
  seenAbove: number[];
  [slice: string]: unknown;
}

const CORE_KINDS: readonly string[] = ["hs", "out", "acked", "seen"] satisfies CoreRecord["k"][];
const CORE_KEYS: readonly string[] = ["hsCounter", "nextMid", "outbox", "seenLow", "seenAbove"];

const COMPACT_BYTES = 1024 * 1024;

export class Journal implements JournalPort {
  hsCounter = 0n;
  nextMid = 1;
  readonly outbox = new Map<number, { mid: number; t: string; b: unknown }>();
  seenLow = 0;
  seenAbove: number[] = [];
  /** Each slice's state, and the slice owning each record kind. */
  private readonly states = new Map<JournalSlice<any, any>, unknown>();
  private readonly owners = new Map<string, JournalSlice<any, any>>();
  private fd: number;
  private pending: { recs: JournalRecord[]; resolve: () => void; reject: (e: Error) => void }[] = [];
  private scheduled = false;
  private syncing: { resolve: () => void; reject: (e: Error) => void }[] | null = null;
  private closed = false;
  private size = 0;
  private deferred: JournalRecord[] = [];
  private readonly journalPath: string;
  private readonly snapPath: string;
  fsyncs = 0;

  /** Open (replay and compact) the journal in `dir`, with the capabilities' slices. */
  constructor(
    dir: string,
    private readonly slices: readonly JournalSlice<any, any>[] = [],
  ) {
    this.journalPath = join(dir, "journal.jsonl");
    this.snapPath = join(dir, "state.json");
    for (const slice of slices) this.register(slice);
    if (existsSync(this.snapPath)) {
      const s = JSON.parse(readFileSync(this.snapPath, "utf8")) as Snapshot;
      this.hsCounter = BigInt(s.hsCounter);
      this.nextMid = s.nextMid;
      for (const m of s.outbox) this.outbox.set(m.mid, m);
      this.seenLow = s.seenLow;
      this.seenAbove = s.seenAbove;
      for (const slice of slices) {
        const saved = s[slice.key];
        if (saved != null) slice.load(this.states.get(slice), saved); // absent: written before the slice existed
      }
    }
    if (existsSync(this.journalPath)) {
      for (const line of readFileSync(this.journalPath, "utf8").split("\n")) {
        if (!line) continue;
        let rec: JournalRecord;
        try {
          rec = JSON.parse(line);
        } catch {
          break; // a torn last line from a crash mid-write: it was never acknowledged
        }
        this.apply(rec);
      }
    }
    this.compact();
    this.fd = openSync(this.journalPath, "a", 0o600);
  }

  private register(slice: JournalSlice<any, any>): void {
    if (CORE_KEYS.includes(slice.key) || this.slices.some((o) => o !== slice && o.key === slice.key))
      throw new Error(`journal slice member ${slice.key} is taken`);
    for (const k of slice.kinds) {
      if (CORE_KINDS.includes(k) || this.owners.has(k)) throw new Error(`journal record kind ${k} is taken`);
      this.owners.set(k, slice);
    }
    this.states.set(slice, slice.init());
  }

  state<S>(slice: JournalSlice<any, S>): S {
    if (!this.states.has(slice)) throw new Error(`the journal was opened without the slice ${slice.key}`);
    return this.states.get(slice) as S;
  }

  private apply(rec: JournalRecord): void {
    const r = rec as CoreRecord;
    switch (r.k) {
      case "hs":
        if (BigInt(r.counter) > this.hsCounter) this.hsCounter = BigInt(r.counter);
        break;
      case "out":
        this.outbox.set(r.mid, { mid: r.mid, t: r.t, b: r.b });
        if (r.mid >= this.nextMid) this.nextMid = r.mid + 1;
        break;
      case "acked":
        for (const m of r.mids) this.outbox.delete(m);
        break;
      case "seen":
        this.markSeen(r.mid);
        break;
      default: {
        // A slice's record; a kind no slice owns (none today) is ignored, as before.
        const slice = this.owners.get(rec.k);
        if (slice) slice.apply(this.states.get(slice), rec as SliceRecord);
      }
    }
  }

  hasSeen(mid: number): boolean {
    return mid <= this.seenLow || this.seenAbove.includes(mid);
  }

  private markSeen(mid: number): void {
    if (this.hasSeen(mid)) return;
    this.seenAbove.push(mid);
    this.seenAbove.sort((a, b) => a - b);
    while (this.seenAbove.length && this.seenAbove[0] === this.seenLow + 1) {
      this.seenLow++;
      this.seenAbove.shift();
    }
  }

  /** Apply records in memory now and resolve once they are on disk. */
  write(recs: JournalRecord[]): Promise<void> {
    for (const r of recs) this.apply(r);
    return new Promise((resolve, reject) => {
      this.pending.push({ recs, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /**
   * Apply records now and put them on disk with the next flush, without asking for one:
   * for facts that help but need no fsync of their own (a command's pid).
   */
  later(recs: JournalRecord[]): void {
    for (const r of recs) this.apply(r);
    this.deferred.push(...recs);
  }

  /** Reserve the next upstream message id (recorded durably with the message itself). */
  allocMid(): number {
    return this.nextMid++;
  }

  /**
   * Write everything pending and fdatasync it off the event loop (so the agent keeps
   * streaming output meanwhile); one flush in flight at a time, the next batch waits.
   */
  private flush(): void {
    this.scheduled = false;
    if (this.syncing || this.closed) return;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    const deferred = this.deferred;
    this.deferred = [];
    const text =
      deferred.map((r) => `${JSON.stringify(r)}\n`).join("") +
      batch.map((b) => b.recs.map((r) => `${JSON.stringify(r)}\n`).join("")).join("");
    try {
      writeSync(this.fd, text);
    } catch (err) {
      for (const b of batch) b.reject(err as Error);
      return;
    }
    this.size += Buffer.byteLength(text);
    this.syncing = batch;
    fdatasync(this.fd, (err) => {
      this.syncing = null;
      if (this.closed) return; // close() synced it and settled the batch
      if (err) for (const b of batch) b.reject(err);
      else {
        this.fsyncs++;
        for (const b of batch) b.resolve();
      }
      this.maybeCompact();
      if (this.pending.length) this.flush();
    });
  }

  private maybeCompact(): void {
    if (this.size <= COMPACT_BYTES) return;
    try {
      closeSync(this.fd);
      this.compact();
      this.size = 0;
    } catch {
      /* compaction is an optimisation; the journal stays valid */
    } finally {
      this.fd = openSync(this.journalPath, "a", 0o600);
    }
  }

  private compact(): void {
    const snap: Snapshot = {
      hsCounter: this.hsCounter.toString(),
      nextMid: this.nextMid,
      outbox: [...this.outbox.values()],
      seenLow: this.seenLow,
      seenAbove: this.seenAbove,
    };
    for (const slice of this.slices) snap[slice.key] = slice.snapshot(this.states.get(slice));
    const tmp = `${this.snapPath}.tmp`;
    writeFileSync(tmp, JSON.stringify(snap), { mode: 0o600 });
    const fd = openSync(tmp, "r");
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.snapPath);
    writeFileSync(this.journalPath, "", { mode: 0o600 });
  }

  /** Synchronously put everything on disk (including a flush still in flight) and close. */
  close(): void {
    if (this.closed) return;
    const waiting = [...(this.syncing ?? []), ...this.pending];
    const text = [...this.deferred, ...this.pending.flatMap((b) => b.recs)]
      .map((r) => `${JSON.stringify(r)}\n`)
      .join("");
    this.pending = [];
    this.deferred = [];
    this.closed = true;
    try {
      if (text) writeSync(this.fd, text);
      fdatasyncSync(this.fd);
      this.fsyncs++;
      for (const b of waiting) b.resolve();
    } catch (err) {
      for (const b of waiting) b.reject(err as Error);
    }
    closeSync(this.fd);
  }
}

/**
 * Following files (docs/protocol.md §15, sources): literal paths and globs, re-expanded every
 * few seconds. Each file is read by its inode, so it survives
 *
 * - rotation by rename (the old inode is read to its end, its last line without \n included,
 *   then the new file at the path is followed from 0),
 * - truncation (the size shrank below what was read: start again at 0),
 * - files that do not exist yet (followed from 0 once they appear).
 *
 * A file present when it is first configured (agent start, a settings change) starts at its
 * END (an old file is not uploaded whole); one appearing later starts at 0; one with a saved
 * offset for the same inode resumes there. fs.watch on the directories wakes it at once; a
 * poll (default 500 ms: one stat per file) is the fallback, so CPU stays low when idle.
 */
import { type FSWatcher, watch } from "node:fs";
import { type FileHandle, open, readdir, realpath, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Logger } from "pino";
import { baseDir, expandGlob, hasMagic } from "./glob.js";
import { LineSplitter } from "./line.js";
import type { FileOffset, OffsetStore } from "./offsets.js";

/** A followed pattern and whether remote settings chose it (then each file must be allowed). */
export interface FollowPattern {
  pattern: string;
  remote: boolean;
}

export interface FollowerOptions {
  log: Logger;
  now: () => number;
  offsets: OffsetStore;
  maxLineBytes: number;
  /** A complete line of `src` (the followed path): its first bytes and its length. */
  onLine: (src: string, kept: Buffer, total: number, t: number) => void;
  /** May this file be read? (remote patterns: the allow-list); false is logged by the caller. */
  admit: (path: string, real: string, p: FollowPattern) => boolean;
  /** Stat poll (default 500 ms). */
  pollMs?: number;
  /** Glob re-expansion (default 2 s). */
  globMs?: number;
  /** Files followed at most. */
  maxFiles?: number;
}

const CHUNK = 256 * 1024;
/** Bytes one file may read per pass; the rest follows at once in the next pass. */
const MAX_READ_PER_PASS = 4 * CHUNK;
/** A renamed-away file whose path stays empty is finished after this long. */
const MISSING_CLOSE_MS = 5000;

type Stat = Awaited<ReturnType<typeof statBig>>;
const statBig = (p: string) => stat(p, { bigint: true });
const inodeKey = (s: { dev: bigint | string; ino: bigint | string }) => `${s.dev}:${s.ino}`;

async function statOrNull(p: string): Promise<Stat | null> {
  try {
    return await statBig(p);
  } catch {
    return null;
  }
}

/** One followed path. */
class FileTail {
  fh: FileHandle | null = null;
  dev = "";
  ino = "";
  /** Bytes read from the current inode. */
  pos = 0;
  readonly splitter: LineSplitter;
  missingSince: number | null = null;
  busy: Promise<void> | null = null;
  again = false;
  notFileWarned = false;
  lineT = 0;
  /** No inode opened yet by this tail (a saved offset of another inode: rotated while stopped). */
  private firstOpen = true;

  constructor(
    readonly path: string,
    readonly from: FollowPattern,
    /** Start at the end of a file present now (no saved offset). */
    public startAtEnd: boolean,
    private readonly f: FileFollower,
  ) {
    this.splitter = new LineSplitter(f.o.maxLineBytes, (kept, total) =>
      f.o.onLine(this.path, kept, total, this.lineT),
    );
  }

  get position(): FileOffset | null {
    return this.ino ? { dev: this.dev, ino: this.ino, offset: this.splitter.consumed } : null;
  }

  /** One pass: notice rotation/truncation, read what is new. True when more is waiting. */
  async check(): Promise<boolean> {
    const f = this.f;
    const st = await statOrNull(this.path);
    const same = st && this.fh && inodeKey(st) === `${this.dev}:${this.ino}`;
    if (this.fh && !same) {
      // Rotated (renamed away, maybe a new file already there) or deleted: read the old inode on.
      await this.readAvailable(Number.POSITIVE_INFINITY);
      const old = await this.fh.stat().catch(() => null);
      const now = f.o.now();
      this.missingSince ??= now;
      if (st || !old || old.nlink === 0 || now - this.missingSince >= MISSING_CLOSE_MS) {
        this.splitter.end(); // its last line, even without \n
        f.finished(this.dev, this.ino, this.pos);
        await this.close();
        if (st) f.o.log.info({ path: this.path }, "logs: file rotated; following the new one from its start");
      }
      if (!st || this.fh) return false;
    }
    if (!st) return false;
    this.missingSince = null;
    if (!st.isFile()) {
      if (!this.notFileWarned) f.o.log.warn({ path: this.path }, "logs: not a regular file; not followed");
      this.notFileWarned = true;
      return false;
    }
    const size = Number(st.size);
    if (!this.fh) {
      if (!(await this.openAt(st, size))) return false;
    } else if (size < this.pos) {
      f.o.log.info({ path: this.path, size, was: this.pos }, "logs: file truncated; reading from its start");
      this.pos = 0;
      this.splitter.reset(0);
    }
    if (size > this.pos) return this.readAvailable(MAX_READ_PER_PASS);
    return false;
  }

  private async openAt(st: Stat, size: number): Promise<boolean> {
    const f = this.f;
    const key = inodeKey(st);
    if (f.openInode(key, this)) return false; // another path follows this inode (renamed into a glob)
    const real = await realpath(this.path).catch(() => this.path);
    if (!f.o.admit(this.path, real, this.from)) return false;
    try {
      this.fh = await open(this.path, "r");
    } catch (err) {
      f.warnOnce(
        `open:${this.path}`,
        { path: this.path, err: (err as Error).message },
        "logs: cannot open file",
      );
      return false;
    }
    this.dev = String(st.dev);
    this.ino = String(st.ino);
    const saved = f.o.offsets.get(this.path);
    const finished = f.finishedAt(key);
    let start: number;
    if (saved && saved.dev === this.dev && saved.ino === this.ino)
      start = saved.offset <= size ? saved.offset : 0;
    else if (finished !== undefined) start = finished <= size ? finished : 0;
    else {
      const savedKey = saved ? `${saved.dev}:${saved.ino}` : "";
      if (saved && this.firstOpen && f.finishedAt(savedKey) === undefined && !f.inodes.has(savedKey))
        await f.finishRotatedWhileDown(this.path, saved);
      start = this.startAtEnd && !saved ? size : 0;
    }
    this.startAtEnd = false;
    this.firstOpen = false;
    this.pos = start;
    this.splitter.reset(start);
    f.inodes.set(key, this);
    return true;
  }

  /** Read up to `max` bytes of what the file holds now. True when more is waiting. */
  private async readAvailable(max: number): Promise<boolean> {
    const fh = this.fh;
    if (!fh) return false;
    const buf = Buffer.allocUnsafe(CHUNK);
    let read = 0;
    while (read < max) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, this.pos);
      if (bytesRead === 0) return false;
      this.lineT = this.f.o.now();
      this.pos += bytesRead;
      read += bytesRead;
      this.splitter.push(buf.subarray(0, bytesRead));
    }
    return true;
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    if (this.ino) this.f.inodes.delete(`${this.dev}:${this.ino}`);
    this.dev = this.ino = "";
    this.pos = 0;
    this.splitter.reset(0);
    await fh?.close().catch(() => {});
  }
}

export class FileFollower {
  private readonly tails = new Map<string, FileTail>();
  private patterns: FollowPattern[] = [];
  private readonly watchers = new Map<string, FSWatcher>();
  /** Inodes being read, by any path (a file renamed into a glob is not read twice). */
  readonly inodes = new Map<string, FileTail>();
  /** Inodes finished lately (rotated away) and where they ended: a later match resumes there. */
  private readonly finishedInodes = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private soon: NodeJS.Timeout | null = null;
  private lastGlob = 0;
  private running = false;
  private passing: Promise<void> | null = null;
  private rerun = false;
  private readonly warned = new Map<string, number>();
  private readonly pollMs: number;
  private readonly globMs: number;
  private readonly maxFiles: number;

  constructor(readonly o: FollowerOptions) {
    this.pollMs = o.pollMs ?? 500;
    this.globMs = o.globMs ?? 2000;
    this.maxFiles = o.maxFiles ?? 256;
  }

  /** The paths followed now (tests, status). */
  get files(): string[] {
    return [...this.tails.keys()];
  }

  /** Positions of the open files, for offsets.json. */
  positions(): Record<string, FileOffset> {
    const out: Record<string, FileOffset> = {};
    for (const [p, t] of this.tails) {
      const pos = t.position;
      if (pos) out[p] = pos;
    }
    return out;
  }

  /**
   * The patterns to follow (at start and on every settings change). Files present now and
   * new to the follower start at their end; patterns no longer listed stop being followed.
   */
  async set(patterns: FollowPattern[]): Promise<void> {
    this.patterns = patterns;
    await this.pass(true);
    this.rewatch();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const tick = () => {
      this.timer = setTimeout(() => {
        void this.pass(false).finally(() => {
          if (this.running) tick();
        });
      }, this.pollMs);
      this.timer.unref();
    };
    tick();
  }

  /** Stop: no more passes; `beforeClose` runs once the last pass is done, before the files close. */
  async stop(beforeClose?: () => void): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    if (this.soon) clearTimeout(this.soon);
    this.timer = this.soon = null;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    await this.passing;
    beforeClose?.();
    for (const t of this.tails.values()) await t.close();
    this.tails.clear();
  }

  /** Run a pass now (tests; fs.watch events). Resolves when it is done. */
  async poke(): Promise<void> {
    await this.pass(false);
  }

  warnOnce(key: string, obj: object, msg: string): void {
    const now = this.o.now();
    const last = this.warned.get(key);
    if (last !== undefined && now - last < 60_000) return;
    if (this.warned.size > 1000) this.warned.clear();
    this.warned.set(key, now);
    this.o.log.warn(obj, msg);
  }

  /** True when another tail already reads this inode. */
  openInode(key: string, tail: FileTail): boolean {
    const other = this.inodes.get(key);
    return !!other && other !== tail;
  }

  finished(dev: string, ino: string, at: number): void {
    const key = `${dev}:${ino}`;
    this.finishedInodes.delete(key);
    this.finishedInodes.set(key, at);
    if (this.finishedInodes.size > 1000) {
      const first = this.finishedInodes.keys().next().value;
      if (first !== undefined) this.finishedInodes.delete(first);
    }
  }

  finishedAt(key: string): number | undefined {
    return this.finishedInodes.get(key);
  }

  /**
   * The path holds another file than the saved offset's: it was rotated while the agent was
   * down. The old inode, if still in the same directory (app.log.1), is read from the saved
   * offset to its end first, as lines of `path`.
   */
  async finishRotatedWhileDown(path: string, saved: FileOffset): Promise<void> {
    const dir = dirname(path);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return;
    }
    for (const n of names.slice(0, 1000)) {
      const p = join(dir, n);
      const st = await statOrNull(p);
      if (!st || String(st.dev) !== saved.dev || String(st.ino) !== saved.ino || !st.isFile()) continue;
      if (Number(st.size) <= saved.offset) return;
      const fh = await open(p, "r").catch(() => null);
      if (!fh) return;
      try {
        const splitter = new LineSplitter(this.o.maxLineBytes, (kept, total) =>
          this.o.onLine(path, kept, total, this.o.now()),
        );
        splitter.reset(saved.offset);
        const buf = Buffer.allocUnsafe(CHUNK);
        let pos = saved.offset;
        for (;;) {
          const { bytesRead } = await fh.read(buf, 0, CHUNK, pos);
          if (bytesRead === 0) break;
          pos += bytesRead;
          splitter.push(buf.subarray(0, bytesRead));
        }
        splitter.end();
        this.finished(saved.dev, saved.ino, pos);
        this.o.log.info({ path, rotated: p }, "logs: finished a file rotated while the agent was stopped");
      } finally {
        await fh.close().catch(() => {});
      }
      return;
    }
  }

  private pass(configure: boolean): Promise<void> {
    if (this.passing) {
      // One pass at a time; a request during one runs once more after it (a configure one too).
      this.rerun = true;
      if (configure) return this.passing.then(() => this.pass(true));
      return this.passing;
    }
    this.passing = this.runPass(configure).finally(() => {
      this.passing = null;
      if (this.rerun && this.running) {
        this.rerun = false;
        this.kick();
      }
    });
    return this.passing;
  }

  private async runPass(configure: boolean): Promise<void> {
    const now = this.o.now();
    if (configure || now - this.lastGlob >= this.globMs) {
      this.lastGlob = now;
      await this.expand(configure);
      if (!configure && this.running) this.rewatch(); // a directory that appeared since
    }
    let more = false;
    await Promise.all(
      [...this.tails.values()].map(async (t) => {
        try {
          if (await t.check()) more = true;
        } catch (err) {
          this.warnOnce(
            `read:${t.path}`,
            { path: t.path, err: (err as Error).message },
            "logs: cannot read file",
          );
        }
      }),
    );
    if (more) this.rerun = true;
  }

  /** The concrete paths the patterns name now; new ones get a tail, gone ones are dropped. */
  private async expand(configure: boolean): Promise<void> {
    const want = new Map<string, FollowPattern>();
    for (const p of this.patterns) {
      const paths = hasMagic(p.pattern) ? expandGlob(p.pattern, this.maxFiles) : [p.pattern];
      for (const path of paths) if (!want.has(path)) want.set(path, p);
    }
    for (const [path, t] of this.tails) {
      // A file no longer named: keep it while it is mid-rotation (open, path gone), else drop it.
      const from = want.get(path);
      if (from && from.remote === t.from.remote) continue;
      if (from || !t.fh || (await statOrNull(path))) {
        await t.close();
        this.tails.delete(path);
      }
    }
    for (const [path, p] of want) {
      if (this.tails.has(path)) continue;
      if (this.tails.size >= this.maxFiles) {
        this.warnOnce(
          "max-files",
          { max: this.maxFiles },
          `logs: following at most ${this.maxFiles} files; more are not followed`,
        );
        break;
      }
      // Present now and configured now: from its end. Appearing later: from 0.
      const exists = configure && (await statOrNull(path)) !== null;
      this.tails.set(path, new FileTail(path, p, exists, this));
    }
  }

  private kick(): void {
    if (this.soon || !this.running) return;
    this.soon = setTimeout(() => {
      this.soon = null;
      void this.pass(false);
    }, 10);
    this.soon.unref();
  }

  private rewatch(): void {
    const dirs = new Set<string>();
    for (const p of this.patterns) dirs.add(hasMagic(p.pattern) ? baseDir(p.pattern) : dirname(p.pattern));
    for (const [d, w] of this.watchers) {
      if (!dirs.has(d)) {
        w.close();
        this.watchers.delete(d);
      }
    }
    for (const d of dirs) {
      if (this.watchers.has(d) || this.watchers.size >= 64) continue;
      try {
        const w = watch(d, { persistent: false }, () => this.kick());
        w.on("error", () => {
          w.close();
          this.watchers.delete(d);
        });
        this.watchers.set(d, w);
      } catch {
        // The directory does not exist (yet): the poll notices the file when it appears.
      }
    }
  }
}

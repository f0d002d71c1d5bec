/**
 * Where each followed file was read up to, and the journal's cursor, kept durably in
 * `<data>/logs/offsets.json` (temp file, fsync, rename) so a restart resumes where the last
 * sealed batch ended: no line lost, none sent twice — best effort: the offsets are saved right
 * after the batch is sealed, so a crash between the two re-reads those lines once.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** A file's identity (device and inode, as decimal strings: inodes may exceed 2^53) and offset. */
export interface FileOffset {
  dev: string;
  ino: string;
  offset: number;
}

export interface SavedOffsets {
  files: Record<string, FileOffset>;
  journalCursor?: string;
}

/** Entries kept at most (files followed long ago are forgotten first). */
const MAX_ENTRIES = 2000;

export class OffsetStore {
  private readonly file: string;
  private saved: SavedOffsets = { files: {} };
  private lastJson = "";

  constructor(
    dir: string | null,
    private readonly warn: (msg: string, err: unknown) => void,
  ) {
    this.file = dir ? join(dir, "logs", "offsets.json") : "";
    if (!this.file) return;
    try {
      const raw = JSON.parse(readFileSync(this.file, "utf8")) as Partial<SavedOffsets>;
      const files: Record<string, FileOffset> = {};
      for (const [p, o] of Object.entries(raw.files ?? {})) {
        if (
          o &&
          typeof o.dev === "string" &&
          typeof o.ino === "string" &&
          Number.isSafeInteger(o.offset) &&
          o.offset >= 0
        )
          files[p] = { dev: o.dev, ino: o.ino, offset: o.offset };
      }
      this.saved = { files };
      if (typeof raw.journalCursor === "string") this.saved.journalCursor = raw.journalCursor;
      this.lastJson = JSON.stringify(this.saved);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT")
        warn("logs: offsets.json unreadable; files start at their end", err);
    }
  }

  get(path: string): FileOffset | undefined {
    return this.saved.files[path];
  }

  get journalCursor(): string | undefined {
    return this.saved.journalCursor;
  }

  /** Merge in the current positions and write them if anything changed. */
  save(files: Record<string, FileOffset>, journalCursor: string | undefined): void {
    const merged: Record<string, FileOffset> = { ...this.saved.files, ...files };
    const keys = Object.keys(merged);
    if (keys.length > MAX_ENTRIES) {
      // Keep the current ones; drop the oldest others.
      for (const k of keys.slice(0, keys.length - MAX_ENTRIES)) if (!(k in files)) delete merged[k];
    }
    const next: SavedOffsets = { files: merged };
    const cursor = journalCursor ?? this.saved.journalCursor;
    if (cursor) next.journalCursor = cursor;
    const json = JSON.stringify(next);
    this.saved = next;
    if (!this.file || json === this.lastJson) return;
    try {
      mkdirSync(join(this.file, ".."), { recursive: true, mode: 0o700 });
      const tmp = `${this.file}.tmp`;
      writeFileSync(tmp, json, { mode: 0o600 });
      const fd = openSync(tmp, "r");
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.file);
      this.lastJson = json;
    } catch (err) {
      this.warn("logs: offsets.json not written (a restart may re-send some lines)", err);
    }
  }
}

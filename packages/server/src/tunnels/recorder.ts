/**
 * Session recording as asciicast v2 (docs/protocol.md §17.7; https://docs.asciinema.org/manual/asciicast/v2/):
 * a JSON header line, then one `[seconds, "o", text]` line per output chunk and `[seconds, "r",
 * "COLSxROWS"]` per resize, so Debian's `asciinema play`/`cat` replays it. Only the device's
 * output is recorded (what the terminal showed, which includes echoed input: the file is
 * operator-only). Bounded: one file per session capped at maxBytes (a last line says the cap bit),
 * and pruneRecordings keeps a project's recordings under a total.
 */
import {
  closeSync,
  createReadStream,
  createWriteStream,
  mkdirSync,
  openSync,
  type WriteStream,
} from "node:fs";
import { readdir, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { SESSION_ID_PATTERN } from "@tether/protocol";
import type { Logger } from "pino";

export interface Recorder {
  /** Output from the device (PTY bytes); split UTF-8 characters are joined across calls. */
  output(data: Uint8Array): void;
  resize(cols: number, rows: number): void;
  /** Flush and close the file (idempotent). */
  close(): Promise<void>;
}

export interface RecordingOptions {
  dataDir: string;
  projectId: number;
  sessionId: string;
  cols: number;
  rows: number;
  /** TERM on the device. */
  term: string;
  /** The shell, when known (header env.SHELL). */
  shell?: string;
  /** Most bytes in the file; then one last line says recording stopped. */
  maxBytes: number;
  log: Logger;
  /** ms since the epoch (tests). */
  clock?: () => number;
}

/** Lines are gathered and written together: at most this many bytes or this long apart. */
const FLUSH_BYTES = 64 * 1024;
const FLUSH_MS = 200;
const MIB = 1024 * 1024;
/** Room kept under the cap for the line that says recording stopped. */
const NOTICE_RESERVE = 128;
const ID = new RegExp(SESSION_ID_PATTERN);

/** Recordings being written now (pruning must not delete them). */
const active = new Set<string>();

export const recordingsDir = (dataDir: string, projectId: number): string =>
  join(dataDir, "recordings", String(Math.floor(projectId)));

function recordingPath(dataDir: string, projectId: number, sessionId: string): string {
  // The id names a file: only the exact session id shape, never a path.
  if (!ID.test(sessionId)) throw new Error(`not a session id: ${JSON.stringify(sessionId)}`);
  return join(recordingsDir(dataDir, projectId), `${sessionId}.cast`);
}

const size = (n: number) =>
  n >= MIB ? `${Number((n / MIB).toFixed(2))} MiB` : `${Math.max(1, Math.round(n / 1024))} KiB`;

export function startRecording(o: RecordingOptions): Recorder {
  const clock = o.clock ?? Date.now;
  const t0 = clock();
  const path = recordingPath(o.dataDir, o.projectId, o.sessionId);
  mkdirSync(recordingsDir(o.dataDir, o.projectId), { recursive: true, mode: 0o700 });
  // Opened here, synchronously: a failure (disk, an id already recorded) is the caller's at once.
  const file: WriteStream = createWriteStream("", { fd: openSync(path, "wx", 0o600) });
  active.add(path);
  const decoder = new TextDecoder("utf-8");
  let pending: string[] = [];
  let pendingBytes = 0;
  let written = 0;
  let stopped = false;
  let closed: Promise<void> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let failed = false;
  /** Seconds since the start, as asciicast times are. */
  const at = () => Number(Math.max(0, (clock() - t0) / 1000).toFixed(6));
  file.on("error", (err) => {
    if (!failed) o.log.error({ err, session: o.sessionId }, "recording: cannot write; recording stopped");
    failed = true;
    stopped = true;
  });

  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    const out = pending.join("");
    pending = [];
    pendingBytes = 0;
    if (out && !failed) file.write(out);
  };
  /** Queue one line; false once the cap is reached (the line is then the cap notice instead). */
  const line = (l: string): boolean => {
    if (stopped) return false;
    const s = `${l}\n`;
    const n = Buffer.byteLength(s);
    if (written + n + NOTICE_RESERVE > o.maxBytes) {
      stopped = true;
      const notice = `${JSON.stringify([at(), "o", `\r\n[recording stopped: ${size(o.maxBytes)} limit]\r\n`])}\n`;
      pending.push(notice);
      written += Buffer.byteLength(notice);
      o.log.info({ session: o.sessionId, maxBytes: o.maxBytes }, "recording: size limit reached; stopped");
      flush();
      return false;
    }
    pending.push(s);
    pendingBytes += n;
    written += n;
    if (pendingBytes >= FLUSH_BYTES) flush();
    else if (!timer) timer = setTimeout(flush, FLUSH_MS).unref();
    return true;
  };
  const env: Record<string, string> = { TERM: o.term };
  if (o.shell) env.SHELL = o.shell;
  // The header is always written, whatever the cap, so the file stays playable.
  const header = `${JSON.stringify({
    version: 2,
    width: o.cols,
    height: o.rows,
    timestamp: Math.floor(t0 / 1000),
    env,
  })}\n`;
  pending.push(header);
  pendingBytes += header.length;
  written += Buffer.byteLength(header);

  return {
    output(data) {
      if (stopped) return;
      const text = decoder.decode(data, { stream: true });
      if (text) line(JSON.stringify([at(), "o", text]));
    },
    resize(cols, rows) {
      line(JSON.stringify([at(), "r", `${cols}x${rows}`]));
    },
    close() {
      if (closed) return closed;
      const rest = decoder.decode();
      if (rest) line(JSON.stringify([at(), "o", rest]));
      stopped = true;
      flush();
      closed = new Promise<void>((resolve) => {
        file.end(() => resolve());
        file.once("error", () => resolve());
      }).finally(() => active.delete(path));
      return closed;
    },
  };
}

/** The recording as a stream, or undefined when the session was not recorded (or it was pruned). */
export function openRecording(dataDir: string, projectId: number, sessionId: string): Readable | undefined {
  if (!ID.test(sessionId)) return undefined;
  let fd: number;
  try {
    fd = openSync(recordingPath(dataDir, projectId, sessionId), "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    return createReadStream("", { fd, autoClose: true });
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** Delete the project's oldest finished recordings until the rest fit in keepBytes. */
export async function pruneRecordings(dataDir: string, projectId: number, keepBytes: number): Promise<void> {
  const dir = recordingsDir(dataDir, projectId);
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith(".cast"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  const files: { path: string; size: number; mtime: number }[] = [];
  for (const n of names) {
    const path = join(dir, n);
    const s = await stat(path).catch(() => undefined);
    if (s?.isFile()) files.push({ path, size: s.size, mtime: s.mtimeMs });
  }
  let total = files.reduce((a, f) => a + f.size, 0);
  files.sort((a, b) => a.mtime - b.mtime || a.path.localeCompare(b.path));
  for (const f of files) {
    if (total <= keepBytes) break;
    if (active.has(f.path)) continue;
    await unlink(f.path).catch(() => {});
    total -= f.size;
  }
}

/**
 * Atomic, durable file writes for the telemetry buffer (docs/protocol.md §14.4): a temp file,
 * fsynced, renamed over the target, the directory fsynced, so a crash leaves the old file or
 * the new one, never half of one. The raw write is injectable: tests make it fail like a full
 * disk (ENOSPC) or a dying card (EIO).
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/** The buffer's file I/O that may fail for lack of space; everything else is plain node:fs. */
export interface BufferIo {
  writeFile(path: string, data: Uint8Array | string): void;
}

export const defaultIo: BufferIo = {
  writeFile: (path, data) => writeFileSync(path, data, { mode: 0o600 }),
};

function fsyncPath(path: string, flags: string): void {
  const fd = openSync(path, flags);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Write `data` to `path` atomically and durably; on failure no temp file is left behind. */
export function writeDurable(io: BufferIo, path: string, data: Uint8Array | string): void {
  const tmp = `${path}.tmp`;
  try {
    io.writeFile(tmp, data);
    fsyncPath(tmp, "r");
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  try {
    fsyncPath(dirname(path), "r");
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  }
}

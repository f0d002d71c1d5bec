/**
 * Command output on disk, not in memory (docs/protocol.md §13): one file per command,
 * device and stream under DATA/spool/. The file size is the acknowledged offset, so after
 * a server restart the credit the agent gets back is exactly what was stored.
 */
import { type FileHandle, mkdir, open, rm, stat } from "node:fs/promises";
import { join } from "node:path";

export type StreamName = "stdout" | "stderr";

interface OpenFile {
  fh?: FileHandle;
  size: number;
}

export class Spool {
  private readonly files = new Map<string, OpenFile>();

  constructor(private readonly dir: string) {}

  private path(cmd: string, device: string, stream: StreamName): string {
    return join(this.dir, cmd, `${device}.${stream}`);
  }

  private async entry(cmd: string, device: string, stream: StreamName): Promise<OpenFile> {
    const key = `${cmd}/${device}/${stream}`;
    let f = this.files.get(key);
    if (!f) {
      let size = 0;
      try {
        size = (await stat(this.path(cmd, device, stream))).size;
      } catch {}
      f = this.files.get(key) ?? { size };
      this.files.set(key, f);
    }
    return f;
  }

  async size(cmd: string, device: string, stream: StreamName): Promise<number> {
    return (await this.entry(cmd, device, stream)).size;
  }

  /**
   * Append bytes that start at offset `size` (the caller has checked). Callers for one
   * device are serialised by the control channel's per-device order.
   */
  async append(cmd: string, device: string, stream: StreamName, data: Buffer): Promise<number> {
    const f = await this.entry(cmd, device, stream);
    if (!f.fh) {
      await mkdir(join(this.dir, cmd), { recursive: true, mode: 0o700 });
      f.fh = await open(this.path(cmd, device, stream), "a", 0o600);
    }
    await f.fh.write(data);
    f.size += data.length;
    return f.size;
  }

  /** The run is final: close its files and forget the sizes (they are on disk). */
  async close(cmd: string, device: string): Promise<void> {
    for (const stream of ["stdout", "stderr"] as const) {
      const key = `${cmd}/${device}/${stream}`;
      const f = this.files.get(key);
      this.files.delete(key);
      await f?.fh?.close().catch(() => {});
    }
  }

  /**
   * At most `max` bytes from `offset`, and the stream's size now: what the readers of stored
   * output hold in memory at once is one such range, never a whole file.
   */
  async readRange(
    cmd: string,
    device: string,
    stream: StreamName,
    offset: number,
    max: number,
  ): Promise<{ data: Buffer; size: number }> {
    let fh: FileHandle;
    try {
      fh = await open(this.path(cmd, device, stream), "r");
    } catch {
      return { data: Buffer.alloc(0), size: 0 };
    }
    try {
      const size = (await fh.stat()).size;
      const n = Math.max(0, Math.min(max, size - offset));
      const buf = Buffer.allocUnsafe(n);
      let got = 0;
      while (got < n) {
        const { bytesRead } = await fh.read(buf, got, n - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return { data: buf.subarray(0, got), size: Math.max(size, offset + got) };
    } finally {
      await fh.close().catch(() => {});
    }
  }

  async remove(cmd: string): Promise<void> {
    for (const key of [...this.files.keys()]) if (key.startsWith(`${cmd}/`)) this.files.delete(key);
    await rm(join(this.dir, cmd), { recursive: true, force: true });
  }

  async closeAll(): Promise<void> {
    for (const f of this.files.values()) await f.fh?.close().catch(() => {});
    this.files.clear();
  }
}

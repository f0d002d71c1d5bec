/**
 * The file operations the config capability uses, injectable so tests can make a disk full
 * (ENOSPC) or failing (EIO) in the middle of an apply. Defaults: node:fs/promises.
 */
import { createReadStream } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import { createHash } from "node:crypto";

export interface ConfigFs {
  /** Write a whole file (mode 0600) and fsync it. */
  writeFile(path: string, data: Buffer | string): Promise<void>;
  /** fsync a file that was written elsewhere (a download). */
  fsyncFile(path: string): Promise<void>;
  readFile(path: string): Promise<Buffer>;
  rename(from: string, to: string): Promise<void>;
  /** mkdir -p. */
  mkdir(path: string): Promise<void>;
  /** rm -rf. */
  rm(path: string): Promise<void>;
  /** fsync a directory (a rename in it is durable). */
  fsyncDir(path: string): Promise<void>;
  /** SHA-256 of a file, hex (streamed). */
  hashFile(path: string): Promise<string>;
  /** Size, mtime and inode, or null when it does not exist. */
  stat(path: string): Promise<{ size: number; mtimeMs: number; ino: number } | null>;
}

async function fsyncPath(path: string, flags: string): Promise<void> {
  const fh = await open(path, flags);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export const nodeConfigFs: ConfigFs = {
  async writeFile(path, data) {
    const fh = await open(path, "w", 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
  fsyncFile: (path) => fsyncPath(path, "r"),
  readFile: (path) => readFile(path),
  rename: (from, to) => rename(from, to),
  mkdir: async (path) => {
    await mkdir(path, { recursive: true, mode: 0o700 });
  },
  rm: (path) => rm(path, { recursive: true, force: true }),
  fsyncDir: (path) => fsyncPath(path, "r"),
  hashFile: (path) =>
    new Promise((resolve, reject) => {
      const h = createHash("sha256");
      createReadStream(path)
        .on("data", (c) => h.update(c))
        .on("error", reject)
        .on("end", () => resolve(h.digest("hex")));
    }),
  async stat(path) {
    try {
      const s = await stat(path);
      return { size: s.size, mtimeMs: s.mtimeMs, ino: s.ino };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
  },
};

/**
 * What a system collector is (docs/protocol.md §14, system metrics): a small function over the
 * configurable roots that reads a few small files and returns samples. A collector keeps its
 * previous reading (rates, percentages) in its own closure.
 */
import { readFileSync, statfsSync } from "node:fs";
import { join } from "node:path";
import type { Sample } from "../sample.js";

/** What statfs tells about one mount (bytes = blocks × bsize); injectable for fixture trees. */
export interface FsStats {
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
}
export type Statfs = (path: string) => FsStats;

export const realStatfs: Statfs = (path) => statfsSync(path);

export interface CollectContext {
  procRoot: string;
  sysRoot: string;
  statfs: Statfs;
  /** Device-clock ms of this collection. */
  now: number;
}

export interface Collector {
  readonly name: string;
  collect(ctx: CollectContext): Sample[];
}

/** A whole small file under a root ("/proc", "stat"). */
export const readUnder = (root: string, ...parts: string[]): string =>
  readFileSync(join(root, ...parts), "utf8");

/** A file that may be absent or unreadable (sysfs attributes often are): undefined then. */
export function tryRead(root: string, ...parts: string[]): string | undefined {
  try {
    return readUnder(root, ...parts).trim();
  } catch {
    return undefined;
  }
}

/** A numeric sysfs attribute, or undefined. */
export function tryNumber(root: string, ...parts: string[]): number | undefined {
  const s = tryRead(root, ...parts);
  if (s === undefined || s === "") return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

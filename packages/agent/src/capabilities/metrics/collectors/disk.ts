/**
 * Disk usage per mount (/proc/mounts filtered to real filesystems, then statfs) and disk I/O
 * per whole disk (/proc/diskstats; partitions skipped: the disk already counts them).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { counter, gauge, round, type Sample } from "../sample.js";
import { type Collector, readUnder } from "./collector.js";

/** Filesystems that hold data; pseudo filesystems (proc, tmpfs, cgroup, ...) are left out. */
const REAL_FS = new Set([
  "ext2",
  "ext3",
  "ext4",
  "xfs",
  "btrfs",
  "vfat",
  "exfat",
  "f2fs",
  "zfs",
  "ntfs",
  "ntfs3",
  "jfs",
  "reiserfs",
  "nilfs2",
  "bcachefs",
  "squashfs",
  "erofs",
  "fuseblk",
  "hfsplus",
  "ubifs",
  "jffs2",
]);

/** /proc/mounts escapes space, tab, newline and backslash as octal (`\040`). */
const unescapeMount = (s: string) =>
  s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export interface Mount {
  device: string;
  mount: string;
  fstype: string;
}

export function parseMounts(text: string): Mount[] {
  const seen = new Set<string>();
  const out: Mount[] = [];
  for (const line of text.split("\n")) {
    const [device, mp, fstype] = line.split(" ");
    if (!device || !mp || !fstype) continue;
    const mount = unescapeMount(mp);
    // An overlay root (read-only root images on robots) counts; other overlays are containers'.
    const real = REAL_FS.has(fstype) || (fstype === "overlay" && mount === "/");
    if (!real || seen.has(mount)) continue;
    seen.add(mount);
    out.push({ device, mount, fstype });
  }
  return out;
}

export function diskUsageCollector(): Collector {
  return {
    name: "disk-usage",
    collect({ procRoot, statfs }) {
      const out: Sample[] = [];
      for (const { mount } of parseMounts(readUnder(procRoot, "mounts"))) {
        let s: ReturnType<typeof statfs>;
        try {
          s = statfs(mount);
        } catch {
          continue; // unmounted meanwhile, or not ours to read
        }
        if (!s.blocks) continue;
        const total = s.blocks * s.bsize;
        const used = (s.blocks - s.bfree) * s.bsize;
        // Like df: the share of what non-root users can use (reserved blocks excluded).
        const usable = used + s.bavail * s.bsize;
        const labels = { mount };
        out.push(gauge("disk_total_bytes", total, labels));
        out.push(gauge("disk_used_bytes", used, labels));
        out.push(gauge("disk_used_percent", usable ? round((used / usable) * 100, 2) : 0, labels));
      }
      return out;
    },
  };
}

/** Whole disks: listed in /sys/block (partitions are not); else a name heuristic. */
function wholeDisk(sysRoot: string, name: string, sysBlock: boolean): boolean {
  if (/^(loop|ram|zram|fd|sr)\d/.test(name)) return false;
  if (sysBlock) return existsSync(join(sysRoot, "block", name.replace(/\//g, "!")));
  return !/^(sd[a-z]+|vd[a-z]+|xvd[a-z]+|hd[a-z]+)\d+$/.test(name) && !/(mmcblk|nvme\d+n)\d+p\d+$/.test(name);
}

export function diskIoCollector(): Collector {
  return {
    name: "disk-io",
    collect({ procRoot, sysRoot }) {
      const sysBlock = existsSync(join(sysRoot, "block"));
      const out: Sample[] = [];
      for (const line of readUnder(procRoot, "diskstats").split("\n")) {
        const f = line.trim().split(/\s+/);
        if (f.length < 10) continue;
        const device = f[2]!;
        if (!wholeDisk(sysRoot, device, sysBlock)) continue;
        const [reads, sectorsRead, writes, sectorsWritten] = [f[3], f[5], f[7], f[9]].map(Number);
        const labels = { disk: device };
        // Sectors in /proc/diskstats are always 512 bytes, whatever the device's sector size.
        out.push(counter("disk_reads_total", reads!, labels));
        out.push(counter("disk_read_bytes_total", sectorsRead! * 512, labels));
        out.push(counter("disk_writes_total", writes!, labels));
        out.push(counter("disk_written_bytes_total", sectorsWritten! * 512, labels));
      }
      return out;
    },
  };
}

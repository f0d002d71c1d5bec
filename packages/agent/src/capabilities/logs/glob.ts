/**
 * A small glob for log paths (Node 20 has no fs.glob): absolute paths whose components may
 * hold `*` (any characters but `/`) and `?` (one character). `**` is not supported (refused
 * when the pattern is parsed). Matching is on normalised paths, so `..` cannot step out of a
 * pattern: `/var/log/app/../../../etc/shadow` is `/etc/shadow` before it is matched.
 */
import { readdirSync, statSync } from "node:fs";
import { isAbsolute, join, normalize, resolve, sep } from "node:path";

export const hasMagic = (s: string): boolean => /[*?]/.test(s);

/** Why a pattern is unusable, or null. */
export function patternProblem(p: string): string | null {
  if (typeof p !== "string" || p.trim() === "") return "expected a file path or glob";
  if (p.length > 512) return "longer than 512 characters";
  if (p.includes("\0")) return "contains a NUL character";
  if (p.includes("**")) return "`**` is not supported (use `*` per directory level)";
  if (/[[\]{}]/.test(p)) return "only `*` and `?` are supported in a glob";
  return null;
}

/** An absolute, normalised pattern (relative ones are resolved against `cwd`). */
export function absolutePattern(p: string, cwd = process.cwd()): string {
  const abs = isAbsolute(p) ? p : resolve(cwd, p);
  const n = normalize(abs);
  return n.length > 1 && n.endsWith(sep) ? n.slice(0, -1) : n;
}

const compiled = new Map<string, RegExp>();

function componentRe(c: string): RegExp {
  let re = compiled.get(c);
  if (!re) {
    const body = c
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, "[^/]*")
      .replace(/\?/g, "[^/]");
    re = new RegExp(`^${body}$`);
    if (compiled.size > 1000) compiled.clear();
    compiled.set(c, re);
  }
  return re;
}

/** Does the absolute path match the absolute pattern (component by component)? */
export function globMatch(pattern: string, path: string): boolean {
  const p = normalize(pattern).split("/");
  const f = normalize(path).split("/");
  if (p.length !== f.length) return false;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === f[i]) continue;
    if (!hasMagic(p[i]!) || !componentRe(p[i]!).test(f[i]!)) return false;
  }
  return true;
}

/**
 * The regular files the pattern names now, at most `max`, sorted. Hidden files match only a
 * component that starts with `.` itself. A directory that cannot be read matches nothing.
 */
export function expandGlob(pattern: string, max = 1000): string[] {
  const comps = normalize(pattern).split("/").slice(1);
  let dirs = ["/"];
  for (let i = 0; i < comps.length; i++) {
    const c = comps[i]!;
    const last = i === comps.length - 1;
    const next: string[] = [];
    for (const d of dirs) {
      if (!hasMagic(c)) {
        next.push(join(d, c));
        continue;
      }
      let names: string[];
      try {
        names = readdirSync(d);
      } catch {
        continue;
      }
      const re = componentRe(c);
      for (const n of names.sort()) {
        if (n.startsWith(".") && !c.startsWith(".")) continue;
        if (re.test(n)) next.push(join(d, n));
        if (next.length >= max * 4) break;
      }
    }
    dirs = next;
    if (!last) dirs = dirs.filter(isDir);
  }
  return dirs.filter(isFile).slice(0, max);
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** The deepest directory of a pattern without wildcards (what fs.watch watches). */
export function baseDir(pattern: string): string {
  const comps = normalize(pattern).split("/");
  const i = comps.findIndex((c) => hasMagic(c));
  const upto = i < 0 ? comps.length - 1 : i;
  return comps.slice(0, upto).join("/") || "/";
}

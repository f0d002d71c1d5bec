/** Parsing helpers for command-line arguments (pure; unit-tested). */
import { CliError, EXIT } from "./io.js";

const LABEL_KEY = /^[A-Za-z0-9._/-]{1,63}$/;

const usage = (m: string) => new CliError(m, EXIT.usage);

/**
 * Parse label arguments: "k=v" sets k, "k-" removes k (value null).
 * With allowRemove false (e.g. token labels), "k-" is an error.
 */
export function parseLabels(args: string[], allowRemove = true): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const a of args) {
    const eq = a.indexOf("=");
    if (eq === -1) {
      if (allowRemove && a.endsWith("-") && LABEL_KEY.test(a.slice(0, -1))) {
        out[a.slice(0, -1)] = null;
        continue;
      }
      throw usage(`bad label ${JSON.stringify(a)}: use key=value${allowRemove ? " or key- to remove" : ""}`);
    }
    const k = a.slice(0, eq);
    const v = a.slice(eq + 1);
    if (!LABEL_KEY.test(k))
      throw usage(`bad label key ${JSON.stringify(k)}: letters, digits, . _ / - (1-63)`);
    if (v.length > 256) throw usage(`label ${k}: value longer than 256 characters`);
    out[k] = v;
  }
  return out;
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** "30s", "15m", "1h", "2d", "1w", "1h30m"; a bare number is seconds. Returns seconds. */
export function parseDuration(s: string, allowZero = false): number {
  const t = s.trim();
  if (/^\d+(\.\d+)?$/.test(t)) {
    const n = Number(t);
    if (n > 0 || (allowZero && n === 0)) return n;
  } else if (/^(\d+(\.\d+)?[smhdw])+$/.test(t)) {
    let total = 0;
    for (const m of t.matchAll(/(\d+(?:\.\d+)?)([smhdw])/g)) total += Number(m[1]) * UNITS[m[2]];
    if (total > 0 || allowZero) return total;
  }
  throw usage(`bad duration ${JSON.stringify(s)}: use e.g. 30s, 15m, 1h, 7d`);
}

export interface HostPort {
  host: string;
  port: number;
}

/** "host:port", "[::1]:port", ":port" (all interfaces). */
export function parseHostPort(s: string, what = "address"): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(s.trim());
  if (!m) throw usage(`${what} must be HOST:PORT, got ${JSON.stringify(s)}`);
  const port = Number(m[3]);
  if (port > 65535) throw usage(`${what}: port ${port} is out of range`);
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}

/** A positive (or non-negative) integer option. */
export function parseIntArg(s: string, what: string, min = 1): number {
  if (!/^\d+$/.test(s.trim()) || Number(s) < min)
    throw usage(`${what} must be an integer >= ${min}, got ${JSON.stringify(s)}`);
  return Number(s);
}

export const ROLES = ["viewer", "operator", "admin"] as const;
export type RoleArg = (typeof ROLES)[number];

export function parseRole(s: string): RoleArg {
  if (!(ROLES as readonly string[]).includes(s))
    throw usage(`role must be one of ${ROLES.join(", ")}, got ${JSON.stringify(s)}`);
  return s as RoleArg;
}

/** For commander's repeatable options. */
export const collect = (v: string, prev: string[] = []) => [...prev, v];

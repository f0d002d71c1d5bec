/** Parsing helpers for command-line arguments (pure; unit-tested). */
import { LABEL_KEY } from "@tether/protocol/api";
import { parseSelector, type SelectorTerm } from "@tether/protocol/selector";
import { CliError, EXIT } from "./io.js";

/** The protocol's label-key rule (the API's Labels schema), so the CLI refuses what the server would. */
const LABEL_KEY_RE = new RegExp(LABEL_KEY);

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
      if (allowRemove && a.endsWith("-") && LABEL_KEY_RE.test(a.slice(0, -1))) {
        out[a.slice(0, -1)] = null;
        continue;
      }
      throw usage(`bad label ${JSON.stringify(a)}: use key=value${allowRemove ? " or key- to remove" : ""}`);
    }
    const k = a.slice(0, eq);
    const v = a.slice(eq + 1);
    if (!LABEL_KEY_RE.test(k))
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

/** An optional integer option: undefined when not given, else parseIntArg(v, what) * scale. */
export function optInt(v: string | undefined, what: string, scale = 1): number | undefined {
  return v ? parseIntArg(v, what) * scale : undefined;
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

const SIZE_UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** "1048576", "512k", "1M", "2MiB" → bytes. */
export function parseSize(s: string, what: string): number {
  const m = /^(\d+)\s*([kmg]?)(i?b)?$/i.exec(s.trim());
  if (!m) throw usage(`${what} must be a size like 65536, 512k or 1M, got ${JSON.stringify(s)}`);
  return Number(m[1]) * SIZE_UNITS[m[2].toLowerCase()];
}

/** A command timeout: more than zero, at most `maxMs`; returns milliseconds. */
export function parseTimeoutMs(s: string, what: string, maxMs: number): number {
  const ms = Math.round(parseDuration(s, true) * 1000);
  if (ms <= 0) throw usage(`${what} must be more than zero, got ${JSON.stringify(s)}`);
  if (ms > maxMs) throw usage(`${what} ${s} is too long: at most ${maxMs / 3600_000}h`);
  return ms;
}

/** --env K=V → [K, V]. */
export function parseEnv(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of list) {
    const eq = a.indexOf("=");
    const k = eq > 0 ? a.slice(0, eq) : "";
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
      throw usage(`bad --env ${JSON.stringify(a)}: use NAME=value (NAME: letters, digits, _)`);
    out[k] = a.slice(eq + 1);
  }
  return out;
}

/**
 * --selector: the one rule of @tether/protocol (the server's and the console's), checked before
 * any request so a typo is a usage error (exit 2) with the reason in words.
 */
export function parseSelectorArg(s: string, what = "--selector"): SelectorTerm[] {
  try {
    return parseSelector(s);
  } catch (err) {
    throw usage(`bad ${what}: ${(err as Error).message}`);
  }
}

/**
 * The agent's own settings that remote configuration may set (docs/protocol.md §14.6, §15,
 * §18.5): the `tether.metrics.*`, `tether.logs.*` and `tether.config.*` keys, each with its
 * value check and whether only the device itself may set it. The server checks every layer
 * write against this table before it is saved (TETHER_ERR_CONFIG_INVALID); the agent checks
 * again when it applies (its modules' own settings code, which a test keeps in agreement with
 * this table). Browser-safe: no Node imports.
 */
import { LOG_LIMITS } from "./logs.js";
import { parseDurationMs } from "./metrics.js";
import { LABEL_NAME, RESERVED_LABELS, TELEMETRY_LIMITS } from "./telemetry.js";

/** One remote-settable (or device-only) agent key. */
export interface AgentSettingSpec {
  /** The full key, e.g. `tether.logs.rate`. */
  key: string;
  /** For people: what the value is. */
  type: string;
  /** Only the device's own settings file or flags set it; remote configuration never does. */
  deviceOnly: boolean;
  /** Why a value is refused (as remote configuration would set it), or undefined. */
  check: (v: unknown) => string | undefined;
}

const MIB = 1024 * 1024;
const MAX_LIST = 100;

const intIn =
  (min: number, max: number) =>
  (v: unknown): string | undefined => {
    const n = typeof v === "string" && /^\d+$/.test(v.trim()) ? Number(v) : v;
    return typeof n === "number" && Number.isInteger(n) && n >= min && n <= max
      ? undefined
      : `expected an integer ${min}-${max}`;
  };

const bool = (v: unknown) =>
  typeof v === "boolean" || v === "true" || v === "false" ? undefined : "expected true or false";

/** Seconds: a number, a numeric string or a duration ("10s", "1m"), within [min, max]. */
const secondsIn =
  (min: number, max: number) =>
  (v: unknown): string | undefined => {
    let ms: number | undefined;
    if (typeof v === "number") ms = v * 1000;
    else if (typeof v === "string" && /^\d+(\.\d+)?$/.test(v.trim())) ms = Number(v) * 1000;
    else if (typeof v === "string") ms = parseDurationMs(v);
    if (ms === undefined || !Number.isFinite(ms))
      return "expected seconds (a number, or a duration like 10s)";
    return ms < min * 1000 || ms > max * 1000 ? `must be between ${min} and ${max} seconds` : undefined;
  };

const port = (v: unknown) =>
  intIn(0, 65535)(v) ? "expected a port number 0-65535 (0 turns it off)" : undefined;

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: MIB,
  mib: MIB,
  mb: 1e6,
  g: 1024 * MIB,
  gib: 1024 * MIB,
  gb: 1e9,
};
const byteSize = (v: unknown): string | undefined => {
  let n: number | undefined;
  if (typeof v === "number" && Number.isInteger(v)) n = v;
  else if (typeof v === "string") {
    const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(v.trim());
    const unit = m ? UNITS[(m[2] as string).toLowerCase()] : undefined;
    n = m && unit ? Math.round(Number(m[1]) * unit) : undefined;
  }
  if (n === undefined) return 'expected bytes (an integer, or a size like "64MiB")';
  return n < MIB || n > 64 * 1024 * MIB ? "must be between 1MiB and 64GiB" : undefined;
};

const list =
  (item: (v: unknown) => string | undefined) =>
  (v: unknown): string | undefined => {
    const arr = typeof v === "string" ? [v] : v;
    if (!Array.isArray(arr)) return "expected a list";
    if (arr.length > MAX_LIST) return `at most ${MAX_LIST} entries`;
    for (const [i, x] of arr.entries()) {
      const r = item(x);
      if (r) return `entry ${i}: ${r}`;
    }
    return undefined;
  };

const isHttpUrl = (v: unknown) => {
  if (typeof v !== "string") return false;
  try {
    const u = new URL(v);
    return u.protocol === "http:" || u.protocol === "https:";
  } catch {
    return false;
  }
};

const labelName = new RegExp(LABEL_NAME);
const reserved = new Set<string>(RESERVED_LABELS);
const scrapeTarget = (v: unknown): string | undefined => {
  const o = typeof v === "string" ? { url: v } : v;
  if (!o || typeof o !== "object" || Array.isArray(o)) return "expected a URL or { url, interval?, labels? }";
  const { url, interval, labels, ...rest } = o as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length) return `unknown field ${extra[0]} (expected url, interval, labels)`;
  if (!isHttpUrl(url)) return `${JSON.stringify(url)} is not an http(s) URL`;
  if (interval !== undefined) {
    const r = secondsIn(0.05, 3600)(interval);
    if (r) return `interval: ${r}`;
  }
  if (labels !== undefined) {
    if (!labels || typeof labels !== "object" || Array.isArray(labels))
      return "labels: expected an object of strings";
    for (const [k, x] of Object.entries(labels)) {
      if (!labelName.test(k) || k.startsWith("__") || reserved.has(k))
        return `labels: ${JSON.stringify(k)} is not a usable label name`;
      if (typeof x !== "string" || x.length > TELEMETRY_LIMITS.maxLabelValue)
        return `labels.${k}: expected a string of at most ${TELEMETRY_LIMITS.maxLabelValue} characters`;
    }
  }
  return undefined;
};

/** A remote log path: absolute, without `..` or NUL. */
const absPath = (v: unknown): string | undefined => {
  if (typeof v !== "string" || !v) return "expected a file path or glob";
  if (!v.startsWith("/")) return "paths must be absolute";
  if (v.includes("\0") || v.split("/").includes("..")) return `${JSON.stringify(v)}: no .. or NUL allowed`;
  return undefined;
};

const unitName = (v: unknown) =>
  typeof v === "string" && /^[A-Za-z0-9:_.@\\-]{1,256}$/.test(v)
    ? undefined
    : "expected a systemd unit name (letters, digits, : _ . @ \\ -)";

const anyValue = () => undefined;

const spec = (
  key: string,
  type: string,
  check: (v: unknown) => string | undefined,
  deviceOnly = false,
): AgentSettingSpec => ({ key, type, deviceOnly, check: deviceOnly ? anyValue : check });

/** Every agent key remote configuration knows, with its check (as set remotely). */
export const AGENT_SETTINGS: readonly AgentSettingSpec[] = [
  // §14.6 metrics (remotely the interval is at least 1 s)
  spec("tether.metrics.interval", "seconds (1-3600)", secondsIn(1, 3600)),
  spec("tether.metrics.statsdPort", "port", port),
  spec("tether.metrics.influxPort", "port", port),
  spec("tether.metrics.scrape", "list of URL or { url, interval?, labels? }", list(scrapeTarget)),
  spec("tether.metrics.bufferSize", 'bytes or size ("64MiB")', byteSize),
  spec("tether.metrics.maxSeries", "integer", intIn(1, TELEMETRY_LIMITS.maxSeriesPerDevice)),
  spec("tether.metrics.allowScrape", "list of URL prefixes", anyValue, true),
  spec("tether.metrics.procRoot", "directory", anyValue, true),
  spec("tether.metrics.sysRoot", "directory", anyValue, true),
  // §15 logs
  spec("tether.logs.follow", "list of absolute paths or globs", list(absPath)),
  spec("tether.logs.allow", "list of globs or directories", anyValue, true),
  spec("tether.logs.journal", "boolean", bool),
  spec("tether.logs.journalUnits", "list of unit names", list(unitName)),
  spec("tether.logs.agentLog", "boolean", bool),
  spec("tether.logs.rate", "lines per second", intIn(1, 1_000_000)),
  spec("tether.logs.burst", "lines", intIn(1, 10_000_000)),
  spec("tether.logs.deviceRate", "lines per second", intIn(1, 1_000_000)),
  spec("tether.logs.deviceBurst", "lines", intIn(1, 10_000_000)),
  spec("tether.logs.flushMs", "milliseconds", intIn(10, 60_000)),
  spec("tether.logs.maxLineBytes", "bytes", intIn(256, LOG_LIMITS.maxLineBytes)),
  // §18.5 configuration
  spec("tether.config.applyHook", "shell command", anyValue, true),
  spec("tether.config.hookTimeout", "seconds (1-3600)", secondsIn(1, 3600)),
];

const BY_KEY = new Map(AGENT_SETTINGS.map((s) => [s.key, s]));
const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);

/**
 * The first reason the agent settings in a configuration values tree are refused, or undefined.
 * `values` is a layer's (or a device's merged) values: only its `tether` member is checked
 * (`{tether: {logs: {rate: 5}}}`); `null` (deleting an inherited key) is always allowed.
 * Refused: an unknown `tether.*` key, a device-only key, a value of the wrong type or range.
 */
export function checkAgentSettings(values: Record<string, unknown>): string | undefined {
  if (!isObj(values) || !Object.hasOwn(values, "tether")) return undefined;
  const walk = (v: unknown, at: string): string | undefined => {
    if (v === null) return undefined;
    const s = BY_KEY.get(at);
    if (s) {
      if (s.deviceOnly) return `${at} is device-only: remote configuration can never set it`;
      const r = s.check(v);
      return r ? `${at}: ${r}` : undefined;
    }
    const known = AGENT_SETTINGS.some((x) => x.key.startsWith(`${at}.`));
    if (!known)
      return `${at} is not an agent setting (known: tether.metrics.*, tether.logs.*, tether.config.*; see docs/protocol.md §18.5)`;
    if (!isObj(v)) return `${at}: expected an object of settings`;
    for (const [k, x] of Object.entries(v)) {
      const r = walk(x, `${at}.${k}`);
      if (r) return r;
    }
    return undefined;
  };
  return walk(values.tether, "tether");
}

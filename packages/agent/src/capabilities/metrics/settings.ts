/**
 * The agent's metrics settings (docs/protocol.md §14, settings keys): the `tether.metrics.*`
 * keys with their types and defaults, parsing of each source (settings file, `tether agent`
 * flags, remote settings) and their precedence: remote > file > flags > defaults, except the
 * device-only keys (allowScrape, procRoot, sysRoot), which only the device itself sets, and
 * remote scrape targets, which must match the device's allow-list. Pure: no I/O but what the
 * caller hands in.
 */
import { isAbsolute, resolve } from "node:path";
import { LABEL_NAME, parseDurationMs, RESERVED_LABELS, TELEMETRY_LIMITS } from "@tether/protocol";
import {
  Bad,
  bad,
  type Check,
  ModuleSettings,
  type SettingDef,
  type SettingKey,
  type SettingSource,
  SettingsError,
} from "../../settings/module-settings.js";

export type { SettingSource };

export interface ScrapeTarget {
  url: string;
  /** Its own scrape interval, or null: the collection interval. */
  intervalMs: number | null;
  /** Labels added to every series scraped from it. */
  labels: Record<string, string>;
}

export interface MetricsSettingValues {
  intervalMs: number;
  statsdPort: number;
  influxPort: number;
  scrape: ScrapeTarget[];
  bufferBytes: number;
  maxSeries: number;
  allowScrape: string[];
  procRoot: string;
  sysRoot: string;
}

export type SettingName = keyof MetricsSettingValues;

export interface ResolvedMetricsSettings extends MetricsSettingValues {
  /** Per setting, the source its value came from. */
  from: Record<SettingName, SettingSource>;
}

/** What `tether agent` passes: its flags as typed (strings), before validation. */
export interface MetricsFlags {
  interval?: string | number;
  statsdPort?: string | number;
  influxPort?: string | number;
  scrape?: string[];
  bufferSize?: string | number;
  maxSeries?: string | number;
  procRoot?: string;
  sysRoot?: string;
}

/** A bad value in the device's own settings: a clear error at start (exit 2), naming key and source. */
export class MetricsSettingsError extends SettingsError {
  constructor(key: string, where: string, message: string) {
    super(key, where, message);
    this.name = "MetricsSettingsError";
  }
}

export type MetricsSettingKey = SettingKey<SettingName>;

const MIB = 1024 * 1024;
const MAX_SCRAPE_TARGETS = 100;
const labelName = new RegExp(LABEL_NAME);
const reserved = new Set<string>(RESERVED_LABELS);

/** Seconds as a number (0.05 to 3600), a numeric string, or a duration string ("10s", "1m"). */
const seconds: Check<number> = (v) => {
  let ms: number | undefined;
  if (typeof v === "number") ms = v * 1000;
  else if (typeof v === "string" && /^\d+(\.\d+)?$/.test(v.trim())) ms = Number(v) * 1000;
  else if (typeof v === "string") ms = parseDurationMs(v);
  if (ms === undefined || !Number.isFinite(ms))
    return bad("expected seconds (a number, or a duration like 10s)");
  // Tiny intervals are for tests; an hour is the longest that still makes a chart.
  if (ms < 50 || ms > 3_600_000) return bad("must be between 0.05 and 3600 seconds");
  return Math.round(ms);
};

const port: Check<number> = (v) => {
  const n = typeof v === "string" && /^\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 65535)
    return bad("expected a port number 0-65535 (0 turns it off)");
  return n;
};

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

/** Bytes: an integer, or "64MiB", "500MB", "1G" (K/M/G alone are binary). Exported for the CLI. */
export function parseByteSize(v: unknown): number | undefined {
  if (typeof v === "number") return Number.isInteger(v) ? v : undefined;
  if (typeof v !== "string") return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(v.trim());
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  return m && unit ? Math.round(Number(m[1]) * unit) : undefined;
}

const byteSize: Check<number> = (v) => {
  const n = parseByteSize(v);
  if (n === undefined) return bad('expected bytes (an integer, or a size like "64MiB")');
  if (n < MIB || n > 64 * 1024 * MIB) return bad("must be between 1MiB and 64GiB");
  return n;
};

const maxSeries: Check<number> = (v) => {
  const n = typeof v === "string" && /^\d+$/.test(v.trim()) ? Number(v) : v;
  const max = TELEMETRY_LIMITS.maxSeriesPerDevice;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > max)
    return bad(`expected an integer 1-${max} (the server keeps at most ${max} series per device)`);
  return n;
};

const httpUrl = (v: unknown): string | undefined => {
  if (typeof v !== "string") return undefined;
  try {
    const u = new URL(v);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : undefined;
  } catch {
    return undefined;
  }
};

const labels: Check<Record<string, string>> = (v) => {
  if (v === undefined) return {};
  if (!v || typeof v !== "object" || Array.isArray(v)) return bad("labels: expected an object of strings");
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (!labelName.test(k) || k.startsWith("__") || reserved.has(k))
      return bad(`labels: ${JSON.stringify(k)} is not a usable label name (${LABEL_NAME}, not reserved)`);
    if (typeof x !== "string" || x.length > TELEMETRY_LIMITS.maxLabelValue)
      return bad(`labels.${k}: expected a string of at most ${TELEMETRY_LIMITS.maxLabelValue} characters`);
    out[k] = x;
  }
  return out;
};

const scrapeTarget: Check<ScrapeTarget> = (v) => {
  const o = typeof v === "string" ? { url: v } : v;
  if (!o || typeof o !== "object" || Array.isArray(o))
    return bad("expected a URL or { url, interval?, labels? }");
  const { url, interval, labels: l, ...rest } = o as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length) return bad(`unknown field ${extra[0]} (expected url, interval, labels)`);
  const href = httpUrl(url);
  if (!href) return bad(`${JSON.stringify(url)} is not an http(s) URL`);
  const intervalMs = interval === undefined ? null : seconds(interval);
  if (intervalMs instanceof Bad) return bad(`interval: ${intervalMs.reason}`);
  const lab = labels(l);
  if (lab instanceof Bad) return lab;
  return { url: href, intervalMs, labels: lab };
};

const list =
  <T>(item: Check<T>, max: number): Check<T[]> =>
  (v) => {
    const arr = typeof v === "string" ? [v] : v;
    if (!Array.isArray(arr)) return bad("expected a list");
    if (arr.length > max) return bad(`at most ${max} entries`);
    const out: T[] = [];
    for (const [i, x] of arr.entries()) {
      const r = item(x);
      if (r instanceof Bad) return bad(`entry ${i}: ${r.reason}`);
      out.push(r);
    }
    return out;
  };

const urlPrefix: Check<string> = (v) =>
  typeof v === "string" && httpUrl(v) ? v : bad("expected a URL prefix starting with http:// or https://");

const dir: Check<string> = (v) =>
  typeof v === "string" && v.trim() !== ""
    ? isAbsolute(v)
      ? v
      : resolve(v)
    : bad("expected a directory path");

const def = <T>(d: SettingDef<SettingName, T>) => d as SettingDef<SettingName, unknown>;

const DEFS = [
  def({
    key: "tether.metrics.interval",
    name: "intervalMs",
    type: "seconds",
    default: 10,
    description:
      "Collection interval: system collectors run, application metrics are summarised and one batch is sealed per interval.",
    deviceOnly: false,
    flag: "--metrics-interval",
    check: seconds,
  }),
  def({
    key: "tether.metrics.statsdPort",
    name: "statsdPort",
    type: "port",
    default: 8125,
    description: "UDP port on 127.0.0.1 that accepts StatsD (and DogStatsD tags); 0 turns it off.",
    deviceOnly: false,
    flag: "--statsd-port",
    check: port,
  }),
  def({
    key: "tether.metrics.influxPort",
    name: "influxPort",
    type: "port",
    default: 8186,
    description:
      "Port on 127.0.0.1 that accepts InfluxDB line protocol over UDP and HTTP (POST /write, /api/v2/write); 0 turns it off.",
    deviceOnly: false,
    flag: "--influx-port",
    check: port,
  }),
  def({
    key: "tether.metrics.scrape",
    name: "scrape",
    type: "list of URL or { url, interval?, labels? }",
    default: [],
    description:
      "Prometheus text endpoints to scrape (interval in seconds, default the collection interval). Set remotely, each URL must match tether.metrics.allowScrape.",
    deviceOnly: false,
    flag: "--scrape",
    check: list(scrapeTarget, MAX_SCRAPE_TARGETS),
  }),
  def({
    key: "tether.metrics.bufferSize",
    name: "bufferBytes",
    type: 'bytes or size ("64MiB")',
    default: 64 * MIB,
    description:
      "Size of the on-disk telemetry buffer; when full, the oldest batches are dropped with a gap record.",
    deviceOnly: false,
    flag: "--buffer-size",
    check: byteSize,
  }),
  def({
    key: "tether.metrics.maxSeries",
    name: "maxSeries",
    type: "integer",
    default: 2000,
    description:
      'Distinct series the agent keeps; new series beyond it are dropped and counted (agent_dropped_samples_total{reason="series-limit"}).',
    deviceOnly: false,
    check: maxSeries,
  }),
  def({
    key: "tether.metrics.allowScrape",
    name: "allowScrape",
    type: "list of URL prefixes",
    default: [],
    description:
      "URL prefixes that scrape targets set remotely must start with. Device only: remote settings can never set it.",
    deviceOnly: true,
    check: list(urlPrefix, MAX_SCRAPE_TARGETS),
  }),
  def({
    key: "tether.metrics.procRoot",
    name: "procRoot",
    type: "directory",
    default: "/proc",
    description: "Where the collectors read /proc (tests point it at a fixture tree). Device only.",
    deviceOnly: true,
    flag: "--proc-root",
    check: dir,
  }),
  def({
    key: "tether.metrics.sysRoot",
    name: "sysRoot",
    type: "directory",
    default: "/sys",
    description: "Where the collectors read /sys. Device only.",
    deviceOnly: true,
    flag: "--sys-root",
    check: dir,
  }),
] as const;

export const DEFAULT_METRICS_SETTINGS: MetricsSettingValues = {
  intervalMs: 10_000,
  statsdPort: 8125,
  influxPort: 8186,
  scrape: [],
  bufferBytes: 64 * MIB,
  maxSeries: 2000,
  allowScrape: [],
  procRoot: "/proc",
  sysRoot: "/sys",
};

/** One source's values, validated. */
export type SettingsLayer = Partial<MetricsSettingValues>;

const SETTINGS = new ModuleSettings("tether.metrics", DEFS, DEFAULT_METRICS_SETTINGS, MetricsSettingsError);

/** Every key, for docs/protocol.md (generated and checked from this list). */
export const METRICS_SETTING_KEYS: readonly MetricsSettingKey[] = SETTINGS.keys;

/**
 * Flat (`{"tether.metrics.interval": 5}`) or nested (`{"tether":{"metrics":{"interval":5}}}`)
 * or mixed, to full keys. Keys outside `tether.metrics` belong to other modules and are left
 * alone; unknown keys inside it are reported.
 */
export function flattenSettings(raw: Record<string, unknown>, where: string, prefix = "") {
  return SETTINGS.flatten(raw, where, prefix);
}

/**
 * The device's settings file (JSON). Throws MetricsSettingsError naming the key and the file;
 * `warnings` lists unknown `tether.metrics.*` keys (a typo must not pass unnoticed).
 */
export function parseSettingsFile(text: string, file: string): { layer: SettingsLayer; warnings: string[] } {
  return SETTINGS.parseFile(text, file);
}

/** The settings file, read (a file that cannot be read is a MetricsSettingsError), and parsed. */
export function readSettingsFile(file: string | undefined, read: (path: string) => string) {
  return SETTINGS.readFile(file, read);
}

/** `tether agent` flags; an error names the flag. */
export function parseFlags(flags: MetricsFlags): SettingsLayer {
  const byName: Record<keyof MetricsFlags, string> = {
    interval: "tether.metrics.interval",
    statsdPort: "tether.metrics.statsdPort",
    influxPort: "tether.metrics.influxPort",
    scrape: "tether.metrics.scrape",
    bufferSize: "tether.metrics.bufferSize",
    maxSeries: "tether.metrics.maxSeries",
    procRoot: "tether.metrics.procRoot",
    sysRoot: "tether.metrics.sysRoot",
  };
  return SETTINGS.parseFlags(
    (Object.entries(byName) as [keyof MetricsFlags, string][]).map(([f, key]) => [key, flags[f]]),
  );
}

/**
 * Does a remote scrape URL fall under the device's allow-list? Same origin (scheme, host and
 * port exactly: `http://localhost` does not admit `http://localhost.evil.example`), and the
 * URL starts with the prefix's normalised form.
 */
export function scrapeAllowed(url: string, allow: readonly string[]): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  return allow.some((prefix) => {
    try {
      const p = new URL(prefix);
      return p.origin === u.origin && u.href.startsWith(p.href);
    } catch {
      return false;
    }
  });
}

/**
 * Remote settings (the server's, via applySettings): full keys flat or nested, or bare keys
 * (`{interval: 5}`, the module's member of the settings). Never throws: a bad value, a
 * device-only key or a scrape target outside `allowScrape` is refused with a reason and the
 * rest applies.
 */
export function parseRemoteSettings(
  raw: unknown,
  allowScrape: readonly string[],
): { layer: SettingsLayer; refused: string[] } {
  return SETTINGS.parseRemote(raw, {
    after: (name, r, refused) => {
      // Sub-second intervals are for the device's own tests; remotely, at least 1 s.
      if (name === "intervalMs" && (r as number) < 1000)
        return bad("must be at least 1 second when set remotely");
      if (name === "scrape")
        return (r as ScrapeTarget[]).filter((t) => {
          const ok = scrapeAllowed(t.url, allowScrape);
          if (!ok)
            refused.push(`remote: scrape target ${t.url} refused: not under tether.metrics.allowScrape`);
          return ok;
        });
      return r;
    },
  });
}

/** Precedence: remote > file > flags > defaults (remote layers are already filtered). */
export function resolveSettings(layers: {
  flags?: SettingsLayer;
  file?: SettingsLayer;
  remote?: SettingsLayer;
}): ResolvedMetricsSettings {
  const { values, from } = SETTINGS.resolve(layers);
  return { ...values, from };
}

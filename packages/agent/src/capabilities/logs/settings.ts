/**
 * The agent's log settings (docs/protocol.md §15): the `tether.logs.*` keys with their types
 * and defaults, parsing of each source (the settings file, `tether agent` flags, remote
 * settings) and their precedence: remote > file > flags > defaults. The allow-list is
 * device-only: the paths the device's own file or flags name (`allow`, and `follow` too) are
 * all that remote settings may choose among; they can never widen it. Pure: no I/O.
 */
import { normalize } from "node:path";
import { LOG_LIMITS } from "@tether/protocol";
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
import { absolutePattern, globMatch, patternProblem } from "./glob.js";

export type { SettingSource };

export interface LogsSettingValues {
  follow: string[];
  allow: string[];
  journal: boolean;
  journalUnits: string[];
  agentLog: boolean;
  rate: number;
  burst: number;
  deviceRate: number;
  deviceBurst: number;
  flushMs: number;
  maxLineBytes: number;
}

export type LogsSettingName = keyof LogsSettingValues;

export interface ResolvedLogsSettings extends LogsSettingValues {
  from: Record<LogsSettingName, SettingSource>;
  /** The effective allow-list: `allow` and `follow` of the device's own file and flags. */
  allowed: string[];
  /** The follow patterns that remote settings chose (each file must match `allowed`). */
  remoteFollow: boolean;
}

/** What `tether agent` passes: its flags as typed, before validation. */
export interface LogsFlags {
  follow?: string[];
  allow?: string[];
  /** `--no-journal` gives false. */
  journal?: boolean;
  journalUnits?: string[];
  agentLog?: boolean;
  rate?: string | number;
  burst?: string | number;
  deviceRate?: string | number;
  deviceBurst?: string | number;
  flushMs?: string | number;
  maxLineBytes?: string | number;
}

/** A bad value in the device's own settings: a clear error at start (exit 2), naming key and source. */
export class LogsSettingsError extends SettingsError {
  constructor(key: string, where: string, message: string) {
    super(key, where, message);
    this.name = "LogsSettingsError";
  }
}

export type LogsSettingKey = SettingKey<LogsSettingName>;

const MAX_PATTERNS = 100;

const int =
  (min: number, max: number, what = "an integer"): Check<number> =>
  (v) => {
    const n = typeof v === "string" && /^\d+$/.test(v.trim()) ? Number(v) : v;
    if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max)
      return bad(`expected ${what} ${min}-${max}`);
    return n;
  };

const bool: Check<boolean> = (v) => {
  if (typeof v === "boolean") return v;
  if (v === "true") return true;
  if (v === "false") return false;
  return bad("expected true or false");
};

const pattern: Check<string> = (v) => {
  if (typeof v !== "string") return bad("expected a file path or glob");
  const p = patternProblem(v);
  if (p) return bad(`${JSON.stringify(v)}: ${p}`);
  return absolutePattern(v);
};

/** Allow entries: a glob, or a directory ending in `/` (everything below it). */
const allowEntry: Check<string> = (v) => {
  const r = pattern(v);
  if (r instanceof Bad || typeof v !== "string") return r;
  return v.endsWith("/") && r !== "/" ? `${r}/` : r;
};

const unitName: Check<string> = (v) =>
  typeof v === "string" && /^[A-Za-z0-9:_.@\\-]{1,256}$/.test(v)
    ? v
    : bad("expected a systemd unit name (letters, digits, : _ . @ \\ -)");

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
      if (!out.includes(r)) out.push(r);
    }
    return out;
  };

const def = <T>(d: SettingDef<LogsSettingName, T>) => d as SettingDef<LogsSettingName, unknown>;

const DEFS = [
  def({
    key: "tether.logs.follow",
    name: "follow",
    type: "list of paths or globs",
    default: [],
    description:
      "Files to follow (`*` and `?` allowed in any component; globs are re-expanded every 2 s). A file present at start is read from its end, one appearing later from its start. Set by the device, each entry is also allowed; set remotely, only files matching tether.logs.allow (or the device's own follow entries) are read.",
    deviceOnly: false,
    flag: "--follow-log",
    check: list(pattern, MAX_PATTERNS),
  }),
  def({
    key: "tether.logs.allow",
    name: "allow",
    type: "list of globs or directories (ending in /)",
    default: [],
    description:
      "Paths remote settings may choose to follow (with the device's own follow entries). Device only: remote settings can never set it.",
    deviceOnly: true,
    flag: "--allow-log",
    check: list(allowEntry, MAX_PATTERNS),
  }),
  def({
    key: "tether.logs.journal",
    name: "journal",
    type: "boolean",
    default: true,
    description:
      "Follow the systemd journal (where journalctl and /run/systemd/journal exist), with unit and priority.",
    deviceOnly: false,
    flag: "--no-journal",
    check: bool,
  }),
  def({
    key: "tether.logs.journalUnits",
    name: "journalUnits",
    type: "list of unit names",
    default: [],
    description: "Only these systemd units' journal entries; empty: all.",
    deviceOnly: false,
    check: list(unitName, MAX_PATTERNS),
  }),
  def({
    key: "tether.logs.agentLog",
    name: "agentLog",
    type: "boolean",
    default: true,
    description: "Upload the agent's own log (source `agent`).",
    deviceOnly: false,
    check: bool,
  }),
  def({
    key: "tether.logs.rate",
    name: "rate",
    type: "lines per second",
    default: 200,
    description:
      "Rate limit per source (each file, `journal`, `agent`); lines over it are dropped, counted and shown as a gap line.",
    deviceOnly: false,
    flag: "--log-rate",
    check: int(1, 1_000_000),
  }),
  def({
    key: "tether.logs.burst",
    name: "burst",
    type: "lines",
    default: 2000,
    description: "Lines a source may send at once above its rate (its token bucket's size).",
    deviceOnly: false,
    flag: "--log-burst",
    check: int(1, 10_000_000),
  }),
  def({
    key: "tether.logs.deviceRate",
    name: "deviceRate",
    type: "lines per second",
    default: 1000,
    description: "Rate limit of all sources together.",
    deviceOnly: false,
    flag: "--device-log-rate",
    check: int(1, 1_000_000),
  }),
  def({
    key: "tether.logs.deviceBurst",
    name: "deviceBurst",
    type: "lines",
    default: 10000,
    description: "Burst of all sources together.",
    deviceOnly: false,
    check: int(1, 10_000_000),
  }),
  def({
    key: "tether.logs.flushMs",
    name: "flushMs",
    type: "milliseconds",
    default: 250,
    description:
      "How long read lines wait before they are sealed into a batch (also sealed at 1,000 lines or 512 KiB).",
    deviceOnly: false,
    check: int(10, 60_000),
  }),
  def({
    key: "tether.logs.maxLineBytes",
    name: "maxLineBytes",
    type: "bytes",
    default: LOG_LIMITS.maxLineBytes,
    description: `Longer lines are cut and marked \`…[cut N bytes]\` (at most ${LOG_LIMITS.maxLineBytes}).`,
    deviceOnly: false,
    check: int(256, LOG_LIMITS.maxLineBytes),
  }),
] as const;

export const DEFAULT_LOGS_SETTINGS: LogsSettingValues = {
  follow: [],
  allow: [],
  journal: true,
  journalUnits: [],
  agentLog: true,
  rate: 200,
  burst: 2000,
  deviceRate: 1000,
  deviceBurst: 10000,
  flushMs: 250,
  maxLineBytes: LOG_LIMITS.maxLineBytes,
};

export type LogsSettingsLayer = Partial<LogsSettingValues>;

const SETTINGS = new ModuleSettings("tether.logs", DEFS, DEFAULT_LOGS_SETTINGS, LogsSettingsError);

export const LOGS_SETTING_KEYS: readonly LogsSettingKey[] = SETTINGS.keys;

/** The device's settings file (JSON): throws LogsSettingsError naming the key and the file. */
export function parseLogsSettingsFile(
  text: string,
  file: string,
): { layer: LogsSettingsLayer; warnings: string[] } {
  return SETTINGS.parseFile(text, file);
}

/** The settings file, read (a file that cannot be read is a LogsSettingsError), and parsed. */
export function readLogsSettingsFile(file: string | undefined, read: (path: string) => string) {
  return SETTINGS.readFile(file, read);
}

/** `tether agent` flags; an error names the flag. */
export function parseLogsFlags(flags: LogsFlags): LogsSettingsLayer {
  return SETTINGS.parseFlags(
    (Object.entries(flags) as [LogsSettingName, unknown][]).map(([name, v]) => [
      SETTINGS.def(name)?.key ?? "",
      v,
    ]),
  );
}

/** Is this (absolute) file path allowed by the list (a glob match, or under a `dir/` entry)? */
export function pathAllowed(path: string, allowed: readonly string[]): boolean {
  const p = normalize(path);
  return allowed.some((a) => (a.endsWith("/") ? p.startsWith(a) : globMatch(a, p)));
}

/**
 * Remote settings (the server's, via applySettings): full keys flat or nested, or bare keys
 * (`{follow: [...]}`). Never throws: a bad value, a device-only key, or a follow entry that
 * can match nothing the allow-list admits is refused with a reason; the rest applies.
 */
export function parseRemoteLogsSettings(
  raw: unknown,
  allowed: readonly string[],
): { layer: LogsSettingsLayer; refused: string[] } {
  return SETTINGS.parseRemote(raw, {
    // A remote path is taken as written: relative ones mean nothing on another machine.
    before: (name, v) => {
      if (name !== "follow") return undefined;
      const arr = typeof v === "string" ? [v] : v;
      return Array.isArray(arr) && arr.some((x) => typeof x === "string" && !x.startsWith("/"))
        ? "paths must be absolute"
        : undefined;
    },
    after: (name, r, refused) =>
      name !== "follow"
        ? r
        : (r as string[]).filter((p) => {
            const ok = patternMayBeAllowed(p, allowed);
            if (!ok)
              refused.push(
                `remote: log path ${p} refused: outside the device's allow-list (tether.logs.allow, --allow-log, --follow-log)`,
              );
            return ok;
          }),
  });
}

/**
 * Could a remote follow pattern name an allowed file? A literal path must be allowed itself; a
 * glob must match an allow entry component by component or lie under an allowed directory (its
 * files are still checked one by one when found).
 */
export function patternMayBeAllowed(p: string, allowed: readonly string[]): boolean {
  if (!/[*?]/.test(p)) return pathAllowed(p, allowed);
  const pc = p.split("/");
  return allowed.some((a) => {
    if (a.endsWith("/")) return p.startsWith(a);
    if (a === p) return true;
    const ac = a.split("/");
    if (ac.length !== pc.length) return false;
    // Component by component, the two could name the same file (the files found are checked again).
    return ac.every((c, i) => {
      const x = pc[i]!;
      if (c === x) return true;
      if (!/[*?]/.test(c)) return !/[*?]/.test(x) ? false : globMatch(x, c);
      return /[*?]/.test(x) || globMatch(c, x);
    });
  });
}

/** Precedence: remote > file > flags > defaults; the allow-list from the device's own layers only. */
export function resolveLogsSettings(layers: {
  flags?: LogsSettingsLayer;
  file?: LogsSettingsLayer;
  remote?: LogsSettingsLayer;
}): ResolvedLogsSettings {
  const { values: out, from } = SETTINGS.resolve(layers);
  const allowed = [
    ...new Set([
      ...(layers.flags?.allow ?? []),
      ...(layers.flags?.follow ?? []),
      ...(layers.file?.allow ?? []),
      ...(layers.file?.follow ?? []),
    ]),
  ];
  return { ...out, from, allowed, remoteFollow: from.follow === "remote" };
}

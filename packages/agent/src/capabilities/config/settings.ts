/**
 * The config capability's own settings (docs/protocol.md §18.5): `tether.config.applyHook`
 * (the command run after each apply; device only: remote configuration can never choose what
 * the device runs) and `tether.config.hookTimeout`. Precedence remote > file > flags >
 * defaults, through the shared settings machinery. Pure: no I/O but what the caller hands in.
 */
import { readFileSync } from "node:fs";
import {
  bad,
  type Check,
  ModuleSettings,
  type SettingDef,
  type SettingKey,
  type SettingSource,
  SettingsError,
} from "../../settings/module-settings.js";

export interface ConfigSettingValues {
  /** Shell command (`/bin/sh -c`), or "" for none. */
  applyHook: string;
  hookTimeoutMs: number;
}

export type ConfigSettingName = keyof ConfigSettingValues;

export interface ResolvedConfigSettings extends ConfigSettingValues {
  from: Record<ConfigSettingName, SettingSource>;
}

/** What `tether agent` passes: its flags as typed. */
export interface ConfigFlags {
  /** `--config-hook CMD`. */
  applyHook?: string;
  hookTimeout?: string | number;
}

export class ConfigSettingsError extends SettingsError {
  constructor(key: string, where: string, message: string) {
    super(key, where, message);
    this.name = "ConfigSettingsError";
  }
}

const command: Check<string> = (v) =>
  typeof v === "string" && v.length <= 4096 && !v.includes("\0")
    ? v.trim()
    : bad("expected a shell command (a string of at most 4096 characters)");

/** Seconds (a number or numeric string), 0.05 to 3600, as ms. */
const seconds: Check<number> = (v) => {
  const n = typeof v === "string" && /^\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n) || n < 0.05 || n > 3600)
    return bad("expected seconds between 0.05 and 3600");
  return Math.round(n * 1000);
};

const def = <T>(d: SettingDef<ConfigSettingName, T>) => d as SettingDef<ConfigSettingName, unknown>;

const DEFS = [
  def({
    key: "tether.config.applyHook",
    name: "applyHook",
    type: "shell command",
    default: "",
    description:
      "Run with /bin/sh -c after each configuration is written (env TETHER_CONFIG_REVISION, TETHER_CONFIG_DIR, TETHER_CONFIG_CHANGED); a non-zero exit or a timeout is reported as failed. Device only: remote configuration can never set it.",
    deviceOnly: true,
    flag: "--config-hook",
    check: command,
  }),
  def({
    key: "tether.config.hookTimeout",
    name: "hookTimeoutMs",
    type: "seconds",
    default: 60,
    description:
      "How long the apply hook may run; then its process group gets SIGTERM, and SIGKILL 5 s later, and the apply is reported failed (timed out). At least 1 s when set remotely.",
    deviceOnly: false,
    check: seconds,
  }),
] as const;

export const DEFAULT_CONFIG_SETTINGS: ConfigSettingValues = { applyHook: "", hookTimeoutMs: 60_000 };

export type ConfigSettingsLayer = Partial<ConfigSettingValues>;

const SETTINGS = new ModuleSettings("tether.config", DEFS, DEFAULT_CONFIG_SETTINGS, ConfigSettingsError);

export const CONFIG_SETTING_KEYS: readonly SettingKey<ConfigSettingName>[] = SETTINGS.keys;

/** Where the settings come from: the agent's settings file and flags. */
export interface ConfigSources {
  settingsFile?: string;
  flags?: ConfigFlags;
}

export interface LoadedConfigSettings {
  flags: ConfigSettingsLayer;
  file: ConfigSettingsLayer;
  resolved: ResolvedConfigSettings;
  warnings: string[];
}

/** The device's own settings, read once at start; throws ConfigSettingsError naming key and source. */
export function loadConfigSettings(
  src: ConfigSources = {},
  read: (path: string) => string = (p) => readFileSync(p, "utf8"),
): LoadedConfigSettings {
  const flags = SETTINGS.parseFlags([
    ["tether.config.applyHook", src.flags?.applyHook],
    ["tether.config.hookTimeout", src.flags?.hookTimeout],
  ]);
  const { layer: file, warnings } = SETTINGS.readFile(src.settingsFile, read);
  return { flags, file, warnings, resolved: resolveConfigSettings({ flags, file }) };
}

/** Remote settings (values.tether.config): never throws; refusals come back with reasons. */
export function parseRemoteConfigSettings(raw: unknown): { layer: ConfigSettingsLayer; refused: string[] } {
  return SETTINGS.parseRemote(raw, {
    after: (name, r) =>
      name === "hookTimeoutMs" && (r as number) < 1000
        ? bad("must be at least 1 second when set remotely")
        : r,
  });
}

export function resolveConfigSettings(layers: {
  flags?: ConfigSettingsLayer;
  file?: ConfigSettingsLayer;
  remote?: ConfigSettingsLayer;
}): ResolvedConfigSettings {
  const { values, from } = SETTINGS.resolve(layers);
  return { ...values, from };
}

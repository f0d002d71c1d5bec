/**
 * The device's own log settings, read once at agent start: `--settings FILE` and the flags. A
 * bad value is a LogsSettingsError naming the key and the file (the agent exits 2); unknown
 * `tether.logs.*` keys come back as warnings for the log.
 */
import { readFileSync } from "node:fs";
import {
  type LogsFlags,
  type LogsSettingsLayer,
  parseLogsFlags,
  type ResolvedLogsSettings,
  readLogsSettingsFile,
  resolveLogsSettings,
} from "./settings.js";

/** What `tether agent` passes in AgentOptions.logs. */
export interface LogsSources {
  /** The agent's settings file (the same one as the metrics settings). */
  settingsFile?: string;
  flags?: LogsFlags;
}

export interface LoadedLogsSettings {
  flags: LogsSettingsLayer;
  file: LogsSettingsLayer;
  resolved: ResolvedLogsSettings;
  warnings: string[];
}

export function loadLogsSettings(
  src: LogsSources = {},
  read: (path: string) => string = (p) => readFileSync(p, "utf8"),
): LoadedLogsSettings {
  const flags = parseLogsFlags(src.flags ?? {});
  const { layer: file, warnings } = readLogsSettingsFile(src.settingsFile, read);
  return { flags, file, warnings, resolved: resolveLogsSettings({ flags, file }) };
}

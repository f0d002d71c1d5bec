/**
 * The device's own settings, read once at agent start: `--settings FILE` and the flags. A bad
 * value is a MetricsSettingsError naming the key and the file (the agent exits 2); unknown
 * `tether.metrics.*` keys come back as warnings for the log.
 */
import { readFileSync } from "node:fs";
import {
  type MetricsFlags,
  parseFlags,
  type ResolvedMetricsSettings,
  readSettingsFile,
  resolveSettings,
  type SettingsLayer,
} from "./settings.js";

/** What `tether agent` passes in AgentOptions.metrics. */
export interface MetricsSources {
  settingsFile?: string;
  flags?: MetricsFlags;
}

/** The device's layers (remote settings go over them later) and their resolution. */
export interface LoadedMetricsSettings {
  flags: SettingsLayer;
  file: SettingsLayer;
  resolved: ResolvedMetricsSettings;
  warnings: string[];
}

export function loadMetricsSettings(
  src: MetricsSources = {},
  read: (path: string) => string = (p) => readFileSync(p, "utf8"),
): LoadedMetricsSettings {
  const flags = parseFlags(src.flags ?? {});
  const { layer: file, warnings } = readSettingsFile(src.settingsFile, read);
  return { flags, file, warnings, resolved: resolveSettings({ flags, file }) };
}

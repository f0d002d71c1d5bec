/**
 * The settings keys as a Markdown table, so docs/protocol.md §14 can be generated from (and a
 * test can check it against) METRICS_SETTING_KEYS, the one list.
 */
import { settingsMarkdown } from "../../settings/module-settings.js";
import { METRICS_SETTING_KEYS } from "./settings.js";

export function metricsSettingsMarkdown(): string {
  return settingsMarkdown(METRICS_SETTING_KEYS, (k) =>
    k.name === "bufferBytes" ? '"64MiB"' : JSON.stringify(k.default),
  );
}

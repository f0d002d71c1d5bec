/**
 * The `tether.logs.*` keys as a Markdown table, so docs/protocol.md §15 can be generated from
 * (and a test can check it against) LOGS_SETTING_KEYS, the one list.
 */
import { settingsMarkdown } from "../../settings/module-settings.js";
import { LOGS_SETTING_KEYS } from "./settings.js";

export function logsSettingsMarkdown(): string {
  return settingsMarkdown(LOGS_SETTING_KEYS);
}

/**
 * Logs (docs/protocol.md §15): followed files (rotation, truncation, files that appear later,
 * globs), the systemd journal and the agent's own log, rate limited per source and per
 * device with counted gaps, sealed into the telemetry layer's "logs" stream every flushMs.
 * It handles no downstream message; collection runs from agent start, also while offline.
 */
import type { CapabilityModule } from "../../capability.js";
import { type LogsOptions, LogsRuntime } from "./runtime.js";

export { AgentLogTap, agentLine } from "./agent-log.js";
export { parseJournalLine } from "./journal-source.js";
export { BATCH_BYTES, BATCH_LINES, type LogsOptions, LogsRuntime } from "./runtime.js";
export { logsSettingsMarkdown } from "./settings-doc.js";
export { type LoadedLogsSettings, loadLogsSettings, type LogsSources } from "./settings-load.js";
export {
  DEFAULT_LOGS_SETTINGS,
  LOGS_SETTING_KEYS,
  type LogsFlags,
  type LogsSettingKey,
  LogsSettingsError,
  type ResolvedLogsSettings,
} from "./settings.js";

export const logs: CapabilityModule<"logs", never, LogsRuntime, LogsOptions> = {
  name: "logs",
  create: ({ log }, options) => new LogsRuntime(log.child({ part: "logs" }), options),
  handlers: {},
  start: (rt) => rt.start(),
  onStopping: (rt) => {
    void rt.stop();
  },
  applySettings: (rt, settings) => rt.applySettings(settings),
};

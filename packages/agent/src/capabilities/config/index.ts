/**
 * Remote configuration, agent side (docs/protocol.md §18.5): `config.apply` (durable) is
 * recorded and acknowledged at once, then applied by ConfigManager (atomic files under
 * `<dataDir>/config/`, the agent's own `tether.*` settings, the apply hook), which reports
 * each outcome and any drift with the durable `config.report`.
 */
import type { CapabilityModule } from "../../capability.js";
import { type ConfigOptions, ConfigManager } from "./manager.js";

export {
  type ConfigApply,
  type ConfigLink,
  type ConfigOptions,
  ConfigManager,
  type FetchBlob,
} from "./manager.js";
export { type ConfigFs, nodeConfigFs } from "./fs-port.js";
export {
  CONFIG_SETTING_KEYS,
  type ConfigFlags,
  ConfigSettingsError,
  type ConfigSources,
  DEFAULT_CONFIG_SETTINGS,
  type LoadedConfigSettings,
  loadConfigSettings,
} from "./settings.js";

/** Without options (no data directory: some in-process tests), every apply is reported failed. */
type Runtime = ConfigManager | { off: true; ports: Parameters<CapabilityModule["create"]>[0] };

export const config: CapabilityModule<"config", "config.apply", Runtime, ConfigOptions> = {
  name: "config",
  create: (ports, options) =>
    options
      ? new ConfigManager(
          ports.link,
          ports.log.child({ part: "config" }),
          (s) => ports.applySettings(s),
          options,
        )
      : { off: true, ports },
  handlers: {
    "config.apply": (rt, body) => {
      if (rt instanceof ConfigManager) return rt.handle(body);
      return [
        rt.ports.link.outgoing("config.report", {
          rev: body.rev,
          hash: body.hash,
          status: "failed",
          error: "remote configuration is not enabled on this agent (no data directory)",
          hook: null,
          drift: [],
          at: Date.now(),
        }),
      ];
    },
  },
  start: (rt) => {
    if (rt instanceof ConfigManager) rt.start();
  },
  onStopping: (rt) => {
    if (rt instanceof ConfigManager) rt.stop();
  },
  applySettings: (rt, settings) => {
    if (rt instanceof ConfigManager) rt.applySettings(settings);
  },
};

/**
 * The agent's capability modules: the one list. A module added here gets its handlers,
 * journal slice, lifecycle hooks and options (ControlClientOptions[name]) wired; nothing
 * else lists them.
 */
import { config } from "./capabilities/config/index.js";
import { credential } from "./capabilities/credential/index.js";
import { exec } from "./capabilities/exec/index.js";
import { forward } from "./capabilities/forward/index.js";
import { logs } from "./capabilities/logs/index.js";
import { metrics } from "./capabilities/metrics/index.js";
import { ping } from "./capabilities/ping/index.js";
import { telemetry } from "./capabilities/telemetry/index.js";
import { terminal } from "./capabilities/terminal/index.js";
import { tunnel } from "./capabilities/tunnel/index.js";
import type { CapabilityOptions, HandledOnce } from "./capability.js";
import type { CoreDownType } from "./control/core-handlers.js";
import type { JournalSlice } from "./control/journal-slice.js";

export const capabilities = [
  ping,
  credential,
  exec,
  telemetry,
  metrics,
  logs,
  tunnel,
  terminal,
  forward,
  config,
] as const;

/**
 * Every downstream message type (DownType) has exactly one handler, in a module or in the
 * transport: a missing or doubled one fails to compile here, naming the type.
 */
export const EVERY_DOWN_TYPE_HANDLED_ONCE: HandledOnce<typeof capabilities, CoreDownType> = true;

/** The modules' journal slices, in list order (their members of state.json follow the core's). */
export const journalSlices: readonly JournalSlice<any, any>[] = capabilities.flatMap((m) =>
  m.journal ? [m.journal] : [],
);

/** Options per module, by module name (today: `exec`, `telemetry`). */
export type AgentCapabilityOptions = CapabilityOptions<typeof capabilities>;

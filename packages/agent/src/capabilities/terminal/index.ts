/**
 * Shells on the device (docs/protocol.md §17.4): a PTY (node-pty) or pipes, as the chosen
 * user, for each shell session the tunnel layer hands over. The work is TerminalRuntime's.
 */
import type { CapabilityModule } from "../../capability.js";
import type { AgentTunnels } from "../../tunnels/index.js";
import { TerminalRuntime } from "./runtime.js";

export interface TerminalCapabilityOptions {
  tunnels: AgentTunnels;
  /** The agent's data directory (a record of live session processes, killed after a crash). */
  dataDir: string;
  /** Most shell sessions at once on this device (default 16); more are refused. */
  maxShells?: number;
}

export const terminal: CapabilityModule<
  "terminal",
  never,
  TerminalRuntime | null,
  TerminalCapabilityOptions
> = {
  name: "terminal",
  create({ log }, options) {
    if (!options) return null;
    const rt = new TerminalRuntime({
      dataDir: options.dataDir,
      log: log.child({ part: "terminal" }),
      maxShells: options.maxShells,
    });
    options.tunnels.onShell((s) => rt.handle(s));
    return rt;
  },
  handlers: {},
  /** Sessions a crashed run left behind are ended before any new one can start. */
  start: (rt) => rt?.start(),
  onStopping: (rt) => rt?.stop(),
};

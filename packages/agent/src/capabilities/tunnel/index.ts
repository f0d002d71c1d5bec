/**
 * Tunnel requests (docs/protocol.md §17.1): `tunnel.open` asks the agent to dial back; the
 * tunnel layer (../../tunnels) does it and hands the session to the terminal or forward module.
 */
import type { CapabilityModule } from "../../capability.js";
import type { AgentTunnels } from "../../tunnels/index.js";

export interface TunnelCapabilityOptions {
  tunnels: AgentTunnels;
}

export const tunnel: CapabilityModule<
  "tunnel",
  "tunnel.open",
  AgentTunnels | undefined,
  TunnelCapabilityOptions
> = {
  name: "tunnel",
  create: (_ports, options) => options?.tunnels,
  handlers: {
    "tunnel.open"(tunnels, body) {
      tunnels?.dial(body);
      return undefined;
    },
  },
  onStopping(tunnels) {
    tunnels?.closeAll();
  },
};

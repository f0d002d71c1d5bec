/**
 * Port forwarding on the device (docs/protocol.md §17.5): each tcp channel of a forward
 * session connects to its destination (./forwarder.ts, ./connect.ts).
 */
import type { CapabilityModule } from "../../capability.js";
import type { AgentTunnels } from "../../tunnels/index.js";
import { createForwarder, type Forwarder } from "./forwarder.js";

export interface ForwardCapabilityOptions {
  tunnels: AgentTunnels;
  /** Most forwarded connections open at once on this device (default TUNNEL_LIMITS.maxChannels). */
  maxConnections?: number;
  /** Connect timeout per connection (default 10 s). */
  connectTimeoutMs?: number;
}

export const forward: CapabilityModule<"forward", never, Forwarder | null, ForwardCapabilityOptions> = {
  name: "forward",
  create(ports, options) {
    if (!options) return null;
    const f = createForwarder({
      log: ports.log.child({ part: "forward" }),
      maxConnections: options.maxConnections,
      connectTimeoutMs: options.connectTimeoutMs,
    });
    options.tunnels.onTcp(f.handle);
    return f;
  },
  handlers: {},
  onStopping(f) {
    f?.closeAll();
  },
};

/**
 * Port forwarding (docs/protocol.md §17.5): the user's WebSocket for `tether forward`, one
 * tunnel channel per local TCP connection. The session (allow-list, limits, audit, the
 * device's dial-back) is the tunnel layer's; this module serves the user's side.
 */
import { FORWARD_WS_PATH } from "@tether/protocol";
import type { CapabilityModule } from "../../capability.js";
import { ForwardEndpoint } from "./endpoint.js";

export type ForwardApi = {
  /** Open forward WebSockets (tests, metrics). */
  stats(): { sockets: number };
};

export { DEFAULT_FORWARD_LIMITS, type ForwardLimits } from "./endpoint.js";

export const forward: CapabilityModule<never, ForwardApi> = {
  name: "forward",
  create(ctx) {
    const endpoint = new ForwardEndpoint(ctx, ctx.log.child({ part: "forward" }));
    return {
      name: "forward",
      api: { stats: () => endpoint.stats() },
      up: {},
      websockets: { [FORWARD_WS_PATH]: endpoint.upgrade },
      userChanged: (change) => endpoint.userChanged(change),
      close: async () => endpoint.close(),
    };
  },
};

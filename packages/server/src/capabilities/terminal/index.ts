/**
 * Terminals (docs/protocol.md §17.3): the user's WebSocket for shells (web terminal, `tether
 * shell`), several participants per session, the sessions list and recordings, and the
 * project's tunnel settings. Sessions themselves (limits, audit, recording, the device's
 * dial-back) are the tunnel layer's; this module serves the users.
 */
import { TERMINAL_WS_PATH } from "@tether/protocol";
import type { CapabilityModule } from "../../capability.js";
import { DEFAULT_ENDPOINT_LIMITS, type EndpointLimits, TerminalEndpoint } from "./endpoint.js";
import { terminalRoutes } from "./routes.js";

export type TerminalApi = {
  /** Open terminal WebSockets and the sessions they serve (tests, metrics). */
  stats(): { sockets: number; rooms: number };
};

export { DEFAULT_ENDPOINT_LIMITS, type EndpointLimits } from "./endpoint.js";

export const terminal: CapabilityModule<never, TerminalApi> = {
  name: "terminal",
  create(ctx) {
    const limits: EndpointLimits = { ...DEFAULT_ENDPOINT_LIMITS };
    const endpoint = new TerminalEndpoint(ctx, ctx.log.child({ part: "terminal" }), limits);
    return {
      name: "terminal",
      api: { stats: () => endpoint.stats() },
      up: {},
      routes: (app) => terminalRoutes(app, ctx.tunnels),
      websockets: { [TERMINAL_WS_PATH]: endpoint.upgrade },
      userChanged: (change) => endpoint.userChanged(change),
      close: () => endpoint.close(),
    };
  },
};

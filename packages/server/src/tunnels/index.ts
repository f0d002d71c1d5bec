/** The tunnel layer's one entry point for capabilities and create-server (docs/protocol.md §17). */
export type {
  EndReason,
  OpenRequest,
  SessionEnd,
  ShellSpec,
  TunnelChannel,
  TunnelLayer,
  TunnelLimits,
  TunnelSession,
} from "./types.js";
export { DEFAULT_TUNNEL_LIMITS } from "./types.js";
export { createTunnelLayer, type TunnelLayerDeps, tunnelMigrations } from "./layer.js";
export { authenticateUpgrade, refuseUpgrade } from "./upgrade-auth.js";
export { type LinkError, UserLinkBase } from "./user-link.js";
export { type UserSocketLimits, type UserSocketOptions, UserSockets } from "./user-socket.js";
export { endClose, refusalClose } from "./close-codes.js";

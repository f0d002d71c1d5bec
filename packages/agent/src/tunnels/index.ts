/** The agent's tunnel layer: its one entry point (docs/protocol.md §17). */
export type {
  AgentChannel,
  AgentTunnels,
  AgentTunnelsOptions,
  ShellHandler,
  ShellOpen,
  ShellSession,
  TcpHandler,
  TcpSession,
  TunnelOpen,
} from "./types.js";
export { createAgentTunnels } from "./dialer.js";

/** Documented default data directories (README "Data directories"). */
import { homedir } from "node:os";
import { join } from "node:path";

function base(): string {
  if (process.env.TETHER_HOME) return process.env.TETHER_HOME;
  if (process.getuid?.() === 0) return "/var/lib/tether";
  return join(process.env.XDG_DATA_HOME || join(homedir(), ".local", "share"), "tether");
}

/** Server: $TETHER_HOME/server, else /var/lib/tether/server as root, else ~/.local/share/tether/server. */
export const defaultServerDataDir = (): string => join(base(), "server");
/** Agent: $TETHER_HOME/agent, else /var/lib/tether/agent as root, else ~/.local/share/tether/agent. */
export const defaultAgentDataDir = (): string => join(base(), "agent");

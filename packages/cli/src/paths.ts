/**
 * Default data directories (same rules as @tether/server's paths.ts; duplicated so the CLI
 * can resolve them without loading the server, and with env/home injectable for tests).
 */
import { homedir } from "node:os";
import { join } from "node:path";

type Env = Record<string, string | undefined>;

function base(env: Env, home: string): string {
  if (env.TETHER_HOME) return env.TETHER_HOME;
  if (process.getuid?.() === 0) return "/var/lib/tether";
  return join(env.XDG_DATA_HOME || join(home, ".local", "share"), "tether");
}

export const defaultServerDataDir = (env: Env = process.env, home = homedir()): string =>
  join(base(env, home), "server");
export const defaultAgentDataDir = (env: Env = process.env, home = homedir()): string =>
  join(base(env, home), "agent");

/** Where `tether login` keeps its credentials. */
export const configFile = (env: Env = process.env, home = homedir()): string =>
  join(env.XDG_CONFIG_HOME || join(home, ".config"), "tether", "config.json");

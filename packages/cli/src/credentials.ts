/**
 * Where the CLI finds its server and token, in order:
 *   1. TETHER_URL + TETHER_TOKEN (+ TETHER_CA_CERT, a path to the CA PEM);
 *   2. the file written by `tether login` (~/.config/tether/config.json);
 *   3. on the server machine: the server data dir ($TETHER_DATA or the default) holding
 *      server.json and a readable admin.token.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { CliError, EXIT } from "./io.js";
import { configFile, defaultServerDataDir } from "./paths.js";

type Env = Record<string, string | undefined>;

export interface Credentials {
  url: string;
  token: string;
  /** PEM text of the CA to trust, if any. */
  caCert?: string;
  /** Where these came from (for messages). */
  source: "env" | "login" | "server";
  /** The file they came from (login file or server data dir). */
  path?: string;
}

export interface SavedConfig {
  url: string;
  token: string;
  /** PEM text (a path is accepted too when reading). */
  caCert?: string;
}

const isPem = (s: string) => s.includes("-----BEGIN");

function readCa(value: string | undefined, what: string): string | undefined {
  if (!value) return undefined;
  if (isPem(value)) return value;
  try {
    return readFileSync(value, "utf8");
  } catch (err) {
    throw new CliError(`cannot read the CA certificate ${value} (${what}): ${(err as Error).message}`);
  }
}

export function resolveCredentials(o: { env: Env; home: string }): Credentials | null {
  const { env, home } = o;
  if (env.TETHER_URL || env.TETHER_TOKEN) {
    if (!env.TETHER_URL || !env.TETHER_TOKEN)
      throw new CliError("set both TETHER_URL and TETHER_TOKEN (or neither)", EXIT.auth);
    return {
      url: env.TETHER_URL,
      token: env.TETHER_TOKEN,
      caCert: readCa(env.TETHER_CA_CERT, "TETHER_CA_CERT"),
      source: "env",
    };
  }
  const cfgPath = configFile(env, home);
  if (existsSync(cfgPath)) {
    let cfg: SavedConfig;
    try {
      cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
    } catch (err) {
      throw new CliError(`cannot read ${cfgPath}: ${(err as Error).message}; run tether login again`);
    }
    if (!cfg?.url || !cfg?.token)
      throw new CliError(`${cfgPath} is incomplete; run tether login again`, EXIT.auth);
    return {
      url: cfg.url,
      token: cfg.token,
      caCert: readCa(cfg.caCert, cfgPath),
      source: "login",
      path: cfgPath,
    };
  }
  const dir = env.TETHER_DATA || defaultServerDataDir(env, home);
  const infoPath = join(dir, "server.json");
  const tokenPath = join(dir, "admin.token");
  if (existsSync(infoPath) && existsSync(tokenPath)) {
    let token: string;
    let info: { url?: string; caCert?: string };
    try {
      token = readFileSync(tokenPath, "utf8").trim();
      info = JSON.parse(readFileSync(infoPath, "utf8"));
    } catch {
      return null; // not readable by this user: not our credentials
    }
    if (!token || !info.url) return null;
    let caCert: string | undefined;
    try {
      caCert = readCa(info.caCert, infoPath);
    } catch {
      caCert = undefined;
    }
    return { url: info.url, token, caCert, source: "server", path: dir };
  }
  return null;
}

export function requireCredentials(o: { env: Env; home: string }): Credentials {
  const c = resolveCredentials(o);
  if (!c) {
    throw new CliError(
      "not logged in: run `tether login --url URL --token TOKEN`, or set TETHER_URL and TETHER_TOKEN",
      EXIT.auth,
    );
  }
  return c;
}

export function saveConfig(o: { env: Env; home: string }, cfg: SavedConfig): string {
  const p = configFile(o.env, o.home);
  mkdirSync(dirname(p), { recursive: true, mode: 0o700 });
  writeFileSync(p, `${JSON.stringify(cfg, null, 2)}\n`, { mode: 0o600 });
  chmodSync(p, 0o600);
  return p;
}

/** Returns the removed file's path, or null when there was none. */
export function removeConfig(o: { env: Env; home: string }): string | null {
  const p = configFile(o.env, o.home);
  if (!existsSync(p)) return null;
  rmSync(p);
  return p;
}

/** How a server is configured (CLI flags and tests). */
import type { Logger } from "pino";

export interface HostPort {
  host: string;
  port: number;
}

export interface ServerConfig {
  dataDir: string;
  listen: HostPort;
  mqttListen: HostPort;
  publicUrl?: string;
  database?: string;
  tlsCert?: string;
  tlsKey?: string;
  rekeySeconds?: number;
  logLevel?: string;
  log?: Logger;
  /**
   * External broker (Mosquitto + dynamic security) instead of the embedded one: `url` is
   * what the server dials, `adminFile` holds the dynsec admin {"username","password"},
   * `agentUrl` is what agents are told (default `url`). mqttListen is then unused.
   */
  broker?: { url: string; adminFile: string; agentUrl?: string; caFile?: string };
  /** Remote execution timings (tests shorten them). */
  exec?: { sweepMs?: number; deliverMs?: number; lostGraceMs?: number };
}

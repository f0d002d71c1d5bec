/**
 * The one list of server capability modules (docs/architecture.md §7, §9). Adding a
 * capability: its folder under ./capabilities/, one entry here, one in the agent's list.
 * The types below make a message type without a handler, or with two, fail to compile.
 */
import type { UpType } from "@tether/protocol";
import type { CapabilityContext, ServerCapability, UpTypesOf } from "./capability.js";
import { alerts } from "./capabilities/alerts/index.js";
import { config } from "./capabilities/config/index.js";
import { credential } from "./capabilities/credential/index.js";
import { exec } from "./capabilities/exec/index.js";
import { forward } from "./capabilities/forward/index.js";
import { logs } from "./capabilities/logs/index.js";
import { metrics } from "./capabilities/metrics/index.js";
import { ping } from "./capabilities/ping/index.js";
import { ssh } from "./capabilities/ssh/index.js";
import { telemetry } from "./capabilities/telemetry/index.js";
import { terminal } from "./capabilities/terminal/index.js";
import type { CapabilityUpHandlers, CoreUpType, DeliveredHandlers } from "./control/index.js";
import type { MigrationSet } from "./store/db.js";

export const CAPABILITIES = [
  ping,
  credential,
  exec,
  telemetry,
  metrics,
  logs,
  alerts,
  terminal,
  ssh,
  forward,
  config,
] as const;

type Modules = typeof CAPABILITIES;

/** Upstream types handled twice: by two modules, or by a module and the transport. */
type Twice<T extends readonly unknown[], Seen = CoreUpType> = T extends readonly [infer H, ...infer R]
  ? (UpTypesOf<H> & Seen) | Twice<R, Seen | UpTypesOf<H>>
  : never;
type Unhandled = Exclude<UpType, CoreUpType | UpTypesOf<Modules[number]>>;
// Compile-time check: fails with the offending message types named.
const _everyUpTypeHandledOnce: [Unhandled, Twice<Modules>] extends [never, never]
  ? true
  : { unhandled: Unhandled; handledTwice: Twice<Modules> } = true;
void _everyUpTypeHandledOnce;

/** Every capability's migrations, for the store (names are global). */
export const capabilityMigrations: MigrationSet[] = CAPABILITIES.flatMap((m) =>
  "migrations" in m && m.migrations ? [m.migrations] : [],
);

/** Every capability's tables in the telemetry database (names are global there). */
export const capabilityTelemetryMigrations: MigrationSet[] = CAPABILITIES.flatMap((m) =>
  "telemetryMigrations" in m && m.telemetryMigrations ? [m.telemetryMigrations as MigrationSet] : [],
);

/** The running capabilities, by name, with what each exposes to the server and to tests. */
export interface RunningCapabilities {
  ping: ReturnType<(typeof ping)["create"]>["api"];
  credential: ReturnType<(typeof credential)["create"]>["api"];
  exec: ReturnType<(typeof exec)["create"]>["api"];
  telemetry: ReturnType<(typeof telemetry)["create"]>["api"];
  metrics: ReturnType<(typeof metrics)["create"]>["api"];
  logs: ReturnType<(typeof logs)["create"]>["api"];
  alerts: ReturnType<(typeof alerts)["create"]>["api"];
  terminal: ReturnType<(typeof terminal)["create"]>["api"];
  ssh: ReturnType<(typeof ssh)["create"]>["api"];
  forward: ReturnType<(typeof forward)["create"]>["api"];
  config: ReturnType<(typeof config)["create"]>["api"];
}

export interface Assembled {
  list: ServerCapability<UpType>[];
  api: RunningCapabilities;
  up: CapabilityUpHandlers;
  delivered: DeliveredHandlers;
}

/** Create every capability and merge their handler maps (a duplicate is refused at run time too). */
export function createCapabilities(ctx: CapabilityContext): Assembled {
  const list: ServerCapability<UpType>[] = [];
  const api: Record<string, unknown> = {};
  const up: Record<string, unknown> = {};
  const delivered: Record<string, unknown> = {};
  for (const m of CAPABILITIES) {
    const c = (m.create as (ctx: CapabilityContext) => ServerCapability<UpType> & { api: unknown })(ctx);
    for (const [k, h] of Object.entries(c.up)) {
      if (up[k]) throw new Error(`upstream message ${k} has two handlers`);
      up[k] = h;
    }
    for (const [k, h] of Object.entries(c.delivered ?? {})) {
      if (delivered[k]) throw new Error(`delivery of ${k} has two handlers`);
      delivered[k] = h;
    }
    api[m.name] = c.api;
    list.push(c);
  }
  return {
    list,
    api: api as unknown as RunningCapabilities,
    up: up as CapabilityUpHandlers,
    delivered: delivered as DeliveredHandlers,
  };
}

/**
 * Runs a list of capability modules inside one control channel: builds their runtimes from
 * the channel's ports, merges their handler maps into one (each downstream type once) and
 * fans the lifecycle hooks out, in list order.
 */
import { type DownType, DownMessages } from "@tether/protocol";
import type { AnyCapability, CapabilityPorts } from "./capability.js";
import { CORE_DOWN_TYPES } from "./control/core-handlers.js";
import type { ChannelExtension, ChannelPorts } from "./control/extension.js";
import type { DownHandler } from "./control/handler.js";

export interface CapabilityHost extends ChannelExtension {
  /** Hand each module its member of `settings` (by module name); modules without one are left alone. */
  applySettings(settings: Record<string, unknown>): void;
}

export function hostCapabilities(
  modules: readonly AnyCapability[],
  channelPorts: ChannelPorts,
  options: object = {},
): CapabilityHost {
  const byName = options as Readonly<Record<string, unknown>>;
  const applySettings = (settings: Record<string, unknown>) => {
    for (const { m, rt } of running) if (m.name in settings) m.applySettings?.(rt, settings[m.name]);
  };
  const ports: CapabilityPorts = { ...channelPorts, applySettings };
  const running: { m: AnyCapability; rt: unknown }[] = [];
  for (const m of modules) running.push({ m, rt: m.create(ports, byName[m.name]) });
  const handlers: Record<string, DownHandler<DownType>> = {};
  const owner = new Map<string, string>(CORE_DOWN_TYPES.map((t) => [t, "the transport"]));
  for (const { m, rt } of running) {
    for (const [t, handle] of Object.entries(m.handlers) as [
      DownType,
      (rt: unknown, b: unknown) => never,
    ][]) {
      const taken = owner.get(t);
      if (taken) throw new Error(`downstream type ${t} is handled by both ${taken} and ${m.name}`);
      owner.set(t, m.name);
      handlers[t] = (body) => handle(rt, body);
    }
  }
  const missing = Object.keys(DownMessages).filter((t) => !owner.has(t));
  if (missing.length) throw new Error(`no handler for downstream type(s) ${missing.join(", ")}`);
  return {
    handlers: handlers as unknown as ChannelExtension["handlers"],
    start() {
      for (const { m, rt } of running) void m.start?.(rt);
    },
    onConnected() {
      for (const { m, rt } of running) m.onConnected?.(rt);
    },
    onStopping() {
      for (const { m, rt } of running) m.onStopping?.(rt);
    },
    applySettings,
  };
}

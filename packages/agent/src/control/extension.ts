/**
 * What plugs into the control channel (the agent plugs in its capability modules,
 * capabilities.ts): handlers for every downstream type the transport does not handle itself,
 * and lifecycle hooks. The channel builds the ports first and hands them to the plug.
 */
import type { DownType } from "@tether/protocol";
import type { Logger } from "pino";
import type { BrokerSecrets } from "./broker-secrets.js";
import type { CoreDownType } from "./core-handlers.js";
import type { HandlerMap } from "./handler.js";
import type { JournalPort } from "./journal-slice.js";
import type { Link } from "./link.js";

/** The narrow ports the channel offers; each capability takes the ones it needs. */
export interface ChannelPorts {
  link: Link;
  journal: JournalPort;
  secrets: BrokerSecrets;
  log: Logger;
}

export type ExtensionDownType = Exclude<DownType, CoreDownType>;

export interface ChannelExtension {
  handlers: HandlerMap<ExtensionDownType>;
  /** Once, when the channel is created (agent start), connected or not. */
  start(): void;
  /** After every handshake, once the outbox was re-sent. */
  onConnected(): void;
  /** At a clean stop, before the goodbye. */
  onStopping(): void;
}

export type Plug = (ports: ChannelPorts) => ChannelExtension;

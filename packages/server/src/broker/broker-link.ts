/**
 * The one interface through which the server reaches the control-channel broker
 * (docs/architecture.md §6): embedded (Aedes, in-process) or external (Mosquitto, later).
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";

export interface DeviceAuth {
  id: string;
  shard: number;
}

export interface BrokerHooks {
  /** Check a device's CONNECT credentials; null refuses. */
  authenticate(
    clientId: string,
    username: string | undefined,
    password: Buffer | undefined,
  ): Promise<DeviceAuth | null>;
  /** Upstream payload published by a device on its own up topic. */
  onUp(deviceId: string, payload: Buffer): void;
  /** A device's network connection went away (embedded broker only: immediate presence). */
  onDisconnect(deviceId: string): void;
}

export interface BrokerLink {
  readonly kind: "embedded" | "external";
  /** mqtts:// address the broker listens on (as seen from this host). */
  readonly mqttUrl: string;
  publish(topic: string, payload: Buffer): Promise<void>;
  /** Close a device's connection now (revocation, credential change). */
  kick(deviceId: string): void;
  /** Close a device's current connection; it may reconnect (e.g. with a rotated secret). */
  disconnect(deviceId: string): void;
  /** Handle an MQTT-over-WebSocket stream arriving at /mqtt on the HTTPS port. */
  handleWebSocket?(stream: Duplex, req: IncomingMessage): void;
  isConnected(deviceId: string): boolean;
  close(): Promise<void>;
}

/**
 * The telemetry token's delivery (docs/protocol.md §14.1). `telemetry.token` (durable): store
 * the token as the next one (telemetry.json, fsynced) before the ack; the server retires the
 * old token only after that ack, and uploads try the new one first from now on.
 */
import type { CapabilityModule } from "../../capability.js";
import type { AgentTelemetry } from "../../telemetry/index.js";

export interface TelemetryCapabilityOptions {
  telemetry: AgentTelemetry;
}

export const telemetry: CapabilityModule<
  "telemetry",
  "telemetry.token",
  AgentTelemetry | undefined,
  TelemetryCapabilityOptions
> = {
  name: "telemetry",
  create: (_ports, options) => options?.telemetry,
  handlers: {
    "telemetry.token"(layer, body) {
      // Without a layer nothing could be stored: throwing leaves the message un-acked, so the
      // server re-sends it rather than believing the device has the token.
      if (!layer) throw new Error("telemetry.token: this agent runs no telemetry layer");
      layer.storeToken(body.token, body.url);
      return [];
    },
  },
};

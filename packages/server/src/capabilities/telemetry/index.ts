/**
 * The telemetry channel's control-channel side as a capability (docs/protocol.md §14.1): the
 * token table's migration, the `telemetry.token` delivery (the agent's ack retires the older
 * token), a first token for each accepted device, the sweep that issues missing tokens and
 * rotates old ones, and the ingest route of the telemetry layer.
 */
import type { CapabilityModule } from "../../capability.js";
import type { TelemetryLayer } from "../../telemetry/index.js";
import { DEFAULT_SWEEP_MS, telemetryTokenMigrations } from "../../telemetry/index.js";

export const telemetry: CapabilityModule<never, TelemetryLayer> = {
  name: "telemetry",
  migrations: telemetryTokenMigrations,
  create(ctx) {
    const layer = ctx.telemetry;
    let timer: NodeJS.Timeout | undefined;
    const sweep = () =>
      layer.sweepTokens().catch((err) => ctx.log.error({ err }, "telemetry: token sweep failed"));
    return {
      name: "telemetry",
      api: layer,
      up: {},
      delivered: {
        "telemetry.token": (device, body) => layer.tokenDelivered(device, body.token),
      },
      routes: (app) => layer.routes(app),
      async deviceAccepted(device) {
        await layer.ensureToken(device);
      },
      async deviceDeleted(deviceId) {
        await layer.forgetDevice(deviceId);
      },
      async start() {
        await sweep();
        timer = setInterval(sweep, ctx.config.telemetry?.sweepMs ?? DEFAULT_SWEEP_MS);
        timer.unref();
      },
      async close() {
        clearInterval(timer);
      },
    };
  },
};

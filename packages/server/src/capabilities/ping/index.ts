/** Liveness (`ping`) and durable delivery (`echo`) probes, as a capability of their own. */
import type { CapabilityModule } from "../../capability.js";
import { pingMigrations } from "./migrations.js";
import { Probes } from "./probes.js";
import { pingRoutes } from "./routes.js";

export type { Probes } from "./probes.js";

export const ping: CapabilityModule<"pong" | "echo.reply", Probes> = {
  name: "ping",
  // echo_replies is created by the core's 0001_init (it predates capability modules).
  migrations: pingMigrations,
  create(ctx) {
    const probes = new Probes(ctx.link, ctx.db, ctx.log);
    return {
      name: "ping",
      api: probes,
      up: {
        pong: (c, b) => probes.pong(c, b),
        "echo.reply": (c, b) => probes.echoReply(c, b),
      },
      routes: (app) => pingRoutes(app, { probes, devices: ctx.devices, db: ctx.db }),
      async close() {
        probes.close();
      },
    };
  },
};

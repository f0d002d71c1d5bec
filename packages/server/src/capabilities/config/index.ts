/**
 * Remote configuration, server side (docs/protocol.md §18): the model (layers, revisions,
 * groups, schema, secrets at rest: ./model/) and delivery (desired vs reported, the outbox,
 * reports, blobs, rollouts: ./delivery/), wired through the contract in ./types.ts.
 */
import type { CapabilityModule } from "../../capability.js";
import type { Dialect } from "../../store/db.js";
import { Delivery } from "./delivery/delivery.js";
import { deliveryMigrations } from "./delivery/migrations.js";
import { Rollouts } from "./delivery/rollouts.js";
import { deliveryRoutes } from "./delivery/routes.js";
import { configModelMigrations } from "./model/migrations.js";
import { ConfigModelImpl } from "./model/model.js";
import { configModelRoutes } from "./model-routes.js";

export interface ConfigApi {
  model: ConfigModelImpl;
  delivery: Delivery;
  rollouts: Rollouts;
}

export const config: CapabilityModule<"config.report", ConfigApi> = {
  name: "config",
  migrations: (dialect: Dialect) => ({ ...configModelMigrations(dialect), ...deliveryMigrations(dialect) }),
  create(ctx) {
    const log = ctx.log.child({ part: "config" });
    const deps = { db: ctx.db, link: ctx.link, audit: ctx.audit, log, model: () => model };
    const delivery = new Delivery(deps);
    const rollouts = new Rollouts({
      ...deps,
      recompute: (p, ids, actor) => delivery.recompute(p, ids, actor),
    });
    delivery.rollouts = rollouts;
    const model: ConfigModelImpl = new ConfigModelImpl({
      db: ctx.db,
      dialect: ctx.dialect,
      devices: ctx.devices,
      audit: ctx.audit,
      log,
      dataDir: ctx.dataDir,
      delivery: () => delivery,
    });
    const recompute = (projectId: number, ids: string[], actor: string, o?: { retarget?: "changed" }) =>
      delivery
        .recompute(projectId, ids, actor, o)
        .catch((err) => log.error({ err, deviceIds: ids }, "config: delivery failed"));
    return {
      name: "config",
      api: { model, delivery, rollouts },
      up: { "config.report": (c, body) => delivery.report(c, body) },
      delivered: { "config.apply": (device, _body, mid) => delivery.delivered(device, mid) },
      routes: async (app) => {
        await configModelRoutes(app, model, { devices: ctx.devices, audit: ctx.audit, delivery });
        await deliveryRoutes(app, {
          delivery,
          rollouts,
          model: () => model,
          devices: ctx.devices,
          telemetry: ctx.telemetry,
        });
      },
      deviceAccepted: (d) => recompute(d.project_id, [d.id], "system"),
      deviceLabelsChanged: (d, actor) => recompute(d.project_id, [d.id], actor, { retarget: "changed" }),
      async deviceDeleted(id) {
        await delivery.forget(id);
        await rollouts.forget(id);
        await model.forgetDevice(id);
      },
      async start() {
        await rollouts.start();
        await delivery.reconcile().catch((err) => log.error({ err }, "config: catching up at start failed"));
      },
      async close() {
        rollouts.close();
      },
    };
  },
};

/** Broker secret rotation as a capability (docs/protocol.md §7–8; see ./credentials.ts). */
import type { CapabilityModule } from "../../capability.js";
import { Credentials } from "./credentials.js";
import { credentialRoutes } from "./routes.js";

export type { Credentials } from "./credentials.js";

export const credential: CapabilityModule<never, Credentials> = {
  name: "credential",
  create(ctx) {
    const credentials = new Credentials(ctx);
    return {
      name: "credential",
      api: credentials,
      up: {},
      delivered: {
        "credential.rotate": (device, body, mid) => credentials.applied(device, body.password, mid),
      },
      routes: (app) =>
        credentialRoutes(app, {
          credentials,
          devices: ctx.devices,
          audit: ctx.audit,
          link: ctx.link,
          telemetry: ctx.telemetry,
        }),
    };
  },
};

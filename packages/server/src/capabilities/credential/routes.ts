/** `POST /devices/{ref}/rotate-credential` (`tether devices rotate-credential`). */
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import type { Audit } from "../../audit.js";
import type { ControlLink } from "../../control/link.js";
import type { Devices } from "../../devices.js";
import type { TelemetryLayer } from "../../telemetry/index.js";
import { who } from "../../http/auth.js";
import type { Credentials } from "./credentials.js";

const Ref = Type.Object({ ref: Type.String({ minLength: 1, maxLength: 128 }) });

export async function credentialRoutes(
  app: FastifyInstance,
  s: {
    credentials: Credentials;
    devices: Devices;
    audit: Audit;
    link: ControlLink;
    telemetry: TelemetryLayer;
  },
) {
  app.post(
    "/api/v1/devices/:ref/rotate-credential",
    {
      schema: {
        tags: ["devices"],
        summary:
          "Rotate the device's broker secret and its telemetry token over the control channel (operator); each takes effect once the agent has stored it (the old telemetry token works until then)",
        params: Ref,
        response: {
          200: Type.Object({
            device: Type.String(),
            mid: Type.Integer(),
            /** The message id of the new telemetry token (docs/protocol.md §14.1). */
            telemetryMid: Type.Integer(),
            queued: Type.Boolean(),
          }),
        },
      },
    },
    async (req) => {
      const p = who(req, "operator");
      const d = await s.devices.findAccepted(p.projectId, (req.params as { ref: string }).ref);
      const mid = await s.credentials.rotate(d);
      // The telemetry token goes with the broker secret (a suspected leak replaces both).
      const telemetryMid = await s.telemetry.rotateToken(d);
      await s.audit.write({
        actor: p.username,
        action: "device.rotate-credential",
        projectId: p.projectId,
        deviceId: d.id,
        detail: { name: d.name, mid, telemetryMid },
      });
      return { device: d.name, mid, telemetryMid, queued: !s.link.isConnected(d.id) };
    },
  );
}

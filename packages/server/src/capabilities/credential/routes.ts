/** `POST /devices/{ref}/rotate-credential` (`tether devices rotate-credential`). */
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import type { Audit } from "../../audit.js";
import type { ControlLink } from "../../control/link.js";
import type { Devices } from "../../devices.js";
import { who } from "../../http/auth.js";
import type { Credentials } from "./credentials.js";

const Ref = Type.Object({ ref: Type.String({ minLength: 1, maxLength: 128 }) });

export async function credentialRoutes(
  app: FastifyInstance,
  s: { credentials: Credentials; devices: Devices; audit: Audit; link: ControlLink },
) {
  app.post(
    "/api/v1/devices/:ref/rotate-credential",
    {
      schema: {
        tags: ["devices"],
        summary:
          "Rotate the device's broker secret over the control channel (operator); it takes effect once the agent has stored it",
        params: Ref,
        response: {
          200: Type.Object({ device: Type.String(), mid: Type.Integer(), queued: Type.Boolean() }),
        },
      },
    },
    async (req) => {
      const p = who(req, "operator");
      const d = await s.devices.findAccepted(p.projectId, (req.params as { ref: string }).ref);
      const mid = await s.credentials.rotate(d);
      await s.audit.write({
        actor: p.username,
        action: "device.rotate-credential",
        projectId: p.projectId,
        deviceId: d.id,
        detail: { name: d.name, mid },
      });
      return { device: d.name, mid, queued: !s.link.isConnected(d.id) };
    },
  );
}

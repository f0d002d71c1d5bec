/** The audit log (admins). */
import { AuditEntry } from "@tether/protocol";
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import { who } from "./auth.js";
import type { Services } from "./context.js";

export async function auditRoutes(app: FastifyInstance, s: Services) {
  app.get(
    "/api/v1/audit",
    {
      schema: {
        tags: ["audit"],
        summary: "Audit log of this project, newest first (admin)",
        querystring: Type.Object({
          device: Type.Optional(Type.String()),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
        }),
        response: { 200: Type.Array(AuditEntry) },
      },
    },
    async (req) => {
      const p = who(req, "admin");
      const q = req.query as { device?: string; limit?: number };
      const deviceId = q.device ? (await s.devices.find(p.projectId, q.device)).id : undefined;
      return s.audit.list(p.projectId, { deviceId, limit: q.limit });
    },
  );
}

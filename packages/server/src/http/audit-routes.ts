/** The audit log (admins). */
import { AUDIT_PAGE_DEFAULT, AUDIT_PAGE_MAX, AuditEntry, AuditQuery, TetherError } from "@tether/protocol";
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import { who } from "./auth.js";
import type { Services } from "./context.js";

/** An ISO 8601 time from the query, normalised to the stored form (UTC, milliseconds). */
function instant(name: string, v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  if (Number.isNaN(t))
    throw new TetherError(
      "TETHER_ERR_BAD_REQUEST",
      `${name} must be an ISO 8601 time, e.g. 2026-05-01T12:00:00Z`,
    );
  return new Date(t).toISOString();
}

export async function auditRoutes(app: FastifyInstance, s: Services) {
  app.get(
    "/api/v1/audit",
    {
      schema: {
        tags: ["audit"],
        summary: "Audit log of this project, newest first (admin)",
        description:
          `Filters combine with AND. One page holds \`limit\` entries (default ${AUDIT_PAGE_DEFAULT}, at most ${AUDIT_PAGE_MAX}); ` +
          "for the next, older page pass the last entry's id as `before`. A page shorter than `limit` is the last.",
        querystring: AuditQuery,
        response: { 200: Type.Array(AuditEntry) },
      },
    },
    async (req) => {
      const p = who(req, "admin");
      const q = req.query as AuditQuery;
      let deviceIds: string[] | undefined;
      if (q.device) {
        try {
          deviceIds = [(await s.devices.find(p.projectId, q.device)).id];
        } catch (err) {
          if (!(err instanceof TetherError) || err.code !== "TETHER_ERR_DEVICE_NOT_FOUND") throw err;
          // Not a device today: a deleted one the log still knows, by its id or last name.
          deviceIds = await s.audit.devicesNamed(p.projectId, q.device);
          if (!deviceIds.length) throw err;
        }
      }
      return s.audit.list(p.projectId, {
        deviceIds,
        actor: q.actor,
        action: q.action,
        since: instant("since", q.since),
        until: instant("until", q.until),
        before: q.before,
        limit: q.limit,
      });
    },
  );
}

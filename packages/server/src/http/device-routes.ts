/** Devices: list, show, state changes, labels, connection history. */
import { Connection, Device, DeviceNameField, LABEL_KEY, Labels, TetherError } from "@tether/protocol";
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import { type DeviceRow, toDevice } from "../devices.js";
import { who } from "./auth.js";
import type { Services } from "./context.js";

const Ref = Type.Object({ ref: Type.String({ minLength: 1, maxLength: 128 }) });

export async function deviceRoutes(app: FastifyInstance, s: Services) {
  const view = (r: DeviceRow, project: string) => {
    const d = toDevice(r, project);
    d.lastSeenAt = s.presence.seenAt(r.id) ?? d.lastSeenAt;
    return d;
  };

  app.get(
    "/api/v1/devices",
    {
      schema: {
        tags: ["devices"],
        summary: "List devices, optionally filtered by a selector (k=v,fact.arch=arm64)",
        querystring: Type.Object({ selector: Type.Optional(Type.String({ maxLength: 1024 })) }),
        response: { 200: Type.Array(Device) },
      },
    },
    async (req) => {
      const p = who(req);
      const { selector } = req.query as { selector?: string };
      // `?selector=` (blank) is no filter, as if absent; a non-blank one must parse.
      return (await s.devices.list(p.projectId, selector?.trim() ? selector : undefined)).map((r) =>
        view(r, p.project),
      );
    },
  );

  app.get(
    "/api/v1/devices/:ref",
    {
      schema: {
        tags: ["devices"],
        summary: "One device by id or unique name",
        params: Ref,
        response: { 200: Device },
      },
    },
    async (req) => {
      const p = who(req);
      return view(await s.devices.find(p.projectId, (req.params as any).ref), p.project);
    },
  );

  for (const action of ["accept", "reject", "revoke"] as const) {
    app.post(
      `/api/v1/devices/:ref/${action}`,
      {
        schema: {
          tags: ["devices"],
          summary: `${action[0].toUpperCase()}${action.slice(1)} a device (operator)`,
          params: Ref,
          response: { 200: Device },
        },
      },
      async (req) => {
        const p = who(req, "operator");
        const r = await s.deviceOps[action](p, (req.params as any).ref);
        return view(r, p.project);
      },
    );
  }

  app.delete(
    "/api/v1/devices/:ref",
    {
      schema: {
        tags: ["devices"],
        summary: "Delete a device (revokes it first if accepted) (operator)",
        params: Ref,
      },
    },
    async (req) => {
      const p = who(req, "operator");
      await s.deviceOps.remove(p, (req.params as any).ref);
      return { ok: true };
    },
  );

  app.patch(
    "/api/v1/devices/:ref",
    {
      schema: {
        tags: ["devices"],
        summary: "Rename a device and/or change labels (null removes a label) (operator)",
        params: Ref,
        body: Type.Object({
          // The device-name rule is checked by DeviceOps.rename (TETHER_ERR_BAD_DEVICE_NAME).
          name: Type.Optional(DeviceNameField),
          // A string sets, null removes. Values are checked in the handler, because the body
          // validator coerces types and would turn null into "".
          labels: Type.Optional(
            Type.Record(Type.String({ pattern: LABEL_KEY }), Type.Unknown(), { additionalProperties: false }),
          ),
        }),
        response: { 200: Device },
      },
    },
    async (req) => {
      const p = who(req, "operator");
      const b = req.body as { name?: string; labels?: Record<string, string | null> };
      for (const [k, v] of Object.entries(b.labels ?? {})) {
        if (v !== null && (typeof v !== "string" || v.length > 256)) {
          throw new TetherError(
            "TETHER_ERR_BAD_REQUEST",
            `label ${k}: the value must be text of at most 256 characters, or null to remove it`,
          );
        }
      }
      let ref = (req.params as any).ref as string;
      if (b.name) ref = (await s.deviceOps.rename(p, ref, b.name)).id;
      if (b.labels) ref = (await s.deviceOps.label(p, ref, b.labels)).id;
      return view(await s.devices.find(p.projectId, ref), p.project);
    },
  );

  app.get(
    "/api/v1/devices/:ref/connections",
    {
      schema: {
        tags: ["devices"],
        summary: "Connection history, newest first",
        params: Ref,
        response: { 200: Type.Array(Connection) },
      },
    },
    async (req) => {
      const p = who(req);
      const d = await s.devices.find(p.projectId, (req.params as any).ref);
      return (await s.devices.connections(d.id)).map((c) => ({
        connId: c.conn_id,
        connectedAt: c.connected_at,
        disconnectedAt: c.disconnected_at,
        reason: c.reason,
      }));
    },
  );
}

export { Labels };

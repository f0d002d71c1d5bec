/** Ping and the durable echo probe over HTTP. */
import { EchoResult, PingResult } from "@tether/protocol";
import type { FastifyInstance } from "fastify";
import type { Kysely } from "kysely";
import { Type } from "typebox";
import type { Devices } from "../../devices.js";
import { who } from "../../http/auth.js";
import type { DB } from "../../store/schema.js";
import type { Probes } from "./probes.js";

const Ref = Type.Object({ ref: Type.String({ minLength: 1, maxLength: 128 }) });

export async function pingRoutes(
  app: FastifyInstance,
  s: { probes: Probes; devices: Devices; db: Kysely<DB> },
) {
  app.post(
    "/api/v1/devices/:ref/ping",
    {
      schema: {
        tags: ["devices"],
        summary: "Round trip over the control channel (server → broker → agent → back)",
        params: Ref,
        body: Type.Optional(
          Type.Object({
            seq: Type.Optional(Type.Integer({ minimum: 0 })),
            timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 60000 })),
          }),
        ),
        response: { 200: PingResult },
      },
    },
    async (req) => {
      const p = who(req, "operator");
      const d = await s.devices.findAccepted(p.projectId, (req.params as { ref: string }).ref);
      const b = (req.body ?? {}) as { seq?: number; timeoutMs?: number };
      const rttMs = await s.probes.ping(d, b.timeoutMs ?? 10_000);
      return { device: d.name, seq: b.seq ?? 0, rttMs };
    },
  );

  app.post(
    "/api/v1/devices/:ref/echo",
    {
      schema: {
        tags: ["devices"],
        summary: "Durable delivery probe: queue an echo through the outbox; waits up to waitMs for the reply",
        params: Ref,
        body: Type.Object({
          data: Type.String({ maxLength: 65536 }),
          waitMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 60000 })),
        }),
        response: { 200: EchoResult },
      },
    },
    async (req) => {
      const p = who(req, "operator");
      const d = await s.devices.findAccepted(p.projectId, (req.params as { ref: string }).ref);
      const b = req.body as { data: string; waitMs?: number };
      return s.probes.echo(d, b.data, b.waitMs ?? 10_000);
    },
  );

  app.get(
    "/api/v1/devices/:ref/echoes",
    {
      schema: {
        tags: ["devices"],
        summary: "Echo replies received from the device (each stored once)",
        params: Ref,
        response: {
          200: Type.Array(
            Type.Object({ ref: Type.String(), data: Type.String(), receivedAt: Type.String() }),
          ),
        },
      },
    },
    async (req) => {
      const p = who(req);
      const d = await s.devices.find(p.projectId, (req.params as { ref: string }).ref);
      const rows = await s.db
        .selectFrom("echo_replies")
        .selectAll()
        .where("device_id", "=", d.id)
        .orderBy("id")
        .execute();
      return rows.map((r) => ({ ref: r.ref, data: r.data, receivedAt: r.received_at }));
    },
  );
}

/**
 * Sessions and tunnel settings over REST (docs/protocol.md §17.7): the history of shells,
 * commands and port forwards (viewers may read it), a session's asciicast recording (operators:
 * it holds what the terminal showed, typed passwords' echoes included), and the project's
 * settings (admins change them).
 */
import { SESSION_ID_PATTERN, SessionView, TetherError, TunnelSettings } from "@tether/protocol";
import type { FastifyInstance } from "fastify";
import { type Static, Type } from "typebox";
import { who } from "../../http/auth.js";
import type { TunnelLayer } from "../../tunnels/index.js";

const Id = Type.Object({ id: Type.String({ pattern: SESSION_ID_PATTERN }) });
const ListQuery = Type.Object({
  device: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  before: Type.Optional(Type.String({ pattern: SESSION_ID_PATTERN })),
});
const SettingsPatch = Type.Partial(TunnelSettings, { additionalProperties: false });

export async function terminalRoutes(app: FastifyInstance, tunnels: TunnelLayer): Promise<void> {
  app.get(
    "/api/v1/sessions",
    {
      schema: {
        tags: ["sessions"],
        summary:
          "Tunnel sessions (shells, commands, port forwards; live and ended), newest first; `device` = name or id; page with `before` = the last id of the previous page (default 50, at most 500)",
        querystring: ListQuery,
        response: { 200: Type.Object({ sessions: Type.Array(SessionView) }) },
      },
    },
    async (req) => {
      const p = who(req);
      return { sessions: await tunnels.list(p.projectId, req.query as Static<typeof ListQuery>) };
    },
  );

  app.get(
    "/api/v1/sessions/:id",
    {
      schema: {
        tags: ["sessions"],
        summary: "One session: who, which device, when, how long, how it ended, bytes each way",
        params: Id,
        response: { 200: SessionView },
      },
    },
    async (req) => {
      const p = who(req);
      const { id } = req.params as Static<typeof Id>;
      const s = await tunnels.get(p.projectId, id);
      if (!s)
        throw new TetherError("TETHER_ERR_SESSION_NOT_FOUND", `no session ${id} in project ${p.project}`);
      return s;
    },
  );

  app.get(
    "/api/v1/sessions/:id/recording",
    {
      schema: {
        tags: ["sessions"],
        summary:
          "The session's recording as asciicast v2 (application/x-asciicast; plays in `asciinema play`), operator: it holds what the terminal showed. Recorded only where the project's settings say so",
        params: Id,
      },
    },
    async (req, reply) => {
      const p = who(req, "operator");
      const { id } = req.params as Static<typeof Id>;
      if (!(await tunnels.get(p.projectId, id)))
        throw new TetherError("TETHER_ERR_SESSION_NOT_FOUND", `no session ${id} in project ${p.project}`);
      const stream = await tunnels.recording(p.projectId, id);
      if (!stream)
        throw new TetherError(
          "TETHER_ERR_RECORDING_NOT_FOUND",
          `session ${id} was not recorded (recording is off for the project) or its recording was pruned`,
        );
      reply
        .header("content-type", "application/x-asciicast; charset=utf-8")
        .header("content-disposition", `attachment; filename="${id}.cast"`)
        .header("cache-control", "no-store");
      return reply.send(stream);
    },
  );

  app.get(
    "/api/v1/project/tunnels",
    {
      schema: {
        tags: ["sessions"],
        summary:
          "The project's tunnel settings: whether shells are recorded, and where port forwards may go (default: the device's loopback)",
        response: { 200: TunnelSettings },
      },
    },
    async (req) => tunnels.settings.get(who(req).projectId),
  );

  app.put(
    "/api/v1/project/tunnels",
    {
      schema: {
        tags: ["sessions"],
        summary:
          "Change the project's tunnel settings (admin); fields left out stay. forwardAllow entries: HOST:PORT, HOST:LOW-HIGH or HOST:* (HOST a name, IPv4 or [IPv6], compared exactly)",
        body: SettingsPatch,
        response: { 200: TunnelSettings },
      },
    },
    async (req) => tunnels.settings.set(who(req, "admin"), req.body as Partial<TunnelSettings>),
  );
}

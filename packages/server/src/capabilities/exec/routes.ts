/** Remote command execution: run, list, show, cancel, live events (SSE), exec users. */
import {
  COMMAND_ID_PATTERN,
  Command,
  type CommandEvent,
  CommandOutputPage,
  CommandOutputQuery,
  CreateCommand,
  ProjectSettings,
  TetherError,
} from "@tether/protocol";
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import { who } from "../../http/auth.js";
import type { ExecApi } from "./api.js";
import { type ExecEvents, replayThenFollow } from "./events.js";
import type { Spool } from "./spool.js";

const Id = Type.Object({ id: Type.String({ pattern: COMMAND_ID_PATTERN }) });

export async function execRoutes(
  app: FastifyInstance,
  s: { exec: ExecApi; events: ExecEvents; spool: Spool; maxStreamsPerUser: number },
) {
  app.post(
    "/api/v1/commands",
    {
      bodyLimit: 1024 * 1024,
      schema: {
        tags: ["commands"],
        summary:
          "Run a command on devices named by `devices`, `selector` or `all` (operator; `all` needs admin). Answers at once; follow /events for output and results.",
        body: CreateCommand,
        response: { 201: Command },
      },
    },
    async (req, reply) => {
      const p = who(req, "operator");
      const c = await s.exec.create(p, req.body as CreateCommand);
      reply.code(201);
      return c;
    },
  );

  app.get(
    "/api/v1/commands",
    {
      schema: {
        tags: ["commands"],
        summary:
          "Command history, newest first. With `device`, only commands that ran there, each with that device's own run in `runs`; otherwise no per-device runs (see /commands/{id})",
        querystring: Type.Object({
          device: Type.Optional(Type.String({ maxLength: 128 })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
        }),
        response: { 200: Type.Array(Command) },
      },
    },
    async (req) => {
      const q = req.query as { device?: string; limit?: number };
      return s.exec.list(who(req), q);
    },
  );

  app.get(
    "/api/v1/commands/:id",
    {
      schema: {
        tags: ["commands"],
        summary:
          "One command with its per-device runs; `output=1` adds stdout/stderr (large output in part: `stdoutNext`/`stderrNext` say where /output continues)",
        params: Id,
        querystring: Type.Object({
          output: Type.Optional(
            Type.Union([Type.Literal("1"), Type.Literal("0"), Type.Literal("true"), Type.Literal("false")]),
          ),
        }),
        response: { 200: Command },
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      const { output } = req.query as { output?: string };
      return s.exec.get(who(req), id, { output: output === "1" || output === "true" });
    },
  );

  app.get(
    "/api/v1/commands/:id/output",
    {
      schema: {
        tags: ["commands"],
        summary:
          "One page of a device's stored stdout or stderr from `offset` (base64; at most the server's page size); `next` is where the following page starts, null at the end",
        params: Id,
        querystring: CommandOutputQuery,
        response: { 200: CommandOutputPage },
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      const q = req.query as CommandOutputQuery;
      return s.exec.readOutput(who(req), id, q);
    },
  );

  app.post(
    "/api/v1/commands/:id/cancel",
    {
      schema: {
        tags: ["commands"],
        summary: "Cancel: queued runs are dropped, running ones killed (operator)",
        params: Id,
        response: { 200: Command },
      },
    },
    async (req) => s.exec.cancel(who(req, "operator"), (req.params as { id: string }).id),
  );

  app.get(
    "/api/v1/commands/:id/events",
    {
      schema: {
        tags: ["commands"],
        summary:
          "Server-Sent Events: `run` (a device's state), `output` (base64 bytes of stdout/stderr), `done`. Replays everything so far first. EventSource clients may pass `project` in the query.",
        params: Id,
        querystring: Type.Object({ project: Type.Optional(Type.String({ maxLength: 64 })) }),
      },
    },
    async (req, reply) => {
      const p = who(req);
      const { id } = req.params as { id: string };
      await s.exec.get(p, id); // 404 before the stream starts
      let open = true;
      let unsubscribe = () => {};
      let heartbeat: NodeJS.Timeout | undefined;
      const raw = reply.raw;
      const end = () => {
        if (!open) return;
        open = false;
        clearInterval(heartbeat);
        unsubscribe();
        forget();
        raw.end();
      };
      let forget: () => void;
      try {
        forget = s.events.opened(
          { userId: p.userId, projectId: p.projectId, close: end },
          s.maxStreamsPerUser,
        );
      } catch (err) {
        if (err instanceof TetherError)
          req.log.warn(
            { user: p.username, limit: s.maxStreamsPerUser },
            "event stream refused: the user has the most streams open (--max-event-streams)",
          );
        throw err;
      }
      reply.hijack();
      raw.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        connection: "keep-alive",
        "x-content-type-options": "nosniff",
      });
      heartbeat = setInterval(() => open && !raw.writableNeedDrain && raw.write(": keepalive\n\n"), 15_000);
      req.raw.on("close", end);
      raw.on("close", end);
      // Backpressure: a write that fills the socket's buffer makes the replay wait for 'drain'.
      const write = (e: CommandEvent): boolean => {
        if (!open) return true;
        const ok = raw.write(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
        if (e.type === "done") end();
        return ok || !open;
      };
      const drained = () =>
        new Promise<void>((resolve) => {
          if (!open || !raw.writableNeedDrain) return resolve();
          const done = () => {
            raw.off("drain", done);
            raw.off("close", done);
            resolve();
          };
          raw.on("drain", done);
          raw.on("close", done);
        });
      const fail = (err: unknown) => {
        req.log.error({ err }, "command event stream failed");
        end();
      };
      try {
        const stop = await replayThenFollow(
          { events: s.events, spool: s.spool, get: () => s.exec.get(p, id) },
          id,
          { write, drained, fail },
        );
        if (open) unsubscribe = stop;
        else stop();
      } catch (err) {
        req.log.error({ err }, "command event stream failed");
        end();
      }
    },
  );

  app.get(
    "/api/v1/project/exec-users",
    {
      schema: {
        tags: ["commands"],
        summary:
          "Users commands in this project may run as (`exec --user`); empty = the agent's own user only",
        response: { 200: ProjectSettings },
      },
    },
    async (req) => ({ execUsers: await s.exec.execUsers(who(req).projectId) }),
  );

  app.put(
    "/api/v1/project/exec-users",
    {
      schema: {
        tags: ["commands"],
        summary: "Set the users commands may run as (admin)",
        body: ProjectSettings,
        response: { 200: ProjectSettings },
      },
    },
    async (req) => ({
      execUsers: await s.exec.setExecUsers(who(req, "admin"), (req.body as ProjectSettings).execUsers),
    }),
  );
}

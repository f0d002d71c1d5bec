/**
 * The logs REST API (docs/protocol.md §15): search and the live tail. Viewers may read; every
 * request stays inside the caller's project, and answers name devices by name and id.
 */
import { LOG_SEARCH_PATH, LOG_STREAM_PATH, LogQuery, LogSearchResult, TetherError } from "@tether/protocol";
import type { FastifyInstance } from "fastify";
import { type Static, Type } from "typebox";
import { who } from "../../http/auth.js";
import { parseCursor, resolveFilter, type SearchDeps, searchLogs } from "./search.js";
import type { TailHub } from "./tail.js";

const StreamQuery = Type.Object({
  device: Type.Optional(Type.String({ maxLength: 128 })),
  selector: Type.Optional(Type.String({ maxLength: 512 })),
  q: Type.Optional(Type.String({ maxLength: 512 })),
  source: Type.Optional(Type.String({ maxLength: 512 })),
  level: LogQuery.properties.level,
  after: Type.Optional(Type.String({ maxLength: 64 })),
  project: Type.Optional(Type.String({ maxLength: 64 })),
});

export async function logsRoutes(app: FastifyInstance, d: SearchDeps & { tail: TailHub }): Promise<void> {
  app.get(
    LOG_SEARCH_PATH,
    {
      schema: {
        tags: ["logs"],
        summary:
          'Search device logs: full text (every word; "quoted phrase"; word* prefix), device or selector, source, level and above, time range (default the last 24 h); newest first, paged with `before` = the previous page\'s `next`',
        querystring: Type.Intersect([
          LogQuery,
          Type.Object({ project: Type.Optional(Type.String({ maxLength: 64 })) }),
        ]),
        response: { 200: LogSearchResult },
      },
    },
    async (req) => searchLogs(d, who(req), req.query as LogQuery),
  );

  app.get(
    LOG_STREAM_PATH,
    {
      schema: {
        tags: ["logs"],
        summary:
          "Server-Sent Events: `line` (a LogLine, `id:` its id) as lines matching the filters are stored; q is a case-insensitive substring here. Resume with Last-Event-ID (or ?after=ID): the stored lines after it first, then live, without duplicates; `lagged` {dropped} when lines were skipped. A comment every 15 s.",
        querystring: StreamQuery,
      },
    },
    async (req, reply) => {
      const p = who(req);
      const q = req.query as Static<typeof StreamQuery>;
      const header = req.headers["last-event-id"];
      const after =
        parseCursor(typeof header === "string" ? header.trim() : undefined, "Last-Event-ID") ??
        parseCursor(q.after, "after");
      const { filter } = await resolveFilter(d, p, q);
      const text = q.q?.trim().toLowerCase();
      try {
        d.tail.open(
          p,
          {
            projectId: p.projectId,
            deviceIds: filter.deviceIds ? new Set(filter.deviceIds) : undefined,
            source: filter.source,
            unit: filter.unit,
            minLevel: filter.minLevel,
            text: text ? text : undefined,
          },
          after,
          req.raw,
          reply.raw,
          () => reply.hijack(),
        );
      } catch (err) {
        if (err instanceof TetherError)
          req.log.warn(
            { user: p.username, limit: d.tail.o.maxPerUser },
            "log stream refused: the user has the most streams open",
          );
        throw err;
      }
    },
  );
}

/**
 * The configuration model's REST API (docs/protocol.md §18.6): layers, files, history,
 * revisions, diff, rollback, groups, a device's effective configuration, status and the
 * project's JSON Schema. Viewers read; operators write; admins set the schema. Inside the
 * caller's project only. (Rollouts and blobs: ./delivery/routes.ts.)
 */
import {
  CANARY_PATTERN,
  CONFIG_LIMITS,
  ConfigChange,
  ConfigDeviceView,
  ConfigDiff,
  ConfigFileEntry,
  ConfigGroup,
  ConfigGroupCreate,
  ConfigGroupUpdate,
  ConfigLayerSummary,
  ConfigLayerView,
  ConfigPatch,
  ConfigRevision,
  ConfigSchemaView,
  ConfigStatusView,
  RolloutSpec,
  TetherError,
} from "@tether/protocol";
import type {
  FastifyError,
  FastifyInstance,
  FastifyRequest,
  FastifySchema,
  RouteHandlerMethod,
} from "fastify";
import { Type } from "typebox";
import type { Audit } from "../../audit.js";
import type { Devices } from "../../devices.js";
import { who } from "../../http/auth.js";
import type { ConfigModelImpl } from "./model/model.js";
import { ConfigViews } from "./model/views.js";
import type { ConfigDelivery } from "./types.js";

export interface ConfigModelRouteDeps {
  devices: Devices;
  audit: Audit;
  delivery: ConfigDelivery;
}

const LayerParam = Type.Object({ layer: Type.String({ minLength: 1, maxLength: 200 }) });
const RevParam = Type.Object({ rev: Type.Integer({ minimum: 1 }) });
const GroupParam = Type.Object({ name: Type.String({ minLength: 1, maxLength: 63 }) });
const DeviceParam = Type.Object({ device: Type.String({ minLength: 1, maxLength: 128 }) });
const Err = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) });

const RevisionDetail = Type.Object({
  ...ConfigRevision.properties,
  values: Type.Record(Type.String(), Type.Unknown()),
  secretKeys: Type.Array(Type.String()),
  files: Type.Array(ConfigFileEntry),
});

const Rollback = Type.Object(
  {
    revision: Type.Integer({ minimum: 1 }),
    baseRevision: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.Null()])),
    message: Type.Optional(Type.String({ maxLength: CONFIG_LIMITS.messageChars })),
    rollout: Type.Optional(RolloutSpec),
  },
  { additionalProperties: false },
);

const FileQuery = Type.Object({
  path: Type.String({ minLength: 1, maxLength: CONFIG_LIMITS.filePathChars }),
  secret: Type.Optional(
    Type.Union([Type.Literal("1"), Type.Literal("0"), Type.Literal("true"), Type.Literal("false")]),
  ),
  baseRevision: Type.Optional(Type.String({ pattern: "^([1-9][0-9]{0,15}|null)$" })),
  message: Type.Optional(Type.String({ maxLength: CONFIG_LIMITS.messageChars })),
  canary: Type.Optional(Type.String({ pattern: CANARY_PATTERN })),
  waitMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 30 * 24 * 3600 * 1000 })),
  maxFailures: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000 })),
});
type FileQuery = {
  path: string;
  secret?: string;
  baseRevision?: string;
  message?: string;
  canary?: string;
  waitMs?: number;
  maxFailures?: number;
};

const layerOf = (req: FastifyRequest): string => (req.params as { layer: string }).layer;

/** The body limit of a file upload: the file limit and some slack (the model names the exact limit). */
const UPLOAD_LIMIT = CONFIG_LIMITS.fileBytes + 64 * 1024;

export async function configModelRoutes(
  app: FastifyInstance,
  model: ConfigModelImpl,
  _deps: ConfigModelRouteDeps,
): Promise<void> {
  const v = new ConfigViews(model);
  const tags = ["config"];
  /** One route of this API: its schema (tagged "config") and its handler. */
  const route = (
    method: "get" | "post" | "patch" | "put" | "delete",
    url: string,
    schema: Omit<FastifySchema, "tags">,
    handler: RouteHandlerMethod,
  ) => app[method](url, { schema: { tags, ...schema } }, handler);

  route(
    "get",
    "/api/v1/config/layers",
    {
      summary: "The project's configuration layers: defaults, groups (by priority) and device layers",
      response: { 200: Type.Array(ConfigLayerSummary) },
    },
    async (req) => v.summaries(who(req).projectId),
  );

  route(
    "get",
    "/api/v1/config/layers/:layer",
    {
      summary:
        "One layer (defaults, group:NAME, device:DEVICE) as stored: values with secrets masked, files, revision, unfinished rollout",
      params: LayerParam,
      response: { 200: ConfigLayerView },
    },
    async (req) => v.layer(who(req).projectId, layerOf(req)),
  );

  route(
    "patch",
    "/api/v1/config/layers/:layer",
    {
      summary:
        "Change a layer (operator): set keys (optionally secret), unset keys or files (file:PATH), or replace its non-secret values; baseRevision checks for a concurrent edit; rollout stages it",
      params: LayerParam,
      body: ConfigPatch,
      response: { 200: ConfigChange },
    },
    async (req) => model.patch(who(req, "operator"), layerOf(req), req.body as ConfigPatch),
  );

  route(
    "get",
    "/api/v1/config/layers/:layer/history",
    {
      summary: `A layer's revisions, newest first (limit default ${CONFIG_LIMITS.historyDefault}, at most ${CONFIG_LIMITS.historyMax})`,
      params: LayerParam,
      querystring: Type.Object({
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: CONFIG_LIMITS.historyMax })),
      }),
      response: { 200: Type.Array(ConfigRevision) },
    },
    async (req) => v.history(who(req).projectId, layerOf(req), (req.query as { limit?: number }).limit),
  );

  route(
    "get",
    "/api/v1/config/layers/:layer/files",
    {
      summary: "A layer's file, its bytes (a secret file is write-only: 403)",
      params: LayerParam,
      querystring: Type.Object({
        path: Type.String({ minLength: 1, maxLength: CONFIG_LIMITS.filePathChars }),
      }),
    },
    async (req, reply) => {
      const b = await v.file(who(req).projectId, layerOf(req), (req.query as { path: string }).path);
      reply.header("content-type", "application/octet-stream");
      return reply.send(b);
    },
  );

  // The upload: bytes as sent, up to the file limit, in a plugin of its own (its parser and
  // its answer to a body that is too large).
  await app.register(async (a) => {
    a.addContentTypeParser(
      "application/octet-stream",
      { parseAs: "buffer", bodyLimit: UPLOAD_LIMIT },
      (_req, body, done) => done(null, body),
    );
    a.setErrorHandler((err: FastifyError, _req, reply) => {
      if (
        !(err instanceof TetherError) &&
        (err.code === "FST_ERR_CTP_BODY_TOO_LARGE" || err.statusCode === 413)
      )
        return reply.status(413).send({
          error: {
            code: "TETHER_ERR_CONFIG_TOO_LARGE",
            message: `the file is larger than ${CONFIG_LIMITS.fileBytes / (1024 * 1024)} MiB, the limit per configuration file`,
          },
        });
      throw err;
    });
    a.put(
      "/api/v1/config/layers/:layer/files",
      {
        bodyLimit: UPLOAD_LIMIT,
        schema: {
          tags,
          summary: `Put a file into a layer (operator): the body is its bytes (application/octet-stream, at most ${CONFIG_LIMITS.fileBytes / (1024 * 1024)} MiB); .json and .yaml files must parse`,
          params: LayerParam,
          querystring: FileQuery,
          response: { 200: ConfigChange, 413: Err },
        },
      },
      async (req) => {
        const p = who(req, "operator");
        const q = req.query as FileQuery;
        if (!Buffer.isBuffer(req.body))
          throw new TetherError(
            "TETHER_ERR_BAD_REQUEST",
            "send the file's bytes as application/octet-stream",
          );
        const rollout = q.canary
          ? {
              canary: q.canary,
              ...(q.waitMs !== undefined ? { waitMs: q.waitMs } : {}),
              ...(q.maxFailures !== undefined ? { maxFailures: q.maxFailures } : {}),
            }
          : undefined;
        return model.putFile(p, layerOf(req), q.path, req.body, {
          secret: q.secret === "1" || q.secret === "true",
          ...(q.baseRevision !== undefined
            ? { baseRevision: q.baseRevision === "null" ? null : Number(q.baseRevision) }
            : {}),
          ...(q.message !== undefined ? { message: q.message } : {}),
          ...(rollout ? { rollout } : {}),
        });
      },
    );
  });

  route(
    "get",
    "/api/v1/config/revisions/:rev",
    {
      summary: "One revision, with the layer as it was then (secrets masked)",
      params: RevParam,
      response: { 200: RevisionDetail },
    },
    async (req) => v.revision(who(req).projectId, (req.params as { rev: number }).rev),
  );

  route(
    "get",
    "/api/v1/config/diff",
    {
      summary: "The difference between two revisions of one layer (secret values never shown)",
      querystring: Type.Object({ from: Type.Integer({ minimum: 1 }), to: Type.Integer({ minimum: 1 }) }),
      response: { 200: ConfigDiff },
    },
    async (req) => {
      const q = req.query as { from: number; to: number };
      return v.diff(who(req).projectId, q.from, q.to);
    },
  );

  route(
    "post",
    "/api/v1/config/rollback",
    {
      summary: "Restore a layer as it was at a revision, as a new revision (operator)",
      body: Rollback,
      response: { 200: ConfigChange },
    },
    async (req) => {
      const b = req.body as {
        revision: number;
        baseRevision?: number | null;
        message?: string;
        rollout?: RolloutSpec;
      };
      return model.rollback(who(req, "operator"), b.revision, {
        ...(b.baseRevision !== undefined ? { baseRevision: b.baseRevision } : {}),
        ...(b.message !== undefined ? { message: b.message } : {}),
        ...(b.rollout ? { rollout: b.rollout } : {}),
      });
    },
  );

  route(
    "get",
    "/api/v1/config/groups",
    {
      summary: "The project's configuration groups, by priority",
      response: { 200: Type.Array(ConfigGroup) },
    },
    async (req) => v.groups(who(req).projectId),
  );

  route(
    "post",
    "/api/v1/config/groups",
    {
      summary:
        "Create a configuration group (operator): a label selector and a priority; refused when a group of the same priority matches a device it matches",
      body: ConfigGroupCreate,
      response: { 201: ConfigGroup },
    },
    async (req, reply) => {
      const p = who(req, "operator");
      const b = req.body as ConfigGroupCreate;
      await model.createGroup(p, b);
      reply.code(201);
      return v.groupByName(p.projectId, b.name);
    },
  );

  route(
    "patch",
    "/api/v1/config/groups/:name",
    {
      summary:
        "Change a group's selector or priority (operator); the devices it gains or loses are re-targeted",
      params: GroupParam,
      body: ConfigGroupUpdate,
      response: { 200: ConfigGroup },
    },
    async (req) => {
      const p = who(req, "operator");
      const name = (req.params as { name: string }).name;
      await model.updateGroup(p, name, req.body as ConfigGroupUpdate);
      return v.groupByName(p.projectId, name);
    },
  );

  route(
    "delete",
    "/api/v1/config/groups/:name",
    {
      summary: "Delete a group (operator): a revision; its devices lose its values; its history stays",
      params: GroupParam,
      querystring: Type.Object({
        message: Type.Optional(Type.String({ maxLength: CONFIG_LIMITS.messageChars })),
      }),
    },
    async (req, reply) => {
      await model.deleteGroup(
        who(req, "operator"),
        (req.params as { name: string }).name,
        (req.query as { message?: string }).message,
      );
      return reply.code(204).send();
    },
  );

  route(
    "get",
    "/api/v1/config/devices/:device",
    {
      summary:
        "A device's effective configuration (secrets masked), the layers that apply, where each key comes from, and its desired/reported status",
      params: DeviceParam,
      response: { 200: ConfigDeviceView },
    },
    async (req) => v.device(who(req).projectId, (req.params as { device: string }).device),
  );

  route(
    "get",
    "/api/v1/config/status",
    {
      summary:
        "Desired vs reported configuration of the project's accepted devices (or a selector's, or one device)",
      querystring: Type.Object({
        selector: Type.Optional(Type.String({ maxLength: 1024 })),
        device: Type.Optional(Type.String({ maxLength: 128 })),
      }),
      response: { 200: ConfigStatusView },
    },
    async (req) => v.status(who(req).projectId, req.query as { selector?: string; device?: string }),
  );

  route(
    "get",
    "/api/v1/config/schema",
    {
      summary: "The project's JSON Schema for effective values",
      response: { 200: ConfigSchemaView },
    },
    async (req) => model.getSchema(who(req).projectId),
  );

  route(
    "put",
    "/api/v1/config/schema",
    {
      summary:
        "Set the project's JSON Schema (admin): every device's current effective values must pass it; every later write is checked against it",
      body: Type.Object(
        { schema: Type.Record(Type.String(), Type.Unknown()) },
        { additionalProperties: false },
      ),
      response: { 200: ConfigSchemaView },
    },
    async (req) => {
      const p = who(req, "admin");
      await model.setSchema(p, (req.body as { schema: Record<string, unknown> }).schema);
      return model.getSchema(p.projectId);
    },
  );

  route(
    "delete",
    "/api/v1/config/schema",
    {
      summary: "Remove the project's JSON Schema (admin)",
      response: { 200: ConfigSchemaView },
    },
    async (req) => {
      const p = who(req, "admin");
      await model.setSchema(p, null);
      return model.getSchema(p.projectId);
    },
  );
}

/**
 * Delivery's HTTP routes (docs/protocol.md §18.6–18.7): rollouts (viewer reads, operator
 * actions) and the blob endpoint the agent fetches large and secret files from with its device
 * (telemetry) token.
 */
import {
  CONFIG_BLOB_PATH,
  CONFIG_SEALED_HEADER,
  ConfigRollout,
  ConfigRolloutDetail,
  sealForDevice,
  TetherError,
} from "@tether/protocol";
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import type { Devices } from "../../../devices.js";
import { who } from "../../../http/auth.js";
import type { TelemetryLayer } from "../../../telemetry/index.js";
import type { ConfigModel } from "../types.js";
import type { Delivery } from "./delivery.js";
import type { Rollouts } from "./rollouts.js";

/** Blob downloads one device may have in progress at once. */
export const MAX_BLOB_DOWNLOADS_PER_DEVICE = 4;

const RolloutId = Type.Object({ id: Type.String({ pattern: "^rol_[a-z0-9]{20}$" }) });

export interface DeliveryRouteParts {
  delivery: Delivery;
  rollouts: Rollouts;
  model: () => ConfigModel;
  devices: Devices;
  telemetry: TelemetryLayer;
  maxBlobDownloads?: number;
}

export async function deliveryRoutes(app: FastifyInstance, s: DeliveryRouteParts): Promise<void> {
  app.get(
    "/api/v1/config/rollouts",
    {
      schema: {
        tags: ["config"],
        summary:
          "Configuration rollouts: the unfinished ones; with all=1 the finished ones too (unfinished first, newest 100)",
        querystring: Type.Object({
          all: Type.Optional(
            Type.Union([Type.Literal("1"), Type.Literal("0"), Type.Literal("true"), Type.Literal("false")]),
          ),
        }),
        response: { 200: Type.Array(ConfigRollout) },
      },
    },
    async (req) => {
      const p = who(req);
      const all = (req.query as { all?: string }).all;
      return s.rollouts.list(p.projectId, all === "1" || all === "true");
    },
  );

  app.get(
    "/api/v1/config/rollouts/:id",
    {
      schema: {
        tags: ["config"],
        summary: "One rollout with its devices (stage, released, status, error)",
        params: RolloutId,
        response: { 200: ConfigRolloutDetail },
      },
    },
    async (req) => s.rollouts.detail(who(req).projectId, (req.params as { id: string }).id),
  );

  for (const action of ["pause", "resume", "abort"] as const) {
    app.post(
      `/api/v1/config/rollouts/:id/${action}`,
      {
        schema: {
          tags: ["config"],
          summary:
            action === "pause"
              ? "Pause a rollout: devices not yet released stay held (operator)"
              : action === "resume"
                ? "Resume a paused or waiting rollout: back to the canary if it is incomplete, else release the rest (operator)"
                : "Abort a rollout: the layer is restored to its base revision as a new revision, every device converges back (operator)",
          params: RolloutId,
          response: { 200: ConfigRollout },
        },
      },
      async (req) => {
        const p = who(req, "operator");
        const id = (req.params as { id: string }).id;
        return s.rollouts[action](p, id);
      },
    );
  }

  const max = s.maxBlobDownloads ?? MAX_BLOB_DOWNLOADS_PER_DEVICE;
  const inProgress = new Map<string, number>();
  app.get(
    `${CONFIG_BLOB_PATH}/:hash`,
    {
      schema: {
        tags: ["config"],
        summary:
          "(device token) A file of the device's configuration by SHA-256; secret files sealed to the device's key (x-tether-sealed: 1)",
        params: Type.Object({ hash: Type.String({ pattern: "^[0-9a-f]{64}$" }) }),
      },
    },
    async (req, reply) => {
      const deviceId = await s.telemetry.authenticateDevice(req.headers.authorization);
      const device = deviceId ? await s.devices.get(deviceId) : undefined;
      if (!device || device.state !== "accepted")
        throw new TetherError(
          "TETHER_ERR_TELEMETRY_TOKEN",
          "the device token is missing, wrong or revoked (use the device's telemetry token: Authorization: Bearer TOKEN)",
        );
      const n = inProgress.get(device.id) ?? 0;
      if (n >= max) {
        reply.header("retry-after", "1");
        throw new TetherError(
          "TETHER_ERR_RATE_LIMITED",
          `this device already has ${max} configuration file downloads in progress; retry when one finished`,
        );
      }
      inProgress.set(device.id, n + 1);
      let held = true;
      const release = () => {
        if (!held) return;
        held = false;
        const k = (inProgress.get(device.id) ?? 1) - 1;
        if (k > 0) inProgress.set(device.id, k);
        else inProgress.delete(device.id);
      };
      reply.raw.once("close", release);
      try {
        const hash = (req.params as { hash: string }).hash;
        const sent = await s.delivery.sentFile(device.id, hash);
        const plain = sent ? await s.model().blob(hash) : null;
        if (!sent || !plain)
          throw new TetherError(
            "TETHER_ERR_CONFIG_BLOB_NOT_FOUND",
            `no file with hash ${hash} in this device's recent configurations`,
          );
        const body = sent.secret
          ? sealForDevice(Buffer.from(device.noise_key, "base64url"), plain, hash)
          : plain;
        reply.header("content-type", "application/octet-stream");
        reply.header("content-length", String(body.length));
        reply.header("cache-control", "no-store");
        if (sent.secret) reply.header(CONFIG_SEALED_HEADER, "1");
        return reply.send(body);
      } catch (err) {
        release();
        throw err;
      }
    },
  );
}

/**
 * `POST /api/v1/telemetry/batches` (docs/protocol.md §14.2), in a Fastify plugin of its own:
 * TLS check and token authentication before the body is read, the body as a raw Buffer up to
 * TELEMETRY_LIMITS.maxCompressedBytes, gzip inflated with a ceiling, the envelope checked,
 * the token's device must be the batch's, then the stream's handler through group commit.
 */
import { type IngestResult, TELEMETRY_LIMITS, type TelemetryStream, TetherError } from "@tether/protocol";
import type { FastifyError, FastifyInstance, FastifyRequest } from "fastify";
import { Type } from "typebox";
import type { Devices } from "../devices.js";
import { decodeBody } from "./body.js";
import { validateEnvelope } from "./envelope.js";
import type { FailureLog } from "./failure-log.js";
import type { BatchResult } from "./group-commit.js";
import type { IncomingBatch } from "./types.js";
import { requireTls } from "./tls-check.js";
import type { TelemetryTokens } from "./tokens.js";

export const INGEST_PATH = "/api/v1/telemetry/batches";

/** One answer for every token failure: it never tells whether a device exists. */
const tokenRefused = () =>
  new TetherError(
    "TETHER_ERR_TELEMETRY_TOKEN",
    "the telemetry token is missing, wrong or revoked, or is not the token of the device named in the batch",
  );

export interface IngestParts {
  tokens: TelemetryTokens;
  devices: Devices;
  failures: FailureLog;
  /** Hand a checked batch to its stream (group commit); undefined when no module stores the stream. */
  submit(stream: TelemetryStream, b: IncomingBatch, bytes: number): Promise<BatchResult> | undefined;
  /** Counters (TelemetryStats). */
  counted(r: { bytes: number; result?: BatchResult; rejected?: string }): void;
  now?: () => number;
}

const Result = Type.Object({
  seq: Type.Integer(),
  duplicate: Type.Boolean(),
  accepted: Type.Integer(),
  dropped: Type.Record(Type.String(), Type.Integer()),
  skewMs: Type.Integer(),
});

export async function ingestRoutes(app: FastifyInstance, s: IngestParts): Promise<void> {
  const now = s.now ?? Date.now;
  const deviceOf = new WeakMap<FastifyRequest["raw"], string>();
  await app.register(async (a) => {
    // The batch is read as bytes (it may be gzip); no other route shares this parser.
    a.removeAllContentTypeParsers();
    a.addContentTypeParser(
      "*",
      { parseAs: "buffer", bodyLimit: TELEMETRY_LIMITS.maxCompressedBytes },
      (_req, body, done) => done(null, body),
    );
    a.setErrorHandler((err: FastifyError, _req, reply) => {
      const tooLarge = err.code === "FST_ERR_CTP_BODY_TOO_LARGE" || err.statusCode === 413;
      const code =
        err instanceof TetherError ? err.code : tooLarge ? "TETHER_ERR_PAYLOAD_TOO_LARGE" : "other";
      s.counted({ bytes: 0, rejected: code });
      if (err instanceof TetherError) {
        return reply.status(err.status).send({ error: { code: err.code, message: err.message } });
      }
      if (tooLarge) {
        return reply.status(413).send({
          error: {
            code: "TETHER_ERR_PAYLOAD_TOO_LARGE",
            message: `the request body exceeds ${TELEMETRY_LIMITS.maxCompressedBytes} bytes`,
          },
        });
      }
      // The app's handler gives every other error its shape (503 when the database is down, 500).
      throw err;
    });
    // Before the body is read: a request without TLS or a valid token costs no decompression.
    a.addHook("onRequest", async (req) => {
      requireTls(req);
      const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
      const deviceId = m?.[1] ? await s.tokens.authenticate(m[1]) : null;
      if (!deviceId) {
        s.failures.note(
          `addr:${req.ip}`,
          { sourceAddress: req.ip, reason: m ? "unknown token" : "no token" },
          "telemetry: upload refused (token)",
        );
        throw tokenRefused();
      }
      deviceOf.set(req.raw, deviceId);
    });
    a.post(
      INGEST_PATH,
      {
        bodyLimit: TELEMETRY_LIMITS.maxCompressedBytes,
        schema: {
          tags: ["telemetry"],
          summary:
            "Upload one telemetry batch (device token; JSON, usually Content-Encoding: gzip; docs/protocol.md §14.2)",
          response: { 200: Result },
        },
      },
      async (req): Promise<IngestResult> => {
        const receivedAt = now();
        const deviceId = deviceOf.get(req.raw) as string;
        const { value, bytes } = await decodeBody(req.body, req.headers["content-encoding"]);
        const batch = validateEnvelope(value);
        const device = batch.device === deviceId ? await s.devices.get(deviceId) : undefined;
        if (device?.state !== "accepted") {
          s.failures.note(
            `device:${deviceId}`,
            { deviceId, claimed: batch.device.slice(0, 128) },
            "telemetry: upload refused (the token is another device's)",
          );
          throw tokenRefused();
        }
        const skewMs = Math.round(receivedAt - batch.sentAt);
        const pending = s.submit(batch.stream, { device, batch, receivedAt, skewMs }, bytes);
        if (!pending) {
          throw new TetherError(
            "TETHER_ERR_BATCH_MALFORMED",
            `stream ${batch.stream} is not stored by this server (no module for it is enabled)`,
          );
        }
        const r = await pending;
        s.counted({ bytes: (req.body as Buffer).length, result: r });
        return r === "duplicate"
          ? { seq: batch.seq, duplicate: true, accepted: 0, dropped: {}, skewMs }
          : { seq: batch.seq, duplicate: false, accepted: r.accepted, dropped: r.dropped, skewMs };
      },
    );
  });
}

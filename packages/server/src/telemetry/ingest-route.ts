/**
 * `POST /api/v1/telemetry/batches` (docs/protocol.md §14.2), in a Fastify plugin of its own:
 * TLS check and token authentication before the body is read, the body as a raw Buffer up to
 * TELEMETRY_LIMITS.maxCompressedBytes, gzip inflated with a ceiling, the envelope checked,
 * the token's device must be the batch's, then the stream's handler through group commit.
 */
import { type IngestResult, TELEMETRY_LIMITS, type TelemetryStream, TetherError } from "@tether/protocol";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Type } from "typebox";
import type { Devices } from "../devices.js";
import { decodeBody } from "./body.js";
import { validateEnvelope } from "./envelope.js";
import type { FailureLog } from "./failure-log.js";
import type { BatchResult } from "./group-commit.js";
import type { IncomingBatch } from "./types.js";
import { DEFAULT_SAMPLE_BUDGET, SampleBudget, type SampleBudgetLimits, samplesIn } from "./sample-budget.js";
import { requireTls } from "./tls-check.js";
import type { TelemetryTokens } from "./tokens.js";

export const INGEST_PATH = "/api/v1/telemetry/batches";
/**
 * Uploads one device may have in progress at once (body read, decompressed, queued for group
 * commit). An agent sends one batch at a time per stream; past this a device is answered 429,
 * so one device (or a leaked token) can neither hold the memory of many 8 MiB batches nor fill
 * the group-commit queue that every other device shares (docs/security.md).
 */
export const MAX_UPLOADS_PER_DEVICE = 4;

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
  /** Tests: MAX_UPLOADS_PER_DEVICE. */
  maxUploadsPerDevice?: number;
  /** Samples per device per second and at once (DEFAULT_SAMPLE_BUDGET). */
  budget?: SampleBudgetLimits;
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
  const maxUploads = s.maxUploadsPerDevice ?? MAX_UPLOADS_PER_DEVICE;
  const budget = new SampleBudget(s.budget ?? DEFAULT_SAMPLE_BUDGET, now);
  /** Uploads in progress per device (entries go at zero: bounded by the uploads in progress). */
  const inProgress = new Map<string, number>();
  /** Taken once the token is checked; given back once, when the upload's answer is settled. */
  const take = (deviceId: string): (() => void) => {
    inProgress.set(deviceId, (inProgress.get(deviceId) ?? 0) + 1);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const n = (inProgress.get(deviceId) ?? 1) - 1;
      if (n > 0) inProgress.set(deviceId, n);
      else inProgress.delete(deviceId);
    };
  };
  const releaseOf = new WeakMap<FastifyRequest["raw"], { release(): void; handled: boolean }>();
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
    a.addHook("onRequest", async (req, reply) => {
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
      if ((inProgress.get(deviceId) ?? 0) >= maxUploads) {
        throw new TetherError(
          "TETHER_ERR_RATE_LIMITED",
          `this device already has ${maxUploads} uploads in progress; send one batch at a time per stream and retry`,
          429,
        );
      }
      deviceOf.set(req.raw, deviceId);
      const slot = { release: take(deviceId), handled: false };
      releaseOf.set(req.raw, slot);
      // An upload that never reaches the handler (body too large, cut off) gives its slot back
      // when its answer is done; one that does keeps it until its batch is stored or refused,
      // even when the client hangs up meanwhile (the batch is still queued).
      reply.raw.once("close", () => {
        if (!slot.handled) slot.release();
      });
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
      async (req, reply): Promise<IngestResult> => {
        const slot = releaseOf.get(req.raw);
        if (slot) slot.handled = true;
        try {
          return await ingestOne(req, reply);
        } finally {
          slot?.release();
        }
      },
    );

    async function ingestOne(req: FastifyRequest, reply: FastifyReply): Promise<IngestResult> {
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
      const waitMs = budget.take(deviceId, samplesIn(batch));
      if (waitMs > 0) {
        s.failures.note(
          `budget:${deviceId}`,
          { deviceId, retryInMs: waitMs },
          "telemetry: upload over the device's sample budget (answered 429; the agent keeps it and retries)",
        );
        reply.header("retry-after", String(Math.ceil(waitMs / 1000)));
        throw new TetherError(
          "TETHER_ERR_RATE_LIMITED",
          `this device is over its telemetry budget (${(s.budget ?? DEFAULT_SAMPLE_BUDGET).perSecond} samples/s); retry in ${Math.ceil(waitMs / 1000)} s`,
        );
      }
      const skewMs = Math.round(receivedAt - batch.sentAt);
      const pending = s.submit(batch.stream, { device, batch, receivedAt, skewMs }, bytes);
      if (!pending) {
        // 503, not 400: the agent keeps the batch until a server that stores the stream answers.
        throw new TetherError(
          "TETHER_ERR_STORE_UNAVAILABLE",
          `stream ${batch.stream} is not stored by this server (no module for it is enabled)`,
        );
      }
      const r = await pending;
      s.counted({ bytes: (req.body as Buffer).length, result: r });
      return r === "duplicate"
        ? { seq: batch.seq, duplicate: true, accepted: 0, dropped: {}, skewMs }
        : { seq: batch.seq, duplicate: false, accepted: r.accepted, dropped: r.dropped, skewMs };
    }
  });
}

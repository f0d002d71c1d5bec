/**
 * Envelope validation of a telemetry batch (docs/protocol.md §14.2), by hand: it runs for
 * every upload, and a schema validator's generic message would not name the field as
 * clearly. Series and points are the stream handler's to check (it drops and counts bad ones
 * instead of refusing the batch).
 */
import { TELEMETRY_LIMITS, TELEMETRY_STREAMS, type TelemetryBatch, TetherError } from "@tether/protocol";

const NAME_RE = /^[a-z][a-z0-9-]{0,31}$/;
const TOP_KEYS = new Set(["v", "device", "stream", "seq", "sentAt", "gaps", "metrics", "logs"]);
const GAP_KEYS = new Set(["from", "to", "count", "reason", "stream", "source", "detail"]);

const bad = (message: string) => new TetherError("TETHER_ERR_BATCH_MALFORMED", message);
const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x);
const finite = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);
/**
 * Device times are ms within ±4e15 (about year ±128,000): any clock, however wrong, fits,
 * and a time plus the skew correction stays an exact integer in JavaScript and both databases.
 */
export const MAX_ABS_TIME = 4e15;
const time = (x: unknown): x is number => finite(x) && Math.abs(x) <= MAX_ABS_TIME;

/** The parsed JSON as a batch, or TETHER_ERR_BATCH_MALFORMED naming the first wrong field. */
export function validateEnvelope(x: unknown): TelemetryBatch {
  if (!isObject(x)) throw bad("the batch must be a JSON object");
  for (const k of Object.keys(x)) {
    if (!TOP_KEYS.has(k)) throw bad(`unknown field ${JSON.stringify(k)} in the batch`);
  }
  if (x.v !== 1) throw bad("v must be 1 (the batch format version)");
  if (typeof x.device !== "string" || x.device.length === 0 || x.device.length > 128) {
    throw bad("device must be the device id (a string of 1-128 characters)");
  }
  if (typeof x.stream !== "string" || !(TELEMETRY_STREAMS as readonly string[]).includes(x.stream)) {
    throw bad(`stream must be one of ${TELEMETRY_STREAMS.join(", ")}`);
  }
  if (!Number.isSafeInteger(x.seq) || (x.seq as number) < 1) {
    throw bad("seq must be a positive integer (at most 2^53-1)");
  }
  if (!time(x.sentAt))
    throw bad("sentAt must be a finite number of device-clock milliseconds (|sentAt| ≤ 4e15)");
  if (x.gaps !== undefined) validateGaps(x.gaps);
  for (const k of ["metrics", "logs"] as const) {
    if (x[k] === undefined) continue;
    if (x.stream !== k) throw bad(`${k} is only allowed in a batch of stream ${k}`);
    if (!Array.isArray(x[k])) throw bad(`${k} must be an array`);
  }
  if (Array.isArray(x.metrics) && x.metrics.length > TELEMETRY_LIMITS.maxSeriesPerBatch) {
    throw bad(
      `metrics has ${x.metrics.length} series; at most ${TELEMETRY_LIMITS.maxSeriesPerBatch} per batch`,
    );
  }
  if (Array.isArray(x.metrics)) {
    // §14.2: at most 200,000 points in all; the store sizes its columns by this count.
    let points = 0;
    for (const s of x.metrics) {
      const p = isObject(s) ? s.points : undefined;
      if (Array.isArray(p)) points += p.length;
    }
    if (points > TELEMETRY_LIMITS.maxPointsPerBatch) {
      throw bad(`metrics has ${points} points; at most ${TELEMETRY_LIMITS.maxPointsPerBatch} per batch`);
    }
  }
  if (Array.isArray(x.logs) && x.logs.length > TELEMETRY_LIMITS.maxPointsPerBatch) {
    throw bad(`logs has ${x.logs.length} lines; at most ${TELEMETRY_LIMITS.maxPointsPerBatch} per batch`);
  }
  return x as unknown as TelemetryBatch;
}

function validateGaps(gaps: unknown): void {
  if (!Array.isArray(gaps)) throw bad("gaps must be an array");
  if (gaps.length > TELEMETRY_LIMITS.maxGaps) {
    throw bad(`gaps has ${gaps.length} records; at most ${TELEMETRY_LIMITS.maxGaps} per batch`);
  }
  gaps.forEach((g, i) => {
    const at = `gaps[${i}]`;
    if (!isObject(g)) throw bad(`${at} must be an object`);
    for (const k of Object.keys(g)) {
      if (!GAP_KEYS.has(k)) throw bad(`unknown field ${JSON.stringify(k)} in ${at}`);
    }
    if (!time(g.from))
      throw bad(`${at}.from must be a finite number of device-clock milliseconds (|t| ≤ 4e15)`);
    if (!time(g.to)) throw bad(`${at}.to must be a finite number of device-clock milliseconds (|t| ≤ 4e15)`);
    if (g.to < g.from) throw bad(`${at}.to is before ${at}.from`);
    if (!Number.isSafeInteger(g.count) || (g.count as number) < 0) {
      throw bad(`${at}.count must be a non-negative integer`);
    }
    if (typeof g.reason !== "string" || !NAME_RE.test(g.reason)) {
      throw bad(`${at}.reason must match ${NAME_RE.source}`);
    }
    // A known stream only: gap records are bounded per device and stream, so a free-form name
    // would multiply the bound (docs/protocol.md §14.3).
    if (
      g.stream !== undefined &&
      (typeof g.stream !== "string" || !(TELEMETRY_STREAMS as readonly string[]).includes(g.stream))
    ) {
      throw bad(`${at}.stream must be one of ${TELEMETRY_STREAMS.join(", ")}`);
    }
    if (g.source !== undefined && (typeof g.source !== "string" || g.source.length > 512)) {
      throw bad(`${at}.source must be a string of at most 512 characters`);
    }
    if (g.detail !== undefined && (typeof g.detail !== "string" || g.detail.length > 500)) {
      throw bad(`${at}.detail must be a string of at most 500 characters`);
    }
  });
}

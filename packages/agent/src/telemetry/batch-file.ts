/**
 * One sealed batch on disk (docs/protocol.md §14.4): `<dataDir>/telemetry/<stream>/<seq>.json.gz`,
 * the seq zero-padded so names sort in upload order; the content is the gzip of the batch
 * JSON without `sentAt` and `gaps`, which the uploader adds when it sends it.
 */
import { gunzipSync } from "node:zlib";
import type { TelemetryBatch } from "@tether/protocol";
import type { BatchContent } from "./types.js";

export type Span = BatchContent["span"];

const NAME = /^(\d{16})\.json\.gz$/;

export const batchFileName = (seq: number): string => `${String(seq).padStart(16, "0")}.json.gz`;

/** The seq a file name holds, or null for anything else in the directory. */
export function seqOfFileName(name: string): number | null {
  const m = NAME.exec(name);
  return m ? Number(m[1]) : null;
}

/** The stored JSON: the envelope without `sentAt` and `gaps`, starting with `{"v":1,`. */
export function storedBatchJson(
  device: string,
  stream: TelemetryBatch["stream"],
  seq: number,
  content: BatchContent,
): string {
  const b: Omit<TelemetryBatch, "sentAt"> = { v: 1, device, stream, seq };
  if (content.metrics) b.metrics = content.metrics;
  if (content.logs) b.logs = content.logs;
  return JSON.stringify(b);
}

/**
 * The upload body before compression: the stored JSON with `sentAt` (now) and the pending
 * gaps spliced in, without parsing the (possibly large) data again.
 */
export function uploadJson(stored: string, sentAt: number, gaps: unknown[]): string {
  if (!stored.startsWith("{")) throw new Error("stored batch is not a JSON object");
  const extra = `"sentAt":${Math.trunc(sentAt)}${gaps.length ? `,"gaps":${JSON.stringify(gaps)}` : ""}`;
  return `{${extra},${stored.slice(1)}`;
}

const timeOf = (x: unknown): number | undefined => {
  if (x && typeof x === "object") {
    const o = x as Record<string, unknown>;
    for (const k of ["t", "time", "ts"]) if (typeof o[k] === "number") return o[k] as number;
  }
  return undefined;
};

/**
 * The span of a batch left on disk by an earlier run (its span was only in memory): needed
 * when it is dropped, for the gap record. `fallback` when it holds no times.
 */
export function spanOfStored(gz: Buffer, fallback: number): Span {
  const b = JSON.parse(gunzipSync(gz).toString("utf8")) as Partial<TelemetryBatch>;
  let from = Number.POSITIVE_INFINITY;
  let to = Number.NEGATIVE_INFINITY;
  let count = 0;
  const see = (t: number | undefined) => {
    count++;
    if (t !== undefined && Number.isFinite(t)) {
      from = Math.min(from, t);
      to = Math.max(to, t);
    }
  };
  for (const s of b.metrics ?? []) for (const p of s.points ?? []) see(Array.isArray(p) ? p[0] : undefined);
  for (const l of b.logs ?? []) see(timeOf(l));
  return from <= to ? { from, to, count } : { from: fallback, to: fallback, count };
}

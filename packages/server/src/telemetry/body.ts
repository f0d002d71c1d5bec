/**
 * The upload's body, as sent, to JSON (docs/protocol.md §14.2): gzip is inflated with a
 * ceiling (TELEMETRY_LIMITS.maxBatchBytes), so a decompression bomb stops at that many bytes
 * instead of filling memory; then JSON.parse.
 */
import { promisify } from "node:util";
import { gunzip } from "node:zlib";
import { TELEMETRY_LIMITS, TetherError } from "@tether/protocol";

const gunzipAsync = promisify(gunzip);

/** The parsed JSON and its size in bytes after decompression. */
export async function decodeBody(
  body: unknown,
  contentEncoding: string | undefined,
): Promise<{ value: unknown; bytes: number }> {
  if (!Buffer.isBuffer(body) || body.length === 0) {
    throw new TetherError("TETHER_ERR_BATCH_MALFORMED", "the request has no body; send the batch as JSON");
  }
  const enc = (contentEncoding ?? "identity").trim().toLowerCase();
  let raw: Buffer;
  if (enc === "gzip" || enc === "x-gzip") {
    try {
      raw = await gunzipAsync(body, { maxOutputLength: TELEMETRY_LIMITS.maxBatchBytes });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") {
        throw new TetherError(
          "TETHER_ERR_PAYLOAD_TOO_LARGE",
          `the batch exceeds ${TELEMETRY_LIMITS.maxBatchBytes} bytes after decompression`,
        );
      }
      throw new TetherError(
        "TETHER_ERR_BATCH_MALFORMED",
        "the body is not valid gzip (Content-Encoding: gzip)",
      );
    }
  } else if (enc === "identity") {
    raw = body;
  } else {
    throw new TetherError(
      "TETHER_ERR_BATCH_MALFORMED",
      `Content-Encoding ${JSON.stringify(enc)} is not supported; send gzip or no encoding`,
    );
  }
  try {
    return { value: JSON.parse(raw.toString("utf8")), bytes: raw.length };
  } catch (err) {
    throw new TetherError(
      "TETHER_ERR_BATCH_MALFORMED",
      `the batch is not valid JSON: ${(err as Error).message}`,
    );
  }
}

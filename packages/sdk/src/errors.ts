/** Errors the SDK throws: always an ApiError with the server's stable code when it sent one. */
import type { ErrorCode } from "@tether/protocol";

export const UNREACHABLE = "TETHER_ERR_UNREACHABLE" satisfies ErrorCode;

export class ApiError extends Error {
  constructor(
    /** HTTP status; 0 when the server could not be reached. */
    readonly status: number,
    /** A TETHER_ERR_* code (the server's, or TETHER_ERR_UNREACHABLE / TETHER_ERR_HTTP). */
    readonly code: ErrorCode,
    message: string,
    /** From Retry-After on a 429 (TETHER_ERR_RATE_LIMITED): seconds to wait before trying again. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

const TLS_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** Turn a transport failure (fetch TypeError, node socket error) into a one-line ApiError. */
export function unreachable(url: string, err: unknown): ApiError {
  let e: any = err;
  // fetch wraps the real reason in `cause`.
  while (e?.cause && (e.message === "fetch failed" || !e.code)) e = e.cause;
  const code: string | undefined = e?.code;
  let detail = e?.message ? String(e.message) : String(err);
  if (e?.name === "AbortError") detail = "request timed out";
  if (code && !detail.includes(code)) detail = `${detail} (${code})`;
  if (code && TLS_CODES.has(code)) {
    detail +=
      "; the server's certificate is not trusted: pass its CA certificate (TETHER_CA_CERT or --ca-cert)";
  }
  return new ApiError(0, UNREACHABLE, `cannot reach ${url}: ${detail}`);
}

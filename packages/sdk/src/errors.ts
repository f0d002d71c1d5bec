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

/** Network error codes in words (Node's socket codes, undici's). */
const NET_WORDS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ENOTFOUND: "host not found (DNS)",
  EAI_AGAIN: "host not found (DNS lookup failed; try again)",
  EAI_NONAME: "host not found (DNS)",
  ETIMEDOUT: "connection timed out",
  ECONNABORTED: "connection timed out",
  UND_ERR_CONNECT_TIMEOUT: "connection timed out",
  UND_ERR_HEADERS_TIMEOUT: "no answer in time",
  ECONNRESET: "connection reset before an answer",
  EPIPE: "connection reset before an answer",
  UND_ERR_SOCKET: "connection reset before an answer",
  EHOSTUNREACH: "no route to the host",
  ENETUNREACH: "network unreachable",
};

/**
 * Turn a transport failure (fetch TypeError, node socket error) into a one-line ApiError
 * (status 0, TETHER_ERR_UNREACHABLE): `cannot reach the Tether server at URL: connection refused`.
 */
export function unreachable(url: string, err: unknown): ApiError {
  let e: any = err;
  // fetch wraps the real reason in `cause`.
  while (e?.cause && (e.message === "fetch failed" || !e.code)) e = e.cause;
  const code: string | undefined = e?.code;
  let detail = e?.message ? String(e.message) : String(err);
  if (e?.name === "AbortError" || e?.name === "TimeoutError") detail = "request timed out";
  if (code && NET_WORDS[code]) detail = NET_WORDS[code];
  else if (code && !detail.includes(code)) detail = `${detail} (${code})`;
  if (code && TLS_CODES.has(code)) {
    detail +=
      "; the server's certificate is not trusted: pass its CA certificate (TETHER_CA_CERT or --ca-cert)";
  }
  const where = /^https?:/.test(url) ? ` at ${url}` : "";
  return new ApiError(0, UNREACHABLE, `cannot reach the Tether server${where}: ${detail}`);
}

/**
 * Why a tunnel session (terminal, port forward) could not open or ended early
 * (docs/protocol.md §17.3): the server's error code, and the WebSocket close code
 * (TUNNEL_CLOSE.*) or the HTTP status of a refused upgrade. Browser-safe.
 */
import type { ErrorCode } from "@tether/protocol";
import { TUNNEL_CLOSE } from "@tether/protocol/tunnel";
import { ApiError } from "./errors.js";

export class TunnelError extends ApiError {
  constructor(
    /** HTTP status of a refused upgrade; 0 otherwise. */
    status: number,
    code: ErrorCode,
    message: string,
    /** The WebSocket close code, once the socket closed (TUNNEL_CLOSE.*, 1006 for a dropped link). */
    readonly closeCode?: number,
  ) {
    super(status, code, message);
    this.name = "TunnelError";
  }

  /** The same error with the close code that came after it. */
  withClose(closeCode: number): TunnelError {
    return new TunnelError(this.status, this.code, this.message, closeCode);
  }
}

/** A close without an `error` message before it: the code alone says what happened. */
export function tunnelErrorFromClose(code: number): TunnelError {
  const e = (c: string, m: string) => new TunnelError(0, c as ErrorCode, m, code);
  switch (code) {
    case TUNNEL_CLOSE.refused:
      return e("TETHER_ERR_FORBIDDEN", "the server refused the session");
    case TUNNEL_CLOSE.unreachable:
      return e("TETHER_ERR_DEVICE_OFFLINE", "the device could not be reached");
    case TUNNEL_CLOSE.timeout:
      return e("TETHER_ERR_TUNNEL_CLOSED", "the session timed out (idle, or its maximum length)");
    case TUNNEL_CLOSE.revoked:
      return e("TETHER_ERR_TUNNEL_CLOSED", "access to the device was revoked");
    case TUNNEL_CLOSE.protocol:
      return e("TETHER_ERR_TUNNEL_CLOSED", "the tunnel was closed for a protocol error");
    case TUNNEL_CLOSE.normal:
      return e("TETHER_ERR_TUNNEL_CLOSED", "the server ended the session");
    case 1001:
      return e("TETHER_ERR_TUNNEL_CLOSED", "the server is shutting down");
    default:
      return e("TETHER_ERR_UNREACHABLE", "the connection to the server was lost");
  }
}

/** A refused upgrade: the server's JSON error body, or the bare status. */
export function tunnelErrorFromResponse(status: number, body: string): TunnelError {
  try {
    const err = JSON.parse(body)?.error;
    if (typeof err?.code === "string")
      return new TunnelError(status, err.code as ErrorCode, String(err.message ?? err.code));
  } catch {}
  return new TunnelError(status, "TETHER_ERR_HTTP", `the server refused the connection (HTTP ${status})`);
}

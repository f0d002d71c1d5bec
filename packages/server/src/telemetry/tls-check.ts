/**
 * Ingest only over TLS (docs/protocol.md §14.2): the device token is a bearer secret. The
 * server's API listener is HTTPS, so a plain request never reaches a route; this check is
 * the route's own guarantee, should the app ever be served without TLS (a test's inject, a
 * future plain listener behind a proxy).
 */
import type { TLSSocket } from "node:tls";
import { TetherError } from "@tether/protocol";
import type { FastifyRequest } from "fastify";

export function isTls(req: Pick<FastifyRequest, "raw">): boolean {
  return (req.raw.socket as TLSSocket | undefined)?.encrypted === true;
}

export function requireTls(req: Pick<FastifyRequest, "raw">): void {
  if (!isTls(req)) {
    throw new TetherError("TETHER_ERR_TLS_REQUIRED", "telemetry uploads are accepted only over HTTPS");
  }
}

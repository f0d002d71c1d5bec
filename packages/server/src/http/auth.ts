/**
 * Authentication gate for /api/v1 (docs/architecture.md §3): API tokens in the Authorization header
 * for scripts; HttpOnly SameSite=Strict session cookies for the console, with the Origin
 * checked on every cookie-authenticated request. Nothing runs before this gate.
 */
import { CONFIG_BLOB_PATH, PROJECT_HEADER, type Role, SESSION_COOKIE, TetherError } from "@tether/protocol";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { type Principal, requireRole } from "../accounts.js";
import type { Services } from "./context.js";

/** Routes that authenticate otherwise (login form; device-signed enrollment). */
const PUBLIC = new Set([
  "/api/v1/auth/login",
  "/api/v1/auth/logout",
  "/api/v1/enroll",
  "/api/v1/enroll/info",
  "/api/v1/enroll/poll",
  // A device token, checked by the telemetry layer (docs/protocol.md §14.1).
  "/api/v1/telemetry/batches",
]);

/** Configuration blobs: a device token, checked by the config capability (docs/protocol.md §18). */
const DEVICE_TOKEN_PREFIX = `${CONFIG_BLOB_PATH}/`;

function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m?.[1];
}

export function checkOrigin(req: FastifyRequest, s: Services): void {
  const origin = req.headers.origin;
  const site = req.headers["sec-fetch-site"];
  const own = `https://${req.headers.host}`;
  const ok = (o: string) => o === own || s.allowedOrigins().includes(o);
  if (origin !== undefined) {
    if (!ok(origin))
      throw new TetherError("TETHER_ERR_BAD_ORIGIN", `requests from origin ${origin} are not allowed`);
    return;
  }
  if (site === "cross-site" || site === "same-site") {
    throw new TetherError("TETHER_ERR_BAD_ORIGIN", "cross-site request refused");
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    throw new TetherError(
      "TETHER_ERR_BAD_ORIGIN",
      "a cookie-authenticated change must carry an Origin header",
    );
  }
}

export function registerAuth(app: FastifyInstance, s: Services): void {
  // onRequest: before the body is read, so an unauthenticated client cannot make the server
  // wait for (or buffer) a body it will refuse anyway (docs/security.md "Listeners").
  app.addHook("onRequest", async (req) => {
    const path = req.url.split("?")[0];
    if (!path.startsWith("/api/v1/") || PUBLIC.has(path) || path.startsWith(DEVICE_TOKEN_PREFIX)) return;
    const token = bearer(req);
    const session = token ? undefined : req.cookies?.[SESSION_COOKIE];
    if (session) checkOrigin(req, s);
    // EventSource cannot send headers, so event streams may name the project in the query.
    const q =
      path.endsWith("/events") || path === "/api/v1/metrics/stream" || path === "/api/v1/logs/stream"
        ? (req.query as { project?: string } | undefined)?.project
        : undefined;
    const project = (req.headers[PROJECT_HEADER] as string | undefined) || q || undefined;
    const p = await s.accounts.authenticate({ token, session }, project);
    if (!p) {
      throw new TetherError(
        "TETHER_ERR_UNAUTHENTICATED",
        token || session
          ? "the API token or session is not valid"
          : "sign in or pass an API token (Authorization: Bearer ...)",
      );
    }
    req.principal = p;
  });
}

/** The principal of an authenticated request, checked for a minimum role. */
export function who(req: FastifyRequest, need: Role = "viewer"): Principal {
  const p = req.principal;
  if (!p) throw new TetherError("TETHER_ERR_UNAUTHENTICATED", "not authenticated");
  requireRole(p, need);
  return p;
}

/** Build the Fastify app (not listening): plugins, error shape, OpenAPI and its docs page, console. */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import fastifyCookie from "@fastify/cookie";
import fastifyRateLimit from "@fastify/rate-limit";
import fastifyStatic from "@fastify/static";
import fastifySwagger from "@fastify/swagger";
import { ERRORS, TetherError } from "@tether/protocol";
import Fastify, { type FastifyInstance, LogController } from "fastify";
import type { Logger } from "pino";
import { accountRoutes } from "./account-routes.js";
import { registerApiDocs } from "./api-docs.js";
import { auditRoutes } from "./audit-routes.js";
import { registerAuth } from "./auth.js";
import { authRoutes } from "./auth-routes.js";
import type { Services } from "./context.js";
import { deviceRoutes } from "./device-routes.js";
import { enrollmentRoutes } from "./enrollment-routes.js";

export const BODY_LIMIT = 1024 * 1024;

/** Connection-level database failures (server restarting, network): the request may be retried. */
const STORE_DOWN_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "57P01",
  "57P02",
  "57P03",
  "08000",
  "08003",
  "08006",
  "08001",
  "08004",
]);
function isStoreUnavailable(err: any): boolean {
  return (
    STORE_DOWN_CODES.has(err?.code) ||
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/.test(
      err?.message ?? "",
    )
  );
}

function consoleDir(): string | null {
  try {
    const req = createRequire(import.meta.url);
    const dir = join(dirname(req.resolve("@tether/console/package.json")), "dist");
    return existsSync(join(dir, "index.html")) ? dir : null;
  } catch {
    return null;
  }
}

export async function buildApp(
  s: Services,
  o: {
    https?: { cert: string; key: string };
    /** HTTP timeouts (docs/security.md "Listeners"); Fastify's defaults (none) otherwise. */
    timeouts?: { requestMs: number; keepAliveMs: number; handshakeMs: number; checkEveryMs: number };
    log: Logger;
    version: string;
    /** Each capability's routes, one Fastify plugin each (docs/architecture.md §7). */
    plugins?: ((app: FastifyInstance) => Promise<void> | void)[];
  },
): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: o.log,
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: true,
    routerOptions: { maxParamLength: 256 },
    bodyLimit: BODY_LIMIT,
    trustProxy: false,
    ...(o.timeouts ? { requestTimeout: o.timeouts.requestMs, keepAliveTimeout: o.timeouts.keepAliveMs } : {}),
    ...(o.https
      ? {
          https: {
            cert: o.https.cert,
            key: o.https.key,
            ...(o.timeouts
              ? {
                  handshakeTimeout: o.timeouts.handshakeMs,
                  connectionsCheckingInterval: o.timeouts.checkEveryMs,
                }
              : {}),
          },
        }
      : {}),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: "array", useDefaults: true } },
  }) as unknown as FastifyInstance;

  app.setErrorHandler((err: any, req, reply) => {
    if (err instanceof TetherError) {
      return reply.status(err.status).send({ error: { code: err.code, message: err.message } });
    }
    if (err.validation) {
      return reply.status(400).send({
        error: {
          code: "TETHER_ERR_BAD_REQUEST",
          message:
            `${err.validationContext ?? "request"} ${err.validation[0]?.instancePath ?? ""} ${err.validation[0]?.message ?? err.message}`
              .replace(/\s+/g, " ")
              .trim(),
        },
      });
    }
    if (err.statusCode === 413 || err.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      return reply.status(413).send({
        error: {
          code: "TETHER_ERR_PAYLOAD_TOO_LARGE",
          message: `request body exceeds ${BODY_LIMIT} bytes`,
        },
      });
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      return reply
        .status(err.statusCode)
        .send({ error: { code: "TETHER_ERR_BAD_REQUEST", message: err.message } });
    }
    if (isStoreUnavailable(err)) {
      req.log.warn({ err: err.message }, "database unavailable");
      return reply.status(503).send({
        error: {
          code: "TETHER_ERR_STORE_UNAVAILABLE",
          message: "the database is unavailable right now; retry shortly",
        },
      });
    }
    req.log.error({ err }, "request failed");
    return reply
      .status(500)
      .send({ error: { code: "TETHER_ERR_INTERNAL", message: "internal error; see the server log" } });
  });
  app.setNotFoundHandler((req, reply) => {
    if (req.url.startsWith("/api/")) {
      return reply.status(404).send({
        error: { code: "TETHER_ERR_NOT_FOUND", message: `no route ${req.method} ${req.url.split("?")[0]}` },
      });
    }
    const dir = consoleDir();
    if (dir && req.method === "GET") return reply.sendFile("index.html", dir);
    return reply.status(404).send("not found");
  });

  await app.register(fastifyCookie);
  // Limits are applied per route (http/rate-limits.ts: sign-in and enrollment), none globally.
  // A large counter cache, so spraying many keys cannot evict a username's failure count.
  await app.register(fastifyRateLimit, { global: false, cache: 100_000 });
  await app.register(fastifySwagger, {
    openapi: {
      openapi: "3.0.3",
      info: {
        title: "Tether API",
        version: o.version,
        description:
          "Device manager API. Authenticate with `Authorization: Bearer <API token>` (scripts) or the console's session cookie. " +
          "`X-Tether-Project` selects another project where you have a role. Errors are `{error:{code,message}}`; codes: " +
          Object.keys(ERRORS).join(", "),
      },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: [{ bearer: [] }],
    },
  });
  registerAuth(app, s);
  await app.register(async (a) => authRoutes(a, s));
  await app.register(async (a) => accountRoutes(a, s));
  await app.register(async (a) => deviceRoutes(a, s));
  await app.register(async (a) => enrollmentRoutes(a, s));
  await app.register(async (a) => auditRoutes(a, s));
  for (const plugin of o.plugins ?? []) await app.register(async (a) => plugin(a));
  await registerApiDocs(app);
  app.get("/healthz", { schema: { hide: true } }, async () => ({ ok: true, version: o.version }));

  const dir = consoleDir();
  if (dir) {
    await app.register(fastifyStatic, { root: dir, prefix: "/", wildcard: false, index: ["index.html"] });
  }
  app.addHook("onSend", async (_req, reply, payload) => {
    reply.header("x-content-type-options", "nosniff");
    reply.header("x-frame-options", "DENY");
    reply.header("referrer-policy", "no-referrer");
    reply.header(
      "content-security-policy",
      "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self' wss:; frame-ancestors 'none'",
    );
    return payload;
  });
  return app;
}

/**
 * The API's documentation (README "API"): the OpenAPI document at `/api/openapi.json` (and
 * `/api/docs/json`, `/api/docs/yaml`), rendered by Swagger UI at `/api/docs`. Swagger UI's
 * files come from @fastify/swagger-ui (no CDN: the page works offline) and load under the
 * server's own content-security policy (scripts from 'self' only, no inline script).
 *
 * Both are public: they describe the API and hold no data (docs/security.md). "Try it out"
 * sends the same requests the console does, so the auth gate, the Origin check on cookie
 * sessions and the roles apply unchanged; a bearer token typed into "Authorize" stays in the
 * page (not persisted).
 */
import fastifySwaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance } from "fastify";

export const API_DOCS_PATH = "/api/docs";
export const OPENAPI_PATH = "/api/openapi.json";

/** Register after @fastify/swagger and the routes it documents. */
export async function registerApiDocs(app: FastifyInstance): Promise<void> {
  app.get(OPENAPI_PATH, { schema: { hide: true } }, async () => app.swagger());
  await app.register(fastifySwaggerUi, {
    routePrefix: API_DOCS_PATH,
    // No validator badge: it would send the document to validator.swagger.io.
    validatorUrl: false,
    theme: { title: "Tether API" },
    uiConfig: {
      // No top bar: its "Explore" box loads any URL's document into this page.
      layout: "BaseLayout",
      docExpansion: "list",
      deepLinking: true,
      defaultModelsExpandDepth: 0,
      persistAuthorization: false,
      displayRequestDuration: true,
    },
  });
}

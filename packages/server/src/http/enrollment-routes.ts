/** Enrollment tokens (operators) and the device-facing enrollment endpoints. */
import {
  CreatedEnrollmentToken,
  EnrollmentToken,
  EnrollRequest,
  EnrollResponse,
  Labels,
  PollRequest,
  SignedServerInfo,
} from "@tether/protocol";
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import { who } from "./auth.js";
import type { Services } from "./context.js";
import { limiter } from "./rate-limits.js";

export async function enrollmentRoutes(app: FastifyInstance, s: Services) {
  const rl = s.rateLimits;
  const infoLimit = limiter(app, "enroll/info per address", rl.enrollPerAddress, rl.windowMs);
  const enrollLimit = limiter(app, "enroll per address", rl.enrollPerAddress, rl.windowMs);
  const pollLimit = limiter(app, "enroll/poll per address", rl.enrollPollPerAddress, rl.windowMs);
  app.get(
    "/api/v1/enrollment-tokens",
    {
      schema: {
        tags: ["enrollment"],
        summary: "Enrollment tokens of this project (operator)",
        response: { 200: Type.Array(EnrollmentToken) },
      },
    },
    async (req) => s.enrollment.listTokens(who(req, "operator").projectId),
  );

  app.post(
    "/api/v1/enrollment-tokens",
    {
      schema: {
        tags: ["enrollment"],
        summary: "Create an enrollment token; the answer holds the one-line agent command (operator)",
        body: Type.Object({
          labels: Type.Optional(Labels),
          expiresInSeconds: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 365 * 86400 })),
          uses: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
          autoAccept: Type.Optional(Type.Boolean()),
        }),
        response: { 200: CreatedEnrollmentToken },
      },
    },
    async (req) => {
      const p = who(req, "operator");
      const created = await s.enrollment.createToken(p.projectId, p.username, req.body as any);
      return created;
    },
  );

  app.delete(
    "/api/v1/enrollment-tokens/:id",
    {
      schema: {
        tags: ["enrollment"],
        summary: "Delete an enrollment token (operator)",
        params: Type.Object({ id: Type.Integer() }),
      },
    },
    async (req) => {
      const p = who(req, "operator");
      await s.enrollment.deleteToken(p.projectId, (req.params as any).id, p.username);
      return { ok: true };
    },
  );

  // Device-facing: no user authentication; requests are signed by the device key.
  app.get(
    "/api/v1/enroll/info",
    {
      onRequest: async (req, reply) => infoLimit.check(req, reply, req.ip),
      schema: {
        tags: ["enroll"],
        summary: "Signed server identity and CA (the agent checks it against the token's fingerprint)",
        response: { 200: SignedServerInfo },
      },
    },
    async () => s.enrollment.serverInfo(),
  );

  app.post(
    "/api/v1/enroll",
    {
      onRequest: async (req, reply) => enrollLimit.check(req, reply, req.ip),
      schema: {
        tags: ["enroll"],
        summary: "Enroll a device (signed request)",
        body: EnrollRequest,
        response: { 200: EnrollResponse },
      },
    },
    async (req) => s.enrollment.enroll(req.body as any, req.ip),
  );

  app.post(
    "/api/v1/enroll/poll",
    {
      onRequest: async (req, reply) => pollLimit.check(req, reply, req.ip),
      schema: {
        tags: ["enroll"],
        summary: "A pending device asks for its state (signed request)",
        body: PollRequest,
        response: { 200: EnrollResponse },
      },
    },
    async (req) => s.enrollment.poll(req.body as any),
  );
}

/** Console sign-in: session cookies (HttpOnly, Secure, SameSite=Strict). */
import { Me, SESSION_COOKIE, TetherError } from "@tether/protocol";
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import { checkOrigin, who } from "./auth.js";
import type { Services } from "./context.js";

export async function authRoutes(app: FastifyInstance, s: Services) {
  app.post(
    "/api/v1/auth/login",
    {
      schema: {
        tags: ["auth"],
        summary: "Sign in; sets the session cookie",
        body: Type.Object({
          username: Type.String({ minLength: 1, maxLength: 64 }),
          password: Type.String({ minLength: 1, maxLength: 256 }),
          project: Type.Optional(Type.String()),
        }),
        response: { 200: Me },
      },
    },
    async (req, reply) => {
      checkOrigin(req, s);
      const b = req.body as { username: string; password: string; project?: string };
      const userId = await s.accounts.checkLogin(b.username, b.password);
      const roles = await s.accounts.rolesOf(userId);
      const chosen = b.project ? roles.find((r) => r.name === b.project) : roles[0];
      if (!chosen) throw new TetherError("TETHER_ERR_PROJECT_NOT_FOUND", "you have no role in that project");
      const sid = await s.accounts.createSession(userId, chosen.id);
      reply.setCookie(SESSION_COOKIE, sid, {
        httpOnly: true,
        secure: true,
        sameSite: "strict",
        path: "/",
        maxAge: 12 * 3600,
      });
      return {
        username: b.username,
        project: chosen.name,
        role: chosen.role,
        projects: roles.map((r) => ({ name: r.name, role: r.role })),
      };
    },
  );

  app.post("/api/v1/auth/logout", { schema: { tags: ["auth"], summary: "Sign out" } }, async (req, reply) => {
    const sid = req.cookies?.[SESSION_COOKIE];
    if (sid) await s.accounts.deleteSession(sid);
    reply.clearCookie(SESSION_COOKIE, { path: "/" });
    return { ok: true };
  });

  app.get(
    "/api/v1/auth/me",
    { schema: { tags: ["auth"], summary: "Who am I, in which project", response: { 200: Me } } },
    async (req) => {
      const p = who(req);
      const roles = await s.accounts.rolesOf(p.userId);
      return {
        username: p.username,
        project: p.project,
        role: p.role,
        projects: roles.map((r) => ({ name: r.name, role: r.role })),
      };
    },
  );
}

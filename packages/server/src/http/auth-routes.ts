/** Console sign-in: session cookies (HttpOnly, Secure, SameSite=Strict); the user's own settings. */
import { DefaultProjectBody, DefaultProjectResult, Me, SESSION_COOKIE, TetherError } from "@tether/protocol";
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import { checkOrigin, who } from "./auth.js";
import type { Services } from "./context.js";
import { limiter } from "./rate-limits.js";

export async function authRoutes(app: FastifyInstance, s: Services) {
  const rl = s.rateLimits;
  // Every attempt counts per source address; failures count per username (a guesser spread
  // over many addresses still gets loginPerUsername tries per window on one account).
  const perAddress = limiter(app, "login per address", rl.loginPerAddress, rl.windowMs);
  const perUsername = limiter(app, "failed logins per username", rl.loginPerUsername, rl.windowMs);

  app.post(
    "/api/v1/auth/login",
    {
      // Counted before the body is read or checked, so malformed attempts count too.
      onRequest: async (req, reply) => perAddress.check(req, reply, req.ip),
      schema: {
        tags: ["auth"],
        summary: "Sign in; sets the session cookie (lands in your default project unless `project` is given)",
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
      await perUsername.check(req, reply, b.username, false);
      let userId: number;
      try {
        userId = await s.accounts.checkLogin(b.username, b.password);
      } catch (err) {
        if (err instanceof TetherError && err.code === "TETHER_ERR_LOGIN_FAILED")
          await perUsername.hit(req, b.username);
        throw err;
      }
      const { roles, defaultProjectId } = await s.accounts.home(userId);
      const home = roles.find((r) => r.id === defaultProjectId);
      // Naming no project lands in the user's choice, else the first by name.
      const chosen = b.project ? roles.find((r) => r.name === b.project) : (home ?? roles[0]);
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
        defaultProject: home?.name ?? null,
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
      const { roles, defaultProjectId } = await s.accounts.home(p.userId);
      return {
        username: p.username,
        project: p.project,
        role: p.role,
        projects: roles.map((r) => ({ name: r.name, role: r.role })),
        defaultProject: roles.find((r) => r.id === defaultProjectId)?.name ?? null,
      };
    },
  );

  app.put(
    "/api/v1/me/default-project",
    {
      schema: {
        tags: ["auth"],
        summary: "Choose the project your sign-ins land in (one where you have a role; only you can set it)",
        body: DefaultProjectBody,
        response: { 200: DefaultProjectResult },
      },
    },
    async (req): Promise<DefaultProjectResult> => {
      const p = who(req);
      const { project } = req.body as DefaultProjectBody;
      const r = await s.accounts.setDefaultProject(p.userId, project);
      return { defaultProject: r.name, role: r.role };
    },
  );
}

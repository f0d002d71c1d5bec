/** Users, project membership, projects and API tokens. */
import {
  ApiToken,
  CreateApiToken,
  CreatedApiToken,
  Project,
  RevokeAccessResult,
  Role,
  TetherError,
  User,
} from "@tether/protocol";
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import { DEFAULT_PROJECT, type Principal } from "../accounts.js";
import { randomToken } from "../security/secrets.js";
import { nowIso } from "../store/db.js";
import { who } from "./auth.js";
import type { Services } from "./context.js";

const Name = Type.String({ pattern: "^[A-Za-z0-9._-]{1,64}$" });

export async function accountRoutes(app: FastifyInstance, s: Services) {
  const db = s.store.db;

  /**
   * A user with a role in the caller's project. Unknown users and users of other projects get
   * the same answer, so a project admin learns nothing about who exists elsewhere.
   */
  async function memberOf(p: Principal, username: string): Promise<number> {
    const u = await db.selectFrom("users").select("id").where("username", "=", username).executeTakeFirst();
    if (!u || !(await s.accounts.roleIn(u.id, p.projectId)))
      throw new TetherError("TETHER_ERR_USER_NOT_FOUND", `${username} has no role in ${p.project}`);
    return u.id;
  }

  app.get(
    "/api/v1/users",
    {
      schema: {
        tags: ["users"],
        summary: "Users with a role in this project (admin)",
        response: { 200: Type.Array(User) },
      },
    },
    async (req) => {
      const p = who(req, "admin");
      const rows = await db
        .selectFrom("users")
        .innerJoin("memberships", "memberships.user_id", "users.id")
        .select(["users.id", "users.username", "users.created_at", "memberships.role"])
        .where("memberships.project_id", "=", p.projectId)
        .orderBy("users.username")
        .execute();
      return rows.map((r) => ({
        id: r.id,
        username: r.username,
        createdAt: r.created_at,
        roles: { [p.project]: r.role },
      }));
    },
  );

  app.post(
    "/api/v1/users",
    {
      schema: {
        tags: ["users"],
        summary:
          "Create a user with a role in this project (admin); adding an existing user of another project needs the server admin",
        body: Type.Object({
          username: Name,
          role: Role,
          password: Type.Optional(Type.String({ minLength: 8, maxLength: 256 })),
        }),
        response: {
          200: Type.Object({
            username: Type.String(),
            role: Role,
            password: Type.Union([Type.String(), Type.Null()]),
          }),
        },
      },
    },
    async (req) => {
      const p = who(req, "admin");
      const b = req.body as { username: string; role: Role; password?: string };
      let password: string | null = null;
      const existing = await db
        .selectFrom("users")
        .select("id")
        .where("username", "=", b.username)
        .executeTakeFirst();
      let userId: number;
      if (existing) {
        userId = existing.id;
        // Usernames are unique, so that one is taken may be said; who holds it, where, may not.
        // Adding an existing user to a project (giving them a project they did not ask for) is
        // for the server admin only; a project admin changes their own members with set-role.
        const had = await s.accounts.roleIn(userId, p.projectId);
        if (had)
          throw new TetherError(
            "TETHER_ERR_USER_EXISTS",
            `the user ${b.username} already has a role in ${p.project}; change that role instead (tether users set-role)`,
          );
        if (!(await s.accounts.isServerAdmin(p.userId)))
          throw new TetherError(
            "TETHER_ERR_USER_EXISTS",
            `the username ${b.username} is taken; only the server admin can add an existing user to a project`,
          );
      } else {
        password = b.password ?? randomToken(18);
        // Sign-ins land in the project the user was created in; being added to another
        // project later does not move them (a user's default project is theirs to choose).
        userId = await s.accounts.createUser(b.username, password, p.projectId);
        if (b.password) password = null;
      }
      await s.accounts.setRole(userId, p.projectId, b.role);
      await s.audit.write({
        actor: p.username,
        action: "user.grant",
        projectId: p.projectId,
        // `created`: a new account (not an existing user added to this project).
        detail: { username: b.username, role: b.role, created: !existing },
      });
      return { username: b.username, role: b.role, password };
    },
  );

  app.put(
    "/api/v1/users/:username/role",
    {
      schema: {
        tags: ["users"],
        summary: "Set a user's role in this project (admin)",
        params: Type.Object({ username: Type.String() }),
        body: Type.Object({ role: Role }),
      },
    },
    async (req) => {
      const p = who(req, "admin");
      const { username } = req.params as { username: string };
      const { role } = req.body as { role: Role };
      const id = await memberOf(p, username);
      const from = await s.accounts.roleIn(id, p.projectId);
      await s.accounts.setRole(id, p.projectId, role);
      await s.userChanged({ userId: id, projectId: p.projectId, kind: "role-changed" });
      await s.audit.write({
        actor: p.username,
        action: "user.grant",
        projectId: p.projectId,
        detail: { username, role, from },
      });
      return { username, role };
    },
  );

  app.delete(
    "/api/v1/users/:username",
    {
      schema: {
        tags: ["users"],
        summary: "Remove a user from this project (admin)",
        params: Type.Object({ username: Type.String() }),
      },
    },
    async (req) => {
      const p = who(req, "admin");
      const { username } = req.params as { username: string };
      const id = await memberOf(p, username);
      if (id === p.userId) throw new TetherError("TETHER_ERR_BAD_REQUEST", "you cannot remove yourself");
      await s.accounts.setRole(id, p.projectId, null);
      await db
        .deleteFrom("api_tokens")
        .where("user_id", "=", id)
        .where("project_id", "=", p.projectId)
        .execute();
      await s.userChanged({ userId: id, projectId: p.projectId, kind: "removed" });
      await s.audit.write({
        actor: p.username,
        action: "user.remove",
        projectId: p.projectId,
        detail: { username },
      });
      return { ok: true };
    },
  );

  app.post(
    "/api/v1/users/:username/revoke-access",
    {
      schema: {
        tags: ["users"],
        summary:
          "End all of a user's sign-ins and API tokens, in every project (admin of every project the user is in, or the server admin)",
        params: Type.Object({ username: Type.String() }),
        response: {
          200: RevokeAccessResult,
        },
      },
    },
    async (req) => {
      const p = who(req, "admin");
      const { username } = req.params as { username: string };
      const id = await memberOf(p, username);
      if (!(await s.accounts.isServerAdmin(p.userId))) {
        // Ending sign-ins everywhere acts on every project of the user: a project admin may
        // do it only for users all of whose projects they administer.
        const mine = new Set(
          (await s.accounts.rolesOf(p.userId)).filter((r) => r.role === "admin").map((r) => r.id),
        );
        if ((await s.accounts.rolesOf(id)).some((r) => !mine.has(r.id)))
          throw new TetherError(
            "TETHER_ERR_FORBIDDEN",
            `${username} also has a role in a project you do not administer; ask the server admin, or remove ${username} from ${p.project}`,
          );
      }
      const n = await s.accounts.revokeAccess(id);
      await s.userChanged({ userId: id, kind: "access-revoked" });
      await s.audit.write({
        actor: p.username,
        action: "user.revoke-access",
        projectId: p.projectId,
        detail: { username, sessions: n.sessions, apiTokens: n.tokens },
      });
      return { username, sessions: n.sessions, apiTokens: n.tokens };
    },
  );

  app.get(
    "/api/v1/projects",
    {
      schema: {
        tags: ["projects"],
        summary: "Projects where you have a role",
        response: { 200: Type.Array(Project) },
      },
    },
    async (req) => {
      const p = who(req);
      const roles = await s.accounts.rolesOf(p.userId);
      const rows = await db
        .selectFrom("projects")
        .selectAll()
        .where("id", "in", roles.length ? roles.map((r) => r.id) : [-1])
        .orderBy("name")
        .execute();
      return rows.map((r) => ({
        id: r.id,
        name: r.name,
        createdAt: r.created_at,
        role: roles.find((x) => x.id === r.id)!.role,
      }));
    },
  );

  app.post(
    "/api/v1/projects",
    {
      schema: {
        tags: ["projects"],
        summary: "Create a project; you become its admin (server admin only)",
        body: Type.Object({ name: Name }),
        response: { 200: Project },
      },
    },
    async (req) => {
      const p = who(req, "admin");
      const { name } = req.body as { name: string };
      // Project names are unique server-wide, so creating one tells whether a name is taken:
      // that is for the server admin, who sees every project anyway.
      if (!(await s.accounts.isServerAdmin(p.userId)))
        throw new TetherError(
          "TETHER_ERR_FORBIDDEN",
          `creating projects needs the admin role in project ${DEFAULT_PROJECT} (the server admin)`,
        );
      const exists = await db.selectFrom("projects").select("id").where("name", "=", name).executeTakeFirst();
      if (exists) throw new TetherError("TETHER_ERR_PROJECT_EXISTS", `project ${name} already exists`);
      const id = await s.accounts.ensureProject(name);
      await s.accounts.setRole(p.userId, id, "admin");
      await s.audit.write({ actor: p.username, action: "project.create", projectId: id, detail: { name } });
      return { id, name, createdAt: nowIso(), role: "admin" as const };
    },
  );

  app.delete(
    "/api/v1/projects/:name",
    {
      schema: {
        tags: ["projects"],
        summary: "Delete an empty project you administer",
        params: Type.Object({ name: Type.String() }),
      },
    },
    async (req) => {
      const p = who(req);
      const { name } = req.params as { name: string };
      // A project that does not exist and one where you have no role get the same answer.
      const mine = (await s.accounts.rolesOf(p.userId)).find((r) => r.name === name);
      if (!mine)
        throw new TetherError("TETHER_ERR_PROJECT_NOT_FOUND", `no project named ${name} that you can use`);
      if (mine.role !== "admin")
        throw new TetherError("TETHER_ERR_FORBIDDEN", `you are not an admin of ${name}`);
      if (name === DEFAULT_PROJECT)
        throw new TetherError(
          "TETHER_ERR_BAD_REQUEST",
          `project ${DEFAULT_PROJECT} cannot be deleted: its admins are the server's admins`,
        );
      const id = mine.id;
      const n = await db
        .selectFrom("devices")
        .select((eb) => eb.fn.countAll<number>().as("n"))
        .where("project_id", "=", id)
        .executeTakeFirstOrThrow();
      if (Number(n.n) > 0)
        throw new TetherError("TETHER_ERR_BAD_REQUEST", `project ${name} still has ${n.n} device(s)`);
      await db.deleteFrom("projects").where("id", "=", id).execute();
      // The project's own log goes with it: the record is kept in the server admins' project.
      await s.audit.write({
        actor: p.username,
        action: "project.delete",
        projectId: await s.accounts.projectId(DEFAULT_PROJECT),
        detail: { name },
      });
      return { ok: true };
    },
  );

  app.get(
    "/api/v1/api-tokens",
    {
      schema: {
        tags: ["api-tokens"],
        summary: "API tokens in this project (yours; all of them for admins)",
        response: { 200: Type.Array(ApiToken) },
      },
    },
    async (req) => {
      const p = who(req);
      let q = db
        .selectFrom("api_tokens")
        .innerJoin("users", "users.id", "api_tokens.user_id")
        .select([
          "api_tokens.id",
          "api_tokens.name",
          "users.username",
          "api_tokens.created_at",
          "api_tokens.last_used_at",
          "api_tokens.expires_at",
        ])
        .where("api_tokens.project_id", "=", p.projectId);
      if (p.role !== "admin") q = q.where("api_tokens.user_id", "=", p.userId);
      const rows = await q.orderBy("api_tokens.id").execute();
      const now = nowIso();
      return rows.map((r) => ({
        id: r.id,
        name: r.name,
        username: r.username,
        project: p.project,
        createdAt: r.created_at,
        lastUsedAt: r.last_used_at,
        expiresAt: r.expires_at,
        expired: r.expires_at !== null && r.expires_at <= now,
      }));
    },
  );

  app.post(
    "/api/v1/api-tokens",
    {
      schema: {
        tags: ["api-tokens"],
        summary: "Create an API token acting as you in this project (shown once)",
        body: CreateApiToken,
        response: { 200: CreatedApiToken },
      },
    },
    async (req) => {
      const p = who(req);
      const { name, expiresInSeconds } = req.body as CreateApiToken;
      const expiresAt = expiresInSeconds
        ? new Date(Date.now() + expiresInSeconds * 1000).toISOString()
        : null;
      const t = await s.accounts.createApiToken(p.userId, p.projectId, name, expiresAt);
      await s.audit.write({
        actor: p.username,
        action: "api-token.create",
        projectId: p.projectId,
        detail: { id: t.id, name, expiresAt },
      });
      return { id: t.id, name, token: t.token, expiresAt };
    },
  );

  app.delete(
    "/api/v1/api-tokens/:id",
    {
      schema: {
        tags: ["api-tokens"],
        summary: "Revoke an API token",
        params: Type.Object({ id: Type.Integer() }),
      },
    },
    async (req) => {
      const p = who(req);
      const { id } = req.params as { id: number };
      let q = db.deleteFrom("api_tokens").where("id", "=", id).where("project_id", "=", p.projectId);
      if (p.role !== "admin") q = q.where("user_id", "=", p.userId);
      const r = await q.returning(["user_id", "name"]).executeTakeFirst();
      if (!r)
        throw new TetherError("TETHER_ERR_TOKEN_NOT_FOUND", `no API token ${id} of yours in ${p.project}`);
      await s.userChanged({ userId: r.user_id, projectId: p.projectId, kind: "token-revoked" });
      await s.audit.write({
        actor: p.username,
        action: "api-token.revoke",
        projectId: p.projectId,
        detail: { id, name: r.name },
      });
      return { ok: true };
    },
  );
}

/**
 * Users, projects, roles, API tokens and console sessions. Roles are per project; an API
 * token acts as its user in its project, and a request may select another project where
 * that user has a role.
 */
import { ROLE_RANK, type Role, TetherError } from "@tether/protocol";
import type { Kysely } from "kysely";
import { digest, hashPassword, randomToken, verifyPassword } from "./security/secrets.js";
import { nowIso } from "./store/db.js";
import type { DB } from "./store/schema.js";

export interface Principal {
  userId: number;
  username: string;
  projectId: number;
  project: string;
  role: Role;
  via: "token" | "session";
}

export const API_TOKEN_PREFIX = "tth_";
const SESSION_HOURS = 12;
/** The project created at first start; its admins are the server's admins (docs/security.md). */
export const DEFAULT_PROJECT = "default";

/** Checks a password against a stored hash (injectable so tests can count the work done). */
export type PasswordVerifier = (password: string, hash: string) => Promise<boolean>;

export function hasRole(p: Principal, need: Role): boolean {
  return ROLE_RANK[p.role] >= ROLE_RANK[need];
}

export function requireRole(p: Principal, need: Role): void {
  if (!hasRole(p, need)) {
    throw new TetherError(
      "TETHER_ERR_FORBIDDEN",
      `this action needs the ${need} role in project ${p.project}`,
    );
  }
}

export class Accounts {
  /**
   * A real scrypt hash of a random password, checked when the username is unknown so that a
   * failed sign-in costs the same work whether or not the user exists (no timing oracle).
   */
  private dummyHash: Promise<string> | undefined;

  /** How passwords are checked; replaceable so a test can count the hash work a sign-in does. */
  verifier: PasswordVerifier = verifyPassword;

  constructor(private readonly db: Kysely<DB>) {}

  async ensureProject(name: string): Promise<number> {
    const p = await this.db.selectFrom("projects").select("id").where("name", "=", name).executeTakeFirst();
    if (p) return p.id;
    const r = await this.db
      .insertInto("projects")
      .values({ name, created_at: nowIso() })
      .returning("id")
      .executeTakeFirstOrThrow();
    return r.id;
  }

  async projectId(name: string): Promise<number> {
    const p = await this.db.selectFrom("projects").select("id").where("name", "=", name).executeTakeFirst();
    if (!p) throw new TetherError("TETHER_ERR_PROJECT_NOT_FOUND", `no project named ${name}`);
    return p.id;
  }

  /** `homeProjectId`: where the user's sign-ins land until they choose otherwise. */
  async createUser(username: string, password: string, homeProjectId: number | null = null): Promise<number> {
    const exists = await this.db
      .selectFrom("users")
      .select("id")
      .where("username", "=", username)
      .executeTakeFirst();
    if (exists) throw new TetherError("TETHER_ERR_USER_EXISTS", `user ${username} already exists`);
    const r = await this.db
      .insertInto("users")
      .values({
        username,
        password_hash: await hashPassword(password),
        created_at: nowIso(),
        default_project_id: homeProjectId,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    return r.id;
  }

  async userId(username: string): Promise<number> {
    const u = await this.db
      .selectFrom("users")
      .select("id")
      .where("username", "=", username)
      .executeTakeFirst();
    if (!u) throw new TetherError("TETHER_ERR_USER_NOT_FOUND", `no user named ${username}`);
    return u.id;
  }

  /** A new password ends every sign-in (console session) of the user; API tokens are kept. */
  async setPassword(username: string, password: string): Promise<number> {
    const id = await this.userId(username);
    await this.db
      .updateTable("users")
      .set({ password_hash: await hashPassword(password) })
      .where("id", "=", id)
      .execute();
    await this.db.deleteFrom("sessions").where("user_id", "=", id).execute();
    return id;
  }

  /**
   * End all of a user's sign-ins and API tokens at once (all projects), except the token with
   * id `keepTokenId`. Answers how many of each were ended.
   */
  async revokeAccess(userId: number, keepTokenId?: number): Promise<{ sessions: number; tokens: number }> {
    const s = await this.db.deleteFrom("sessions").where("user_id", "=", userId).executeTakeFirst();
    let q = this.db.deleteFrom("api_tokens").where("user_id", "=", userId);
    if (keepTokenId !== undefined) q = q.where("id", "!=", keepTokenId);
    const t = await q.executeTakeFirst();
    return { sessions: Number(s.numDeletedRows), tokens: Number(t.numDeletedRows) };
  }

  /** Admin of the default project: may add existing users to any project and create projects. */
  async isServerAdmin(userId: number): Promise<boolean> {
    const p = await this.db
      .selectFrom("projects")
      .select("id")
      .where("name", "=", DEFAULT_PROJECT)
      .executeTakeFirst();
    return !!p && (await this.roleIn(userId, p.id)) === "admin";
  }

  /**
   * What a sign-in needs (two queries): the user's roles (by project name) and the project they
   * chose to land in (null if none, or no longer a member of it).
   */
  async home(
    userId: number,
  ): Promise<{ roles: { name: string; id: number; role: Role }[]; defaultProjectId: number | null }> {
    const roles = await this.rolesOf(userId);
    const u = await this.db
      .selectFrom("users")
      .select("default_project_id")
      .where("id", "=", userId)
      .executeTakeFirst();
    const chosen = roles.find((r) => r.id === u?.default_project_id);
    return { roles, defaultProjectId: chosen?.id ?? null };
  }

  /** Only the user sets this, and only to a project where they have a role. */
  async setDefaultProject(userId: number, projectName: string): Promise<{ name: string; role: Role }> {
    const r = (await this.rolesOf(userId)).find((x) => x.name === projectName);
    if (!r)
      throw new TetherError(
        "TETHER_ERR_PROJECT_NOT_FOUND",
        `no project named ${projectName} that you can use`,
      );
    await this.db.updateTable("users").set({ default_project_id: r.id }).where("id", "=", userId).execute();
    return { name: r.name, role: r.role };
  }

  async setRole(userId: number, projectId: number, role: Role | null): Promise<void> {
    await this.db
      .deleteFrom("memberships")
      .where("user_id", "=", userId)
      .where("project_id", "=", projectId)
      .execute();
    if (role)
      await this.db
        .insertInto("memberships")
        .values({ user_id: userId, project_id: projectId, role })
        .execute();
  }

  async roleIn(userId: number, projectId: number): Promise<Role | null> {
    const m = await this.db
      .selectFrom("memberships")
      .select("role")
      .where("user_id", "=", userId)
      .where("project_id", "=", projectId)
      .executeTakeFirst();
    return (m?.role as Role) ?? null;
  }

  async rolesOf(userId: number): Promise<{ name: string; id: number; role: Role }[]> {
    const rows = await this.db
      .selectFrom("memberships")
      .innerJoin("projects", "projects.id", "memberships.project_id")
      .select(["projects.name", "projects.id", "memberships.role"])
      .where("memberships.user_id", "=", userId)
      .orderBy("projects.name")
      .execute();
    return rows.map((r) => ({ name: r.name, id: r.id, role: r.role as Role }));
  }

  async checkLogin(username: string, password: string): Promise<number> {
    const u = await this.db
      .selectFrom("users")
      .select(["id", "password_hash"])
      .where("username", "=", username)
      .executeTakeFirst();
    // An unknown user costs the same scrypt work as a wrong password (issue 9, finding 9).
    this.dummyHash ??= hashPassword(randomToken(18));
    const hash = u ? u.password_hash : await this.dummyHash;
    const ok = await this.verifier(password, hash);
    if (!u || !ok) {
      throw new TetherError("TETHER_ERR_LOGIN_FAILED", "wrong username or password");
    }
    return u.id;
  }

  async createApiToken(
    userId: number,
    projectId: number,
    name: string,
    expiresAt: string | null = null,
  ): Promise<{ id: number; token: string }> {
    const token = API_TOKEN_PREFIX + randomToken(32);
    const r = await this.db
      .insertInto("api_tokens")
      .values({
        name,
        user_id: userId,
        project_id: projectId,
        token_hash: digest(token),
        created_at: nowIso(),
        last_used_at: null,
        expires_at: expiresAt,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    return { id: r.id, token };
  }

  async createSession(userId: number, projectId: number): Promise<string> {
    const sid = randomToken(32);
    const now = Date.now();
    await this.db
      .insertInto("sessions")
      .values({
        id_hash: digest(sid),
        user_id: userId,
        project_id: projectId,
        created_at: new Date(now).toISOString(),
        expires_at: new Date(now + SESSION_HOURS * 3600e3).toISOString(),
      })
      .execute();
    return sid;
  }

  async deleteSession(sid: string): Promise<void> {
    await this.db.deleteFrom("sessions").where("id_hash", "=", digest(sid)).execute();
  }

  /** Resolve a bearer token or session id to a principal in the selected project. */
  async authenticate(
    cred: { token?: string; session?: string },
    projectName?: string,
  ): Promise<Principal | null> {
    let userId: number;
    let projectId: number;
    let via: Principal["via"];
    if (cred.token) {
      const t = await this.db
        .selectFrom("api_tokens")
        .select(["id", "user_id", "project_id", "expires_at"])
        .where("token_hash", "=", digest(cred.token))
        .executeTakeFirst();
      if (!t) return null;
      if (t.expires_at !== null && t.expires_at <= nowIso())
        throw new TetherError("TETHER_ERR_UNAUTHENTICATED", `the API token expired at ${t.expires_at}`);
      userId = t.user_id;
      projectId = t.project_id;
      via = "token";
      await this.db
        .updateTable("api_tokens")
        .set({ last_used_at: nowIso() })
        .where("id", "=", t.id)
        .execute();
    } else if (cred.session) {
      const s = await this.db
        .selectFrom("sessions")
        .select(["user_id", "project_id", "expires_at"])
        .where("id_hash", "=", digest(cred.session))
        .executeTakeFirst();
      if (!s || s.expires_at < nowIso()) return null;
      userId = s.user_id;
      projectId = s.project_id;
      via = "session";
    } else {
      return null;
    }
    if (projectName) {
      const p = await this.db
        .selectFrom("projects")
        .select("id")
        .where("name", "=", projectName)
        .executeTakeFirst();
      if (!p)
        throw new TetherError(
          "TETHER_ERR_PROJECT_NOT_FOUND",
          `no project named ${projectName} that you can use`,
        );
      projectId = p.id;
    }
    const role = await this.roleIn(userId, projectId);
    if (!role) {
      throw new TetherError(
        "TETHER_ERR_PROJECT_NOT_FOUND",
        projectName
          ? `no project named ${projectName} that you can use`
          : "your token's project no longer grants you a role",
      );
    }
    const u = await this.db
      .selectFrom("users")
      .select("username")
      .where("id", "=", userId)
      .executeTakeFirstOrThrow();
    const p = await this.db
      .selectFrom("projects")
      .select("name")
      .where("id", "=", projectId)
      .executeTakeFirstOrThrow();
    return { userId, username: u.username, projectId, project: p.name, role, via };
  }
}

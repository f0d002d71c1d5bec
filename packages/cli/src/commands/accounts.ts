/** tether users | api-tokens | projects */
import type { Command } from "commander";
import { parseDuration, parseIntArg, parseRole, ROLES } from "../args.js";
import { type Ctx, client, printJson, printList } from "../context.js";
import { registerProjectTunnels } from "./project-tunnels.js";

export function registerUsers(program: Command, ctx: Ctx): void {
  const users = program
    .command("users")
    .alias("user")
    .description("users and their roles in the project (admin)");

  users
    .command("list")
    .alias("ls")
    .description("users with a role in this project")
    .option("--json", "print a JSON array")
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const list = await client(ctx, cmd).listUsers();
      printList(
        ctx,
        o.json,
        list,
        ["username", "role", "created"],
        (u) => [u.username, Object.values(u.roles).join(","), u.createdAt],
        "no users",
      );
    });

  users
    .command("create")
    .alias("add")
    .description(
      "create a user with a role in this project (adding an existing user of another project needs the server admin)",
    )
    .argument("<name>", "username")
    .requiredOption("-r, --role <role>", `one of ${ROLES.join(", ")}`)
    .option("-p, --password <password>", "initial password (generated and printed once otherwise)")
    .option("--json", "print the result as JSON")
    .action(async (name: string, o: { role: string; password?: string; json?: boolean }, cmd: Command) => {
      const r = await client(ctx, cmd).createUser({
        username: name,
        role: parseRole(o.role),
        ...(o.password ? { password: o.password } : {}),
      });
      if (o.json) return printJson(ctx, r);
      ctx.io.stdout(`${r.username} is ${r.role}\n`);
      if (r.password)
        ctx.io.stdout(`password: ${r.password}\n(shown once; the user can sign in to the console with it)\n`);
    });

  users
    .command("set-role")
    .description("change a user's role in this project")
    .argument("<name>", "username")
    .argument("<role>", ROLES.join("|"))
    .action(async (name: string, role: string, _o: unknown, cmd: Command) => {
      const r = await client(ctx, cmd).setUserRole(name, parseRole(role));
      ctx.io.stdout(`${r.username} is ${r.role}\n`);
    });

  users
    .command("remove")
    .alias("rm")
    .description("remove a user from this project (their API tokens here are revoked)")
    .argument("<name>", "username")
    .action(async (name: string, _o: unknown, cmd: Command) => {
      await client(ctx, cmd).removeUser(name);
      ctx.io.stdout(`${name} removed\n`);
    });

  users
    .command("revoke-access")
    .description(
      "end all of a user's console sign-ins and API tokens at once, in every project (audited; the user keeps their roles and password)",
    )
    .argument("<name>", "username")
    .option("--json", 'print {"username","sessions","apiTokens"}')
    .action(async (name: string, o: { json?: boolean }, cmd: Command) => {
      const r = await client(ctx, cmd).revokeUserAccess(name);
      if (o.json) return printJson(ctx, r);
      ctx.io.stdout(
        `${r.username}: ended ${r.sessions} sign-in(s) and revoked ${r.apiTokens} API token(s)\n`,
      );
    });
}

export function registerApiTokens(program: Command, ctx: Ctx): void {
  const t = program
    .command("api-tokens")
    .alias("api-token")
    .description("API tokens for scripts and the CLI");

  t.command("list")
    .alias("ls")
    .description("API tokens in this project (yours; all of them for admins)")
    .option("--json", "print a JSON array")
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const list = await client(ctx, cmd).listApiTokens();
      printList(
        ctx,
        o.json,
        list,
        ["id", "name", "user", "created", "last used", "expires"],
        (x) => [
          x.id,
          x.name,
          x.username,
          x.createdAt,
          x.lastUsedAt ?? "never",
          x.expired ? `expired ${x.expiresAt}` : (x.expiresAt ?? "never"),
        ],
        "no API tokens",
      );
    });

  t.command("create")
    .description("create an API token acting as you in this project (printed once)")
    .argument("<name>", "a name to recognise it by")
    .option("--expires <duration>", "refused after this long, e.g. 30d, 12h (default: never)")
    .option("--json", 'print {"id","name","token","expiresAt"}')
    .action(async (name: string, o: { json?: boolean; expires?: string }, cmd: Command) => {
      const seconds = o.expires !== undefined ? Math.max(1, Math.round(parseDuration(o.expires))) : undefined;
      const r = await client(ctx, cmd).createApiToken(name, seconds);
      if (o.json) return printJson(ctx, r);
      ctx.io.stdout(`${r.token}\n`);
      ctx.io.stderr(
        `API token ${r.id} (${r.name}) created${r.expiresAt ? `, expires ${r.expiresAt}` : ""}; it is shown only once\n`,
      );
    });

  t.command("revoke")
    .alias("rm")
    .description("revoke an API token")
    .argument("<id>", "token id (see tether api-tokens list)")
    .action(async (id: string, _o: unknown, cmd: Command) => {
      await client(ctx, cmd).revokeApiToken(parseIntArg(id, "ID"));
      ctx.io.stdout(`API token ${id} revoked\n`);
    });
}

export function registerProjects(program: Command, ctx: Ctx): void {
  const p = program.command("projects").alias("project").description("projects (separate fleets)");

  p.command("list")
    .alias("ls")
    .description("projects where you have a role")
    .option("--json", "print a JSON array")
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const list = await client(ctx, cmd).listProjects();
      printList(
        ctx,
        o.json,
        list,
        ["name", "role", "created"],
        (x) => [x.name, x.role, x.createdAt],
        "no projects",
      );
    });

  p.command("default")
    .description("the project your sign-ins land in (yours to choose); no argument: show it")
    .argument("[name]", "a project where you have a role")
    .option("--json", 'print {"defaultProject"}')
    .action(async (name: string | undefined, o: { json?: boolean }, cmd: Command) => {
      const c = client(ctx, cmd);
      const current = name
        ? (await c.setDefaultProject(name)).defaultProject
        : ((await c.me()).defaultProject ?? null);
      if (o.json) return printJson(ctx, { defaultProject: current });
      ctx.io.stdout(
        current
          ? `sign-ins land in project ${current}\n`
          : "no default project chosen: sign-ins land in the first of your projects by name\n",
      );
    });

  p.command("create")
    .description("create a project; you become its admin (server admin only)")
    .argument("<name>", "letters, digits, . _ - (1-64)")
    .option("--json", "print the project as JSON")
    .action(async (name: string, o: { json?: boolean }, cmd: Command) => {
      const r = await client(ctx, cmd).createProject(name);
      if (o.json) return printJson(ctx, r);
      ctx.io.stdout(`project ${r.name} created; use it with --project ${r.name}\n`);
    });

  p.command("exec-users")
    .description(
      "users `tether exec --user` may run commands as in this project; no arguments: show them (setting needs admin)",
    )
    .argument("[users...]", "the complete new list, e.g. root pi")
    .option("--clear", "allow none: commands run as the agent's own user only")
    .option("--json", 'print {"execUsers":[...]}')
    .action(async (users: string[], o: { clear?: boolean; json?: boolean }, cmd: Command) => {
      const c = client(ctx, cmd);
      const list =
        users.length || o.clear ? await c.setExecUsers(o.clear ? [] : users) : await c.getExecUsers();
      if (o.json) return printJson(ctx, { execUsers: list });
      ctx.io.stdout(
        list.length
          ? `commands may run as: ${list.join(", ")} (and the agent's own user)\n`
          : "commands run as the agent's own user only\n",
      );
    });

  registerProjectTunnels(p, ctx);

  p.command("delete")
    .alias("rm")
    .description("delete an empty project you administer")
    .argument("<name>", "project name")
    .action(async (name: string, _o: unknown, cmd: Command) => {
      await client(ctx, cmd).deleteProject(name);
      ctx.io.stdout(`project ${name} deleted\n`);
    });
}

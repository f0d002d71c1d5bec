/** tether login | logout | whoami */
import { existsSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { TetherClient } from "@tether/sdk";
import type { Command } from "commander";
import { type Ctx, client, opts, printJson } from "../context.js";
import { removeConfig, saveConfig } from "../credentials.js";
import { CliError, EXIT } from "../io.js";
import { defaultServerDataDir } from "../paths.js";
import { cliTransport } from "../transport.js";

function readPassword(ctx: Ctx, file: string | undefined, username: string): Promise<string> {
  if (file) return Promise.resolve(readFileSync(file, "utf8").replace(/\r?\n$/, ""));
  if (ctx.io.env.TETHER_PASSWORD) return Promise.resolve(ctx.io.env.TETHER_PASSWORD);
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    let buf = "";
    const tty = stdin.isTTY;
    if (tty) {
      process.stderr.write(`password for ${username}: `);
      stdin.setRawMode(true);
    }
    stdin.setEncoding("utf8");
    const done = (err?: Error) => {
      stdin.off("data", onData);
      stdin.off("end", onEnd);
      if (tty) {
        stdin.setRawMode(false);
        process.stderr.write("\n");
      }
      stdin.pause();
      err ? reject(err) : resolve(buf);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n") return done();
        if (ch === "\u0003") return done(new CliError("interrupted", 130));
        if (ch === "\u007f" || ch === "\b") buf = buf.slice(0, -1);
        else buf += ch;
      }
    };
    const onEnd = () => done();
    stdin.on("data", onData);
    stdin.on("end", onEnd);
    stdin.resume();
  });
}

/** The local server's CA, when logging in to the server running on this machine. */
function localCa(ctx: Ctx, url: string): string | undefined {
  try {
    const dir = ctx.io.env.TETHER_DATA || defaultServerDataDir(ctx.io.env, ctx.io.home);
    const info = JSON.parse(readFileSync(join(dir, "server.json"), "utf8"));
    if (info.url?.replace(/\/$/, "") === url.replace(/\/$/, "") && info.caCert && existsSync(info.caCert))
      return readFileSync(info.caCert, "utf8");
  } catch {
    /* no local server */
  }
  return undefined;
}

export function registerLogin(program: Command, ctx: Ctx): void {
  program
    .command("login")
    .description("save the server URL and an API token in ~/.config/tether/config.json (0600)")
    .requiredOption("--url <url>", "server URL, e.g. https://tether.example:8443")
    .option("--ca-cert <path>", "CA certificate (PEM) to trust for this server")
    .option("--token <token>", "an API token (tether api-tokens create NAME)")
    .option("--username <name>", "sign in with a password instead; an API token cli@<hostname> is created")
    .option("--password-file <path>", "read the password from this file (else $TETHER_PASSWORD or a prompt)")
    .action(
      async (
        o: { url: string; caCert?: string; token?: string; username?: string; passwordFile?: string },
        cmd: Command,
      ) => {
        if (!!o.token === !!o.username) throw new CliError("pass either --token or --username", EXIT.usage);
        let url: URL;
        try {
          url = new URL(o.url);
        } catch {
          throw new CliError(`bad --url ${JSON.stringify(o.url)}`, EXIT.usage);
        }
        const base = url.href.replace(/\/+$/, "");
        const caCert = o.caCert ? readFileSync(o.caCert, "utf8") : localCa(ctx, base);
        const project = opts<{ project?: string }>(cmd).project;
        const transport = cliTransport(caCert);
        let token = o.token;
        if (!token) {
          const password = await readPassword(ctx, o.passwordFile, o.username!);
          const session = new TetherClient({ url: base, transport });
          await session.login(o.username!, password, project);
          const created = await session.createApiToken(`cli@${hostname()}`.slice(0, 64));
          token = created.token;
          await session.logout().catch(() => undefined);
        }
        const me = await new TetherClient({ url: base, token, transport, project }).me();
        const file = saveConfig(ctx.io, { url: base, token, ...(caCert ? { caCert } : {}) });
        ctx.io.stdout(
          `logged in to ${base} as ${me.username} (${me.role} in ${me.project}); saved ${file}\n`,
        );
      },
    );

  program
    .command("logout")
    .description("forget the saved credentials")
    .action(async () => {
      const p = removeConfig(ctx.io);
      ctx.io.stdout(p ? `removed ${p}\n` : "not logged in\n");
    });

  program
    .command("whoami")
    .description("who the CLI acts as, where")
    .option("--json", "print as JSON")
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const c = client(ctx, cmd);
      const me = await c.me();
      if (o.json) return printJson(ctx, { ...me, url: c.url });
      ctx.io.stdout(`${me.username} (${me.role} in ${me.project}) at ${c.url}\n`);
    });
}

/** tether token create|list|delete: enrollment tokens. */
import type { Command } from "commander";
import { collect, parseDuration, parseIntArg, parseLabels } from "../args.js";
import { type Ctx, client, printJson, printList } from "../context.js";
import { formatLabels } from "../table.js";

export function registerToken(program: Command, ctx: Ctx): void {
  const token = program.command("token").alias("tokens").description("enrollment tokens for new devices");

  token
    .command("create")
    .description("create an enrollment token and print the one-line agent command")
    .option("-l, --label <k=v>", "label enrolled devices (repeatable)", collect, [])
    .option("-e, --expires <duration>", "lifetime, e.g. 30m, 1h, 7d (server default otherwise)")
    .option("-u, --uses <n>", "how many devices may enroll with it")
    .option("--auto-accept", "accept devices enrolled with this token without review")
    .option("--json", 'print {"token","command","expiresAt"}')
    .action(
      async (
        o: { label: string[]; expires?: string; uses?: string; autoAccept?: boolean; json?: boolean },
        cmd: Command,
      ) => {
        const labels = parseLabels(o.label, false) as Record<string, string>;
        const t = await client(ctx, cmd).createEnrollmentToken({
          ...(o.label.length ? { labels } : {}),
          ...(o.expires ? { expiresInSeconds: parseDuration(o.expires) } : {}),
          ...(o.uses ? { uses: parseIntArg(o.uses, "--uses") } : {}),
          ...(o.autoAccept ? { autoAccept: true } : {}),
        });
        if (o.json) return printJson(ctx, { token: t.token, command: t.command, expiresAt: t.expiresAt });
        ctx.io.stdout(
          `Run this on the device to enroll it:\n\n    ${t.command}\n\n` +
            `token:   ${t.token}\n` +
            `id:      ${t.id}\n` +
            `expires: ${t.expiresAt}\n` +
            (o.autoAccept
              ? "devices enrolled with it are accepted automatically\n"
              : "devices enrolled with it wait for: tether devices accept DEVICE\n"),
        );
      },
    );

  token
    .command("list")
    .alias("ls")
    .description("list enrollment tokens (secrets are never shown again)")
    .option("--json", "print a JSON array")
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const list = await client(ctx, cmd).listEnrollmentTokens();
      printList(
        ctx,
        o.json,
        list,
        ["id", "uses left", "used", "auto accept", "labels", "expires", "created by"],
        (t) => [
          t.id,
          t.usesLeft,
          t.uses,
          t.autoAccept ? "yes" : "no",
          formatLabels(t.labels),
          t.expiresAt,
          t.createdBy,
        ],
        "no enrollment tokens",
      );
    });

  token
    .command("delete")
    .alias("rm")
    .description("delete an enrollment token")
    .argument("<id>", "token id (see tether token list)")
    .action(async (id: string, _o: unknown, cmd: Command) => {
      await client(ctx, cmd).deleteEnrollmentToken(parseIntArg(id, "ID"));
      ctx.io.stdout(`enrollment token ${id} deleted\n`);
    });
}

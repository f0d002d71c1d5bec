/** tether commands list | show | cancel: command history and control. */
import { type Command as Cmd, type CommandRun, commandText as argvText, isCommandId } from "@tether/sdk";
import type { Command } from "commander";
import { parseIntArg } from "../args.js";
import { type Ctx, client, printJson, printList } from "../context.js";
import { CliError, EXIT } from "../io.js";
import { escapeControl } from "../escape.js";
import { table } from "../table.js";

const target = (c: Cmd) =>
  c.target.all
    ? "all"
    : c.target.selector !== undefined
      ? `selector ${c.target.selector}`
      : (c.target.devices ?? []).join(",");

export function summaryText(c: Cmd): string {
  const s = c.summary;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(s)) if (k !== "total" && v) parts.push(`${v} ${k.replace("_", " ")}`);
  return `${parts.join(", ") || "no devices"} (of ${s.total})`;
}

export function registerCommands(program: Command, ctx: Ctx): void {
  const c = program
    .command("commands")
    .alias("cmds")
    .description("history of exec commands; show or cancel one");

  c.command("list")
    .alias("ls")
    .description("commands in this project, newest first")
    .option("--device <device>", "only commands that ran on this device")
    .option("-n, --limit <n>", "at most this many", "50")
    .option("--json", "print a JSON array")
    .action(async (o: { device?: string; limit: string; json?: boolean }, cmd: Command) => {
      const list = await client(ctx, cmd).listCommands({
        device: o.device,
        limit: parseIntArg(o.limit, "--limit"),
      });
      printList(
        ctx,
        o.json,
        list,
        ["id", "created", "by", "state", "command", "target", "result"],
        (x) => [x.id, x.createdAt, x.createdBy, x.state, argvText(x), target(x), summaryText(x)],
        "no commands yet",
      );
    });

  c.command("show")
    .description("one command: what ran where, each device's status, exit code and output")
    .argument("<id>", "command id (cmd_...)")
    .option("--json", "print the command with its runs (stdout/stderr included) as JSON")
    .action(async (id: string, o: { json?: boolean }, cmd: Command) => {
      checkId(id);
      const x = await client(ctx, cmd).getCommand(id, { output: true });
      if (o.json) return printJson(ctx, x);
      const lines = [
        `command:  ${escapeControl(argvText(x))}${x.shell ? "  (via /bin/sh -c)" : ""}`,
        `id:       ${x.id}`,
        `by:       ${escapeControl(x.createdBy)} at ${x.createdAt}`,
        `target:   ${escapeControl(target(x))}`,
        `state:    ${x.state}${x.finishedAt ? ` (finished ${x.finishedAt})` : ""}`,
        `timeout:  ${x.timeoutMs / 1000} s${x.user ? `; user ${x.user}` : ""}${x.cwd ? `; cwd ${escapeControl(x.cwd)}` : ""}`,
        `result:   ${summaryText(x)}`,
        "",
      ];
      ctx.io.stdout(lines.join("\n"));
      const runs = x.runs ?? [];
      ctx.io.stdout(
        table(
          ["device", "status", "exit", "duration", "stdout", "stderr", "note"],
          runs.map((r) => [
            r.device,
            r.status,
            r.exitCode ?? r.signal ?? "-",
            r.durationMs === null ? "-" : `${(r.durationMs / 1000).toFixed(2)}s`,
            bytes(r, "stdout"),
            bytes(r, "stderr"),
            r.error ?? "",
          ]),
        ),
      );
      for (const r of runs) {
        for (const s of ["stdout", "stderr"] as const) {
          const text = r[s];
          if (!text) continue;
          ctx.io.stdout(
            `\n--- ${escapeControl(r.device)} ${s}${r[`${s}Encoding`] === "base64" ? " (binary, base64)" : ""} ---\n`,
          );
          // The command's own output: bytes, printed unchanged like `tether exec` (escape.ts).
          ctx.io.stdout(Buffer.from(text.endsWith("\n") ? text : `${text}\n`));
        }
      }
    });

  c.command("cancel")
    .description("cancel a command: queued devices are dropped, running processes killed")
    .argument("<id>", "command id (cmd_...)")
    .option("--json", "print the command as JSON")
    .action(async (id: string, o: { json?: boolean }, cmd: Command) => {
      checkId(id);
      const x = await client(ctx, cmd).cancelCommand(id);
      if (o.json) return printJson(ctx, x);
      ctx.io.stdout(`${x.id}: cancel requested; now ${summaryText(x)}\n`);
    });
}

/**
 * An id that cannot be a command's is not found (exit 4, like an unknown device), said before
 * any request: the server would refuse its shape with a schema message.
 */
function checkId(id: string): void {
  if (!isCommandId(id))
    throw new CliError(
      `no command ${id}: command ids are cmd_ and 20 letters or digits (tether commands list)`,
      EXIT.notFound,
    );
}

function bytes(r: CommandRun, s: "stdout" | "stderr"): string {
  const n = r[`${s}Bytes`];
  return `${n}${r[`${s}Truncated`] ? " (truncated)" : ""}`;
}

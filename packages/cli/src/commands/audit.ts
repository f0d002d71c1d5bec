/** tether audit list */
import type { Command } from "commander";
import { parseIntArg } from "../args.js";
import { type Ctx, client, printList } from "../context.js";

const short = (d: Record<string, unknown>) =>
  Object.entries(d)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");

export function registerAudit(program: Command, ctx: Ctx): void {
  const audit = program.command("audit").description("the project's audit log (admin)");
  audit
    .command("list", { isDefault: true })
    .alias("ls")
    .description("audit entries, newest first")
    .option("-d, --device <device>", "only entries about this device (id or name)")
    .option("-n, --limit <n>", "at most N entries", "100")
    .option("--json", "print a JSON array")
    .action(async (o: { device?: string; limit: string; json?: boolean }, cmd: Command) => {
      const list = await client(ctx, cmd).audit({ device: o.device, limit: parseIntArg(o.limit, "--limit") });
      printList(
        ctx,
        o.json,
        list,
        ["time", "actor", "action", "device", "detail"],
        (e) => [e.at, e.actor, e.action, e.deviceId, short(e.detail)],
        "no audit entries",
      );
    });
}

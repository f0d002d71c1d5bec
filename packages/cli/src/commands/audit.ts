/** tether audit list */
import { AUDIT_PAGE_MAX, type AuditEntry, auditSentence, partsText } from "@tether/sdk";
import type { Command } from "commander";
import { parseDuration, parseIntArg } from "../args.js";
import { type Ctx, client, printJson } from "../context.js";
import { CliError, EXIT } from "../io.js";
import { table } from "../table.js";

interface AuditOpts {
  actor?: string;
  action?: string;
  device?: string;
  since?: string;
  until?: string;
  before?: string;
  limit: string;
  all?: boolean;
  json?: boolean;
}

/** "1h" (that long ago), or a date/time ("2026-05-01", "2026-05-01T12:00") → ISO 8601. */
export function parseWhen(s: string, what: string, now = Date.now()): string {
  const t = s.trim();
  if (/^\d+(\.\d+)?[smhdw]/.test(t) || /^\d+$/.test(t)) {
    return new Date(now - parseDuration(t) * 1000).toISOString();
  }
  const ms = Date.parse(t);
  if (Number.isNaN(ms))
    throw new CliError(
      `${what} must be a duration ago (30m, 2h, 7d) or a date/time (2026-05-01, 2026-05-01T12:00), got ${JSON.stringify(s)}`,
      EXIT.usage,
    );
  return new Date(ms).toISOString();
}

/** Local time to the second: "2026-05-01 12:00:03". */
function localTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function registerAudit(program: Command, ctx: Ctx): void {
  const audit = program.command("audit").description("the project's audit log (admin)");
  audit
    .command("list", { isDefault: true })
    .alias("ls")
    .description("audit entries, newest first: one line each (time, who, what happened)")
    .option("-d, --device <device>", "only entries about this device (id or name; a deleted one too)")
    .option("-a, --actor <user>", "only what this user did (device:ID for what a device did itself)")
    .option("--action <action>", 'only this action, e.g. device.accept, or a prefix like "device.*"')
    .option("--since <when>", "only entries since then: a duration ago (2h, 7d) or a date/time")
    .option("--until <when>", "only entries before then: a duration ago (2h, 7d) or a date/time")
    .option("--before <id>", "only entries older than entry ID (to continue a listing)")
    .option("-n, --limit <n>", "at most N entries (fetched page by page)", "100")
    .option("--all", "every matching entry (no --limit)")
    .option("--json", "print a JSON array of the entries, with every detail")
    .action(async (o: AuditOpts, cmd: Command) => {
      const c = client(ctx, cmd);
      const want = o.all ? Number.POSITIVE_INFINITY : parseIntArg(o.limit, "--limit");
      const query = {
        device: o.device,
        actor: o.actor,
        action: o.action,
        since: o.since !== undefined ? parseWhen(o.since, "--since") : undefined,
        until: o.until !== undefined ? parseWhen(o.until, "--until") : undefined,
      };
      let before = o.before !== undefined ? parseIntArg(o.before, "--before") : undefined;
      const list: AuditEntry[] = [];
      let more = false;
      // Page through the log (a server page holds at most AUDIT_PAGE_MAX); ask for one extra
      // entry so we know whether older ones remain.
      while (list.length < want) {
        const limit = Math.min(AUDIT_PAGE_MAX, want - list.length + 1);
        const page = await c.audit({ ...query, before, limit });
        const take = page.slice(0, want - list.length);
        list.push(...take);
        // A full page may have older entries behind it; one we did not print all of does.
        more = take.length < page.length || page.length === limit;
        if (!more || list.length >= want) break;
        before = page[page.length - 1].id;
      }
      if (o.json) return printJson(ctx, list);
      if (list.length === 0) {
        ctx.io.stderr("no audit entries\n");
        return;
      }
      ctx.io.stdout(
        table(
          ["time", "who", "what"],
          list.map((e) => {
            const s = auditSentence(e, { time: (t) => localTime(t).slice(0, 16) });
            return [localTime(e.at), s.actor, partsText(s.parts)];
          }),
        ),
      );
      if (more)
        ctx.io.stderr(
          `older entries remain: add --before ${list[list.length - 1].id} (or a larger --limit, or --all)\n`,
        );
    });
}

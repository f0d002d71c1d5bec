/**
 * tether sessions list | show | export (docs/protocol.md §17.7): the project's tunnel sessions
 * (shells, commands, port forwards; live and ended) and their asciicast v2 recordings.
 */
import { clock, fmtSpan, type SessionView, sessionsApi } from "@tether/sdk";
import type { Command } from "commander";
import { parseIntArg } from "../args.js";
import { type Ctx, client, printJson, printList } from "../context.js";
import { CliError, EXIT } from "../io.js";
import { details } from "../table.js";

/** The server's page limit for GET /api/v1/sessions. */
const MAX_LIST = 500;

const HELP = `
Examples:
  tether sessions list                         the newest 50 sessions of the project
  tether sessions list --device robot-7 --limit 200
  tether sessions show ses_0123456789abcdefghij
  tether sessions export ses_0123456789abcdefghij > session.cast
  asciinema play session.cast

A session is recorded (asciicast v2: what the terminal showed, with timing) when the project
records sessions (tether projects tunnels --record); port forwards are listed, never recorded.

Exit codes: 0 ok, 2 usage, 3 not allowed, 4 no such session or no recording,
255 the server unreachable.`;

/** How it ended, in a word or two: "live", "exited 0", "device-gone". */
export function endText(s: SessionView): string {
  if (s.live) return "live";
  if (s.endReason === "exited" && s.exitCode !== null) return `exited ${s.exitCode}`;
  return s.endReason ?? "-";
}

/** Its length so far (live) or in all. */
export function durationText(s: SessionView, now = Date.now()): string {
  const ms = s.durationMs ?? (s.live ? now - Date.parse(s.startedAt) : null);
  return ms === null || Number.isNaN(ms) ? "-" : fmtSpan(Math.max(0, ms) / 1000);
}

const startedText = (s: SessionView) => {
  const t = Date.parse(s.startedAt);
  return Number.isNaN(t) ? s.startedAt : clock(t);
};

export function registerSessions(program: Command, ctx: Ctx): void {
  const g = program
    .command("sessions")
    .alias("session")
    .description("tunnel sessions: shells, commands and port forwards, and their recordings")
    .addHelpText("after", HELP);

  g.command("list")
    .alias("ls")
    .description("sessions of the project, newest first (live ones too)")
    .option("-d, --device <device>", "only this device's (name or id)")
    .option("-n, --limit <n>", `at most this many (up to ${MAX_LIST})`, "50")
    .option("--json", "print a JSON array")
    .action(async (o: { device?: string; limit: string; json?: boolean }, cmd: Command) => {
      const limit = parseIntArg(o.limit, "--limit");
      if (limit > MAX_LIST) throw new CliError(`--limit is at most ${MAX_LIST}`, EXIT.usage);
      const list = await sessionsApi(client(ctx, cmd)).list({ device: o.device, limit });
      printList(
        ctx,
        o.json,
        list,
        ["id", "device", "user", "kind", "via", "started", "duration", "ended", "recorded"],
        (s) => [
          s.id,
          s.device.name,
          s.runAs ? `${s.user} (as ${s.runAs})` : s.user,
          s.kind === "forward" ? `forward ${s.target}` : s.kind,
          s.via,
          startedText(s),
          durationText(s),
          endText(s),
          s.recorded ? "yes" : "no",
        ],
        o.device ? "no sessions on that device" : "no sessions yet",
      );
    });

  g.command("show")
    .description("one session")
    .argument("<id>", "session id (ses_…)")
    .option("--json", "print it as JSON")
    .action(async (id: string, o: { json?: boolean }, cmd: Command) => {
      const s = await sessionsApi(client(ctx, cmd)).get(id);
      if (o.json) return printJson(ctx, s);
      ctx.io.stdout(
        details([
          ["id", s.id],
          ["device", `${s.device.name} (${s.device.id})`],
          ["user", s.user],
          ["run as", s.runAs ?? "the agent's user"],
          ["kind", s.kind],
          ["target", s.target],
          ["via", s.via],
          ["started", s.startedAt],
          ["ended", s.endedAt ?? "live"],
          ["duration", durationText(s)],
          ["how it ended", endText(s)],
          ["bytes in/out", `${s.bytesIn} / ${s.bytesOut}`],
          ["recorded", s.recorded ? "yes (tether sessions export)" : "no"],
        ]),
      );
    });

  g.command("export")
    .description("write a session's recording (asciicast v2) to stdout")
    .argument("<id>", "session id (ses_…)")
    .action(async (id: string, _o: unknown, cmd: Command) => {
      // Written as it arrives. Device output is inside JSON strings, already escaped there.
      await sessionsApi(client(ctx, cmd, { signal: ctx.io.stopSignal() })).recording(id, (t) =>
        ctx.io.stdout(t),
      );
    });
}

/**
 * tether logs DEVICE | --selector K=V [-f] (docs/protocol.md §15): the newest lines (search),
 * printed oldest first like `tail`, then with -f the live ones over the SSE stream, which
 * reconnects and resumes after the last line shown (no line twice, none missed).
 */
import {
  LOG_LEVELS,
  type LogLevel,
  type LogLine,
  type LogQuery,
  type LogsApi,
  logGapText,
  logsApi,
  logTime,
} from "@tether/sdk";
import type { Command } from "commander";
import { parseIntArg, parseSelectorArg } from "../args.js";
import { type Ctx, client } from "../context.js";
import { escapeControl } from "../escape.js";
import { CliError, EXIT } from "../io.js";
import { parseSince } from "./metrics.js";

const HELP = `
Examples:
  tether logs robot-7                          the newest 100 lines of the last 24h, oldest first
  tether logs robot-7 -f                       the newest lines, then live ones until Ctrl-C
  tether logs robot-7 --since 10m --level warn
  tether logs robot-7 --grep "disk full" --source /var/log/app.log -n 500
  tether logs robot-7 --source unit:nginx.service       (journal lines of one systemd unit)
  tether logs --selector site=tokyo -f         every matching device, lines prefixed by its name
  tether logs robot-7 -f --json | jq .message  one JSON object per line (NDJSON)

Each line: local time (the device's timestamp corrected for its clock skew), level, [source],
message. Control characters in messages are shown escaped (\\x1b, \\r). A gap line says how many
lines the device dropped (rate limit, full buffer) and when: "-- 1,204 lines dropped from
app.log between 14:00:01 and 14:03:22 (rate limit) --". --grep takes words (every one must
occur) or a "quoted phrase"; --level warn means warn and above. Colours when stdout is a
terminal (NO_COLOR=1 turns them off, FORCE_COLOR=1 on).

-f: should the server go away (a restart, the network), "connection lost; reconnecting…" is
said on stderr, then "reconnected"; the tail resumes after the last line shown. Ctrl-C ends it
(exit 0). --json: a JSON array of the lines (oldest first); with -f one object per line.

Exit codes: 0 ok (no lines is not an error), 2 usage (a bad --since, --level, --selector),
3 not allowed, 4 no such device, 255 the server unreachable.`;

interface LogsOpts {
  follow?: boolean;
  selector?: string;
  since?: string;
  until?: string;
  grep?: string;
  source?: string;
  level?: string;
  limit: string;
  json?: boolean;
}

const usage = (m: string) => new CliError(m, EXIT.usage);
/** --limit's ceiling: pages of at most 1000 lines are fetched until then. */
export const MAX_LOG_LIMIT = 100_000;
const PAGE = 1000;

export function parseLevel(s: string): LogLevel {
  const l = s.trim().toLowerCase();
  const alias: Record<string, LogLevel> = { warning: "warn", err: "error" };
  const v = alias[l] ?? l;
  if (!(LOG_LEVELS as readonly string[]).includes(v))
    throw usage(`--level must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(s)}`);
  return v as LogLevel;
}

/** The search and tail filters of the command line, checked before any request. */
export function logQueryOf(device: string | undefined, o: LogsOpts): { query: LogQuery; limit: number } {
  if (device !== undefined && o.selector !== undefined) throw usage("name a DEVICE or --selector, not both");
  if (device === undefined && o.selector === undefined)
    throw usage("name a DEVICE, or --selector k=v for several (see tether logs --help)");
  if (o.selector !== undefined) parseSelectorArg(o.selector);
  if (o.follow && o.until !== undefined) throw usage("--until cannot be used with -f");
  const limit = parseIntArg(o.limit, "--limit", o.follow ? 0 : 1);
  if (limit > MAX_LOG_LIMIT) throw usage(`--limit must be at most ${MAX_LOG_LIMIT}, got ${limit}`);
  if (o.grep !== undefined && (o.grep.trim() === "" || o.grep.length > 512))
    throw usage("--grep needs some text (at most 512 characters)");
  if (o.source !== undefined && (o.source === "" || o.source.length > 512))
    throw usage("--source needs a source name (at most 512 characters)");
  const query: LogQuery = {
    device,
    selector: o.selector,
    q: o.grep,
    source: o.source,
    level: o.level !== undefined ? parseLevel(o.level) : undefined,
    since: o.since !== undefined ? parseSince(o.since) : undefined,
    until: o.until !== undefined ? parseSince(o.until, "--until") : undefined,
  };
  return { query, limit };
}

/** The newest `want` lines (paging through the search), oldest first; `more`: older ones match. */
export async function newestLines(
  api: Pick<LogsApi, "search">,
  q: LogQuery,
  want: number,
): Promise<{ lines: LogLine[]; more: boolean }> {
  const lines: LogLine[] = [];
  let before: string | undefined;
  let more = false;
  while (lines.length < want) {
    const page = await api.search({ ...q, limit: Math.min(PAGE, want - lines.length), before });
    lines.push(...page.lines.slice(0, want - lines.length));
    more = page.next !== null;
    if (!page.next || page.lines.length === 0) break;
    before = page.next;
  }
  return { lines: lines.reverse(), more };
}

// --- formatting ------------------------------------------------------------------------------

const SGR = {
  reset: "\x1b[0m",
  dim: "\x1b[2m",
  bold: "\x1b[1m",
  red: "\x1b[31m",
  green: "\x1b[32m",
  yellow: "\x1b[33m",
  blue: "\x1b[34m",
  magenta: "\x1b[35m",
  cyan: "\x1b[36m",
  gapStyle: "\x1b[1;33m",
} as const;

const LEVEL_COLOUR: Record<LogLevel, string> = {
  debug: SGR.dim,
  info: SGR.green,
  warn: SGR.yellow,
  error: SGR.red,
  fatal: `${SGR.bold}${SGR.magenta}`,
};

const DEVICE_COLOURS = [SGR.cyan, SGR.blue, SGR.magenta, SGR.green, SGR.yellow];

function deviceColour(name: string): string {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  return DEVICE_COLOURS[h % DEVICE_COLOURS.length];
}

/** A message made safe for the terminal: control characters escaped, tabs kept. */
const safe = (s: string) => s.split("\t").map(escapeControl).join("\t");

export interface LineFormat {
  /** Prefix each line with its device's name (a selector's lines). */
  prefix?: boolean;
  /** ANSI colours (stdout is a terminal). */
  color?: boolean;
}

/**
 * One line as printed (no newline): `2026-12-01 14:03:22.123 WARN  [source] message`, a gap
 * line as `2026-12-01 14:03:22.123 -- 1,204 lines dropped from app.log between … --`.
 * Device-provided text is escaped here, so the result may be written as raw bytes.
 */
export function formatLogLine(l: LogLine, f: LineFormat = {}): string {
  const paint = (code: string, s: string) => (f.color ? `${code}${s}${SGR.reset}` : s);
  const name = escapeControl(l.device);
  const pre = f.prefix ? `${paint(deviceColour(l.device), name)}: ` : "";
  const time = paint(SGR.dim, logTime(l.time));
  if (l.kind === "gap") return `${pre}${time} ${paint(SGR.gapStyle, `-- ${safe(logGapText(l))} --`)}`;
  const lvl = (l.level ?? "").toUpperCase().padEnd(5);
  const level = l.level ? paint(LEVEL_COLOUR[l.level], lvl) : lvl;
  const src = escapeControl(l.unit ? `${l.source}:${l.unit}` : l.source);
  return `${pre}${time} ${level} [${src}] ${safe(l.message)}`;
}

/** Colours: FORCE_COLOR / NO_COLOR, else when the real stdout is a terminal. */
export function wantColour(env: Record<string, string | undefined>, isTty: boolean): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "" && env.FORCE_COLOR !== "0") return true;
  return isTty;
}

/** Writes lines as text, coloured text (raw bytes: already escaped) or NDJSON. */
class Printer {
  constructor(
    private readonly ctx: Ctx,
    private readonly f: LineFormat,
    private readonly ndjson: boolean,
  ) {}

  line(l: LogLine): void {
    if (this.ndjson) {
      this.ctx.io.stdout(`${JSON.stringify(l)}\n`);
      return;
    }
    const s = `${formatLogLine(l, this.f)}\n`;
    // Coloured: the escape codes must reach the terminal, so the (escaped) text goes as bytes.
    this.ctx.io.stdout(this.f.color ? Buffer.from(s, "utf8") : s);
  }
}

export function registerLogs(program: Command, ctx: Ctx): void {
  program
    .command("logs")
    .alias("log")
    .description("a device's logs: the newest lines (search), or follow them live with -f")
    .usage("DEVICE | --selector K=V [-f] [--since 10m] [--grep TEXT] [--source S] [--level warn] [--json]")
    .argument("[device]", "device id or unique name")
    .option("-f, --follow", "after the recent lines, print new ones as they arrive (Ctrl-C ends)")
    .option("-s, --selector <k=v,...>", "every device matching labels/facts; lines prefixed by device name")
    .option("--since <when>", "how far back: a duration (10m, 1h, 7d) or a date/time (default 24h)")
    .option("--until <when>", "only lines before then: a duration ago or a date/time (not with -f)")
    .option("-g, --grep <text>", 'only lines with these words (each must occur) or a "quoted phrase"')
    .option("--source <source>", "only lines from this source: a file path, journal, agent, unit:NAME")
    .option("-l, --level <level>", `this level and above: ${LOG_LEVELS.join(", ")}`)
    .option("-n, --limit <n>", "the newest N lines (with -f, 0 shows only new ones)", "100")
    .option("--json", "a JSON array of the lines; with -f one JSON object per line (NDJSON)")
    .addHelpText("after", HELP)
    .action(async (device: string | undefined, o: LogsOpts, cmd: Command) => {
      const { query, limit } = logQueryOf(device, o);
      const signal = ctx.io.stopSignal();
      const api = logsApi(client(ctx, cmd, { signal }));
      const printer = new Printer(
        ctx,
        {
          prefix: o.selector !== undefined,
          color: !o.json && wantColour(ctx.io.env, process.stdout.isTTY === true),
        },
        !!o.json && !!o.follow,
      );

      if (!o.follow) {
        const { lines, more } = await newestLines(api, query, limit);
        if (o.json) {
          ctx.io.stdout(`${JSON.stringify(lines, null, 2)}\n`);
          return;
        }
        if (lines.length === 0) {
          ctx.io.stderr(`no log lines match${o.since ? "" : " in the last 24h (see --since)"}\n`);
          return;
        }
        for (const l of lines) printer.line(l);
        if (more)
          ctx.io.stderr(`older lines match: raise --limit (now ${limit}) or narrow with --since/--grep\n`);
        return;
      }

      try {
        const recent = limit > 0 ? (await newestLines(api, query, limit)).lines : [];
        for (const l of recent) printer.line(l);
        let lost = false;
        // Reached once (the search answered, or a stream opened): from then on a lost
        // connection is waited out; a server that never answered is an error at once.
        let reached = limit > 0;
        await api.tail(
          {
            device: query.device,
            selector: query.selector,
            q: query.q,
            source: query.source,
            level: query.level,
          },
          (e) => {
            if (e.type === "line") printer.line(e.line);
            else
              ctx.io.stderr(
                `tether: ${e.dropped.toLocaleString("en-US")} line${e.dropped === 1 ? "" : "s"} skipped: this reader fell behind the stream\n`,
              );
          },
          {
            signal,
            after: recent.at(-1)?.id,
            onOpen: () => {
              reached = true;
              if (!lost) return;
              lost = false;
              ctx.io.stderr("tether: reconnected\n");
            },
            onRetry: (err) => {
              if (!reached) throw err;
              if (lost) return;
              lost = true;
              ctx.io.stderr(`tether: connection lost; reconnecting… (${err.message})\n`);
            },
          },
        );
      } catch (err) {
        // Ctrl-C while the recent lines load: an ordinary end of a follow.
        if (signal.aborted) return;
        throw err;
      }
    });
}

/**
 * The logs of `tether server` and `tether agent` (README "Logs"). Both build a pino logger
 * here and hand it to createServer({log}) / runAgent({log}).
 *
 * - `text` (the default): one line per record for people, on a terminal and in journald:
 *   `09:12:03 INFO  device online  deviceId=… connId=…`. The time is printed only on a
 *   terminal (journald and other collectors stamp lines themselves); `pid`, `hostname` and
 *   the fields whose value the message already says are left out. An error (`err`) shows
 *   its message, and its stack at level debug and below.
 * - `json`: pino's own JSON lines, unchanged, for log collectors.
 *
 * Every piece of text is escaped (escape.ts): a device-chosen string in a log field cannot
 * reach the terminal as a control sequence. pino is imported only when a logger is built,
 * so the other commands never load it.
 */
import type { Logger } from "pino";
import { escapeControl } from "./escape.js";
import { CliError, EXIT, type Io } from "./io.js";

export const LOG_FORMATS = ["text", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Help text of the two options, shared by `tether server` and `tether agent`. */
export const LOG_FORMAT_HELP =
  "log lines: text for people and journald (default), json (pino JSON lines) for log collectors; env TETHER_LOG_FORMAT";
export const LOG_LEVEL_HELP = `least severe level logged: ${LOG_LEVELS.join(", ")} (default info; env TETHER_LOG_LEVEL)`;

/** --log-format, else TETHER_LOG_FORMAT, else text. */
export function logFormatOf(flag: string | undefined, env: Record<string, string | undefined>): LogFormat {
  const [v, from] =
    flag !== undefined ? [flag, "--log-format"] : [env.TETHER_LOG_FORMAT || "text", "TETHER_LOG_FORMAT"];
  const f = v.trim().toLowerCase();
  if (!(LOG_FORMATS as readonly string[]).includes(f)) {
    throw new CliError(`${from} must be text or json, got ${JSON.stringify(v)}`, EXIT.usage);
  }
  return f as LogFormat;
}

/** --log-level, else TETHER_LOG_LEVEL, else `fallback` (info). */
export function logLevelOf(
  flag: string | undefined,
  env: Record<string, string | undefined>,
  fallback: LogLevel = "info",
): LogLevel {
  const [v, from] =
    flag !== undefined ? [flag, "--log-level"] : [env.TETHER_LOG_LEVEL || fallback, "TETHER_LOG_LEVEL"];
  const l = v.trim().toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(l)) {
    throw new CliError(
      `${from} must be one of ${LOG_LEVELS.join(", ")}; got ${JSON.stringify(v)}`,
      EXIT.usage,
    );
  }
  return l as LogLevel;
}

export interface TextOptions {
  /** Print the local time (HH:MM:SS) first: on a terminal, not for journald. */
  time: boolean;
  /** Print an error's stack under the line (level debug and below). */
  stacks: boolean;
}

const LEVEL_NAMES: Record<number, string> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO",
  40: "WARN",
  50: "ERROR",
  60: "FATAL",
};
const LEVEL_VALUES: Record<LogLevel, number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Number.POSITIVE_INFINITY,
};
/** pino's own keys, shown in the line's fixed part or not at all. */
const OWN_KEYS = new Set(["level", "time", "pid", "hostname", "msg", "v"]);

const pad2 = (n: number) => String(n).padStart(2, "0");

/** A field value: bare when it is one plain word, else quoted like JSON; always escaped. */
function value(v: unknown): string {
  if (typeof v === "string") {
    return escapeControl(/^[^\s"'=\\]+$/.test(v) ? v : JSON.stringify(v));
  }
  if (v === undefined) return "undefined";
  return escapeControl(JSON.stringify(v) ?? String(v));
}

interface SerializedError {
  type?: string;
  message?: string;
  stack?: string;
}
const isErrorObject = (v: unknown): v is SerializedError =>
  typeof v === "object" && v !== null && typeof (v as SerializedError).message === "string";

/** An error's one-line text: its message, with its class when that says more than "Error". */
function errorText(e: SerializedError): string {
  const msg = e.message || "(no message)";
  return e.type && e.type !== "Error" && !msg.startsWith(e.type) ? `${e.type}: ${msg}` : msg;
}

/** One pino record (parsed) as a text line, newline-terminated. */
export function formatRecord(rec: Record<string, unknown>, o: TextOptions): string {
  const parts: string[] = [];
  if (o.time) {
    const d = new Date(typeof rec.time === "number" ? rec.time : Date.now());
    parts.push(`${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`);
  }
  const level = typeof rec.level === "number" ? rec.level : 30;
  parts.push((LEVEL_NAMES[level] ?? `L${level}`).padEnd(5));
  const msg = typeof rec.msg === "string" ? rec.msg : rec.msg === undefined ? "" : String(rec.msg);
  let line = `${parts.join(" ")} ${escapeControl(msg)}`;
  const fields: string[] = [];
  let stack: string | undefined;
  for (const [k, v] of Object.entries(rec)) {
    if (OWN_KEYS.has(k)) continue;
    if (isErrorObject(v) && (k === "err" || k === "error")) {
      fields.push(`${escapeControl(k)}=${value(errorText(v))}`);
      if (o.stacks && typeof v.stack === "string") stack = v.stack;
      continue;
    }
    // The message already says it (a name, a state): do not repeat it.
    if (typeof v === "string" && v.length >= 3 && msg.includes(v)) continue;
    fields.push(`${escapeControl(k)}=${value(v)}`);
  }
  if (fields.length > 0) line += `  ${fields.join(" ")}`;
  line += "\n";
  if (stack) {
    const lines = stack.split("\n").map((l) => `    ${escapeControl(l.trimEnd())}`);
    line += `${lines.join("\n")}\n`;
  }
  return line;
}

/** One line pino wrote (JSON) as text; a line that is not JSON passes through, escaped. */
export function formatLine(line: string, o: TextOptions): string {
  let rec: unknown;
  try {
    rec = JSON.parse(line);
  } catch {
    return `${escapeControl(line.replace(/\n$/, ""))}\n`;
  }
  if (typeof rec !== "object" || rec === null || Array.isArray(rec)) {
    return `${escapeControl(line.replace(/\n$/, ""))}\n`;
  }
  return formatRecord(rec as Record<string, unknown>, o);
}

/**
 * The logger for `tether server` / `tether agent`. `write` gets whole lines (the CLI passes
 * its stderr); `tty` says whether that is a terminal (then text lines carry the time).
 */
export async function createLogger(o: {
  format: LogFormat;
  level: LogLevel;
  write: (s: string) => void;
  tty: boolean;
}): Promise<Logger> {
  const { pino } = await import("pino");
  if (o.format === "json") return pino({ level: o.level }, { write: (s: string) => o.write(s) });
  const text: TextOptions = { time: o.tty, stacks: LEVEL_VALUES[o.level] <= LEVEL_VALUES.debug };
  return pino({ level: o.level }, { write: (s: string) => o.write(formatLine(s, text)) });
}

/**
 * The logger of a CLI command (`tether server`, `tether agent`, `tether server reset-admin`):
 * format from --log-format / TETHER_LOG_FORMAT, level from --log-level / TETHER_LOG_LEVEL
 * unless `level` fixes it, lines to the CLI's stderr (with the time when that is a terminal).
 * Returns the logger and its format (for fatalError).
 */
export async function cliLogger(
  ctx: { io: Pick<Io, "stderr" | "env"> },
  o: { logFormat?: string; logLevel?: string },
  level?: LogLevel,
): Promise<{ log: Logger; logFormat: LogFormat }> {
  const logFormat = logFormatOf(o.logFormat, ctx.io.env);
  const log = await createLogger({
    format: logFormat,
    level: level ?? logLevelOf(o.logLevel, ctx.io.env),
    write: (s) => ctx.io.stderr(s),
    tty: process.stderr.isTTY === true,
  });
  return { log, logFormat };
}

/**
 * The error that ends `tether server` / `tether agent`: with json logs it is a fatal record
 * (so a collector sees every line as JSON) and the CLI's own "tether: …" line is left out;
 * with text logs it is that usual line.
 */
export function fatalError(log: Logger, format: LogFormat, message: string, exitCode: number): CliError {
  if (format !== "json") return new CliError(message, exitCode);
  log.fatal({ exitCode }, message);
  return new CliError("", exitCode);
}

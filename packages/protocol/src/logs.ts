/**
 * Device logs (docs/protocol.md §15): the lines an agent uploads in the telemetry channel's
 * "logs" stream, and the REST shapes of search and live tail. Browser-safe
 * (`@tether/protocol/logs`).
 */
import { type Static, Type } from "typebox";

/** Levels, lowest first. `--level warn` means warn and above. */
export const LOG_LEVELS = ["debug", "info", "warn", "error", "fatal"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const LOG_LIMITS = {
  /** UTF-8 bytes of one line's text; the agent cuts longer lines and appends cutMark(). */
  maxLineBytes: 16 * 1024,
  /** Characters of a source name (a file path, `journal`, `agent`). */
  maxSourceChars: 512,
  /** Characters of a systemd unit name. */
  maxUnitChars: 256,
  /** Lines in one batch (the layer's maxPointsPerBatch also holds). */
  maxLinesPerBatch: 20_000,
} as const;

/** The mark appended to a line cut at LOG_LIMITS.maxLineBytes: `n` bytes were removed. */
export function cutMark(n: number): string {
  return ` …[cut ${n.toLocaleString("en-US")} bytes]`;
}

/**
 * One line on the wire (`batch.logs[i]`). `t`: device-clock ms when the line was read (or the
 * journal's timestamp); `src`: the source (the followed file's path, `journal`, `agent`);
 * `msg`: the text, valid UTF-8 (invalid bytes replaced by U+FFFD, control characters other
 * than tab escaped), at most maxLineBytes; `cut`: bytes removed when the line was cut.
 */
export interface LogLineWire {
  t: number;
  src: string;
  msg: string;
  lvl?: LogLevel;
  /** systemd unit (journal lines). */
  unit?: string;
  /** syslog priority 0–7 (journal lines). */
  pri?: number;
  cut?: number;
}

/** The level of a journal/syslog priority (0 emerg … 7 debug). */
export function levelFromPriority(p: number): LogLevel {
  if (p <= 2) return "fatal";
  if (p === 3) return "error";
  if (p === 4) return "warn";
  if (p <= 6) return "info";
  return "debug";
}

const WORD_LEVEL: Record<string, LogLevel> = {
  trace: "debug",
  debug: "debug",
  dbg: "debug",
  info: "info",
  notice: "info",
  warn: "warn",
  warning: "warn",
  err: "error",
  error: "error",
  crit: "fatal",
  critical: "fatal",
  fatal: "fatal",
  panic: "fatal",
  emerg: "fatal",
  alert: "fatal",
};
/** pino's numeric levels (10 trace … 60 fatal) as log levels. */
export const PINO_LEVEL: Readonly<Record<number, LogLevel>> = {
  10: "debug",
  20: "debug",
  30: "info",
  40: "warn",
  50: "error",
  60: "fatal",
};
const WORD_RE = /\b(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRIT|CRITICAL|FATAL|PANIC)\b/;
const JSON_LEVEL_RE = /"(?:level|lvl|severity)"\s*:\s*(?:"([A-Za-z]{1,10})"|(\d{1,2}))/;

/**
 * The level a line states, where recognisable: a JSON `level`/`lvl`/`severity` field (a word, or
 * pino's number), or an upper-case word (ERROR, WARN, …) in its first 200 characters.
 */
export function levelFromText(msg: string): LogLevel | undefined {
  const head = msg.length > 200 ? msg.slice(0, 200) : msg;
  if (head.startsWith("{")) {
    const m = JSON_LEVEL_RE.exec(msg.length > 4096 ? msg.slice(0, 4096) : msg);
    if (m) return m[1] !== undefined ? WORD_LEVEL[m[1].toLowerCase()] : PINO_LEVEL[Number(m[2])];
  }
  const w = WORD_RE.exec(head);
  return w ? WORD_LEVEL[w[1].toLowerCase()] : undefined;
}

/** True when `l` is `min` or above. */
export function levelAtLeast(l: LogLevel | null | undefined, min: LogLevel): boolean {
  return l != null && LOG_LEVELS.indexOf(l) >= LOG_LEVELS.indexOf(min);
}

const LogLevelSchema = Type.Union([
  Type.Literal("debug"),
  Type.Literal("info"),
  Type.Literal("warn"),
  Type.Literal("error"),
  Type.Literal("fatal"),
]);

/** A stored line as the API returns it. Gap lines (`kind: "gap"`) say what was lost. */
export const LogLine = Type.Object({
  /** Opaque, increasing in storage order per server: the cursor for paging and tail resume. */
  id: Type.String(),
  device: Type.String(),
  deviceId: Type.String(),
  /** Server-corrected time of the line (device time + the upload's clock skew), ms. */
  time: Type.Number(),
  /** The device's own timestamp, ms, as sent. */
  deviceTime: Type.Number(),
  /** When the server received it, ms. */
  receivedAt: Type.Number(),
  source: Type.String(),
  level: Type.Union([LogLevelSchema, Type.Null()]),
  unit: Type.Optional(Type.String()),
  message: Type.String(),
  kind: Type.Union([Type.Literal("line"), Type.Literal("gap")]),
  /** Gap lines: how many lines were lost, over which device-time span, why. */
  gap: Type.Optional(
    Type.Object({ count: Type.Integer(), from: Type.Number(), to: Type.Number(), reason: Type.String() }),
  ),
});
export type LogLine = Static<typeof LogLine>;

export const LogQuery = Type.Object({
  /** One device (name or id) ... */
  device: Type.Optional(Type.String({ maxLength: 128 })),
  /** ... or a label selector; neither: every device of the project. */
  selector: Type.Optional(Type.String({ maxLength: 512 })),
  /** Full-text terms (every word must occur; "quoted phrase" allowed). */
  q: Type.Optional(Type.String({ maxLength: 512 })),
  /** Only lines from this source (exact path, `journal`, `agent`, or a unit `unit:NAME`). */
  source: Type.Optional(Type.String({ maxLength: 512 })),
  /** This level and above. */
  level: Type.Optional(LogLevelSchema),
  /** Duration back from now (`10m`) or ISO time; default 24h for search. */
  since: Type.Optional(Type.String({ maxLength: 64 })),
  until: Type.Optional(Type.String({ maxLength: 64 })),
  /** Page size, default 100, at most 1000. */
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  /** Cursor: the `next` of the previous page (older lines). */
  before: Type.Optional(Type.String({ maxLength: 64 })),
});
export type LogQuery = Static<typeof LogQuery>;

export const LogSearchResult = Type.Object({
  /** Newest first. */
  lines: Type.Array(LogLine),
  /** Cursor for the next (older) page, or null at the end. */
  next: Type.Union([Type.String(), Type.Null()]),
});
export type LogSearchResult = Static<typeof LogSearchResult>;

/**
 * Live tail (`GET /api/v1/logs/stream`, Server-Sent Events): the LogQuery filters (no
 * since/until/limit/before); each line is `event: line`, `id: <line id>`, `data: <LogLine>`;
 * a reconnecting client sends `Last-Event-ID` (or `?after=ID`) and gets every stored line
 * after it that matches, then the live ones, without duplicates. `event: lagged` with
 * `{ "dropped": n }` when the client was too slow and lines were skipped.
 */
export const LOG_STREAM_PATH = "/api/v1/logs/stream";
/** The tail's SSE event names. */
export const LOG_STREAM_EVENTS = { line: "line", lagged: "lagged" } as const;
export const LOG_SEARCH_PATH = "/api/v1/logs";

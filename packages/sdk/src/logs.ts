/**
 * The device logs REST API (docs/protocol.md §15) over a TetherClient: search (newest first,
 * paged) and the live tail (Server-Sent Events) that reconnects by itself and resumes after the
 * last line seen (`Last-Event-ID`), so no line is shown twice or missed. Every answer is checked
 * against its @tether/protocol/logs schema. Browser-safe.
 */
import {
  LOG_SEARCH_PATH,
  LOG_STREAM_EVENTS,
  LOG_STREAM_PATH,
  LogLine,
  type LogQuery,
  LogSearchResult,
} from "@tether/protocol/logs";
import { validator } from "@tether/protocol/validate";
import { lazy, parseAnswer } from "./checked.js";
import { pause, type TetherClient } from "./client.js";
import { ApiError } from "./errors.js";

const checkLine = lazy(() => validator(LogLine));
const checkSearch = lazy(() => validator(LogSearchResult));

/** The filters of the live tail: LogQuery without the time range and paging. */
export type LogTailQuery = Pick<LogQuery, "device" | "selector" | "q" | "source" | "level">;

/** What the tail hands over: a stored line (gap lines too), or how many lines the server skipped. */
export type LogTailEvent = { type: "line"; line: LogLine } | { type: "lagged"; dropped: number };

export interface LogTailOptions {
  /** Ends the tail: tail() then resolves. */
  signal?: AbortSignal;
  /** Start after this line id (e.g. the newest line of a search just shown). */
  after?: string;
  /** Each time a connection delivers its first bytes (`n` = 0 for the first connection). */
  onOpen?: (n: number) => void;
  /**
   * The stream broke (server restart, network, the server ended it) and will be opened again
   * after a pause; `attempt` counts from 0 and starts again after each successful connection.
   */
  onRetry?: (err: ApiError, attempt: number) => void;
}

export interface LogsApi {
  /** One page of lines, newest first; `next` is the `before` of the next (older) page. */
  search(q: LogQuery): Promise<LogSearchResult>;
  /**
   * Follow the live lines until `o.signal` aborts (then resolves). Reconnects with a growing
   * pause (at most 5 s) when the stream breaks, resuming after the last line delivered. Rejects
   * on an HTTP error (a bad filter, no such device, no right) or a malformed event.
   */
  tail(q: LogTailQuery, on: (e: LogTailEvent) => void, o?: LogTailOptions): Promise<void>;
  /** The live tail's path with its filters (`GET`, Server-Sent Events), for EventSource. */
  streamPath(q: LogTailQuery, after?: string): string;
}

/** Statuses a proxy or a restarting server answers for a moment: the tail tries again. */
const TRANSIENT = new Set([502, 503, 504]);
/** Line ids remembered to drop a line a reconnect delivers again. */
const RECENT_IDS = 10_000;

const tailQuery = (q: LogTailQuery) => ({
  device: q.device,
  selector: q.selector,
  q: q.q,
  source: q.source,
  level: q.level,
});

export function logsApi(c: TetherClient): LogsApi {
  return {
    async search(q) {
      const json = await c.request<unknown>("GET", LOG_SEARCH_PATH, undefined, {
        device: q.device,
        selector: q.selector,
        q: q.q,
        source: q.source,
        level: q.level,
        since: q.since,
        until: q.until,
        limit: q.limit,
        before: q.before,
      });
      return parseAnswer(checkSearch, "GET", LOG_SEARCH_PATH, json);
    },

    async tail(q, on, o = {}) {
      const seen = new RecentSet(RECENT_IDS);
      let after = o.after;
      let attempt = 0;
      let conn = 0;
      for (;;) {
        if (o.signal?.aborted) return;
        const parser = new SseParser();
        let opened = false;
        let err: ApiError;
        try {
          await c.stream(
            LOG_STREAM_PATH,
            tailQuery(q),
            (text) => {
              if (!opened) {
                opened = true;
                attempt = 0;
                o.onOpen?.(conn++);
              }
              for (const ev of parser.push(text)) {
                if (ev.event === LOG_STREAM_EVENTS.line) {
                  const line = parseEvent(ev.data, (x) => checkLine().parse(x));
                  if (seen.has(line.id)) continue;
                  seen.add(line.id);
                  after = line.id;
                  on({ type: "line", line });
                } else if (ev.event === LOG_STREAM_EVENTS.lagged) {
                  const d = parseEvent(ev.data, (x: any) => {
                    if (typeof x?.dropped !== "number") throw new Error("no dropped count");
                    return x.dropped as number;
                  });
                  on({ type: "lagged", dropped: d });
                }
              }
            },
            { signal: o.signal, headers: after !== undefined ? { "last-event-id": after } : undefined },
          );
          err = new ApiError(0, "TETHER_ERR_UNREACHABLE", "the server ended the log stream");
        } catch (e) {
          if (o.signal?.aborted) return;
          if (!(e instanceof ApiError) || !(e.status === 0 || TRANSIENT.has(e.status))) throw e;
          err = e;
        }
        o.onRetry?.(err, attempt);
        await pause(Math.min(5000, 250 * 2 ** Math.min(attempt, 5)), o.signal);
        attempt++;
      }
    },

    streamPath(q, after) {
      const qs = Object.entries({ ...tailQuery(q), after })
        .filter(([, v]) => v !== undefined && v !== "")
        .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
        .join("&");
      return qs ? `${LOG_STREAM_PATH}?${qs}` : LOG_STREAM_PATH;
    },
  };
}

function parseEvent<T>(data: string, check: (x: unknown) => T): T {
  try {
    return check(JSON.parse(data));
  } catch (err) {
    throw new ApiError(
      502,
      "TETHER_ERR_HTTP",
      `GET ${LOG_STREAM_PATH}: unexpected event (${(err as Error).message})`,
    );
  }
}

/** A set that forgets its oldest entries beyond `max`. */
class RecentSet {
  private readonly set = new Set<string>();
  constructor(private readonly max: number) {}
  has(k: string): boolean {
    return this.set.has(k);
  }
  add(k: string): void {
    this.set.add(k);
    if (this.set.size > this.max) this.set.delete(this.set.values().next().value as string);
  }
}

/** One Server-Sent Event. */
export interface ServerSentEvent {
  /** "message" when the event names none. */
  event: string;
  data: string;
  id?: string;
}

/**
 * The Server-Sent Events wire format, fed text as it arrives in any chunking: `push()` returns
 * the events completed by that text. Comments (`: keepalive`) and `retry:` are skipped.
 */
export class SseParser {
  private buf = "";
  private event = "";
  private data: string[] = [];
  private id: string | undefined;

  push(text: string): ServerSentEvent[] {
    this.buf += text;
    const out: ServerSentEvent[] = [];
    for (let i = this.buf.indexOf("\n"); i >= 0; i = this.buf.indexOf("\n")) {
      let line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 1);
      if (line.endsWith("\r")) line = line.slice(0, -1);
      if (line === "") {
        if (this.data.length > 0)
          out.push({
            event: this.event || "message",
            data: this.data.join("\n"),
            ...(this.id !== undefined ? { id: this.id } : {}),
          });
        this.event = "";
        this.data = [];
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") this.event = value;
      else if (field === "data") this.data.push(value);
      else if (field === "id" && !value.includes("\0")) this.id = value;
    }
    return out;
  }
}

const p2 = (n: number) => String(n).padStart(2, "0");

/** Local time to the millisecond: "2026-12-01 14:03:22.123". */
export function logTime(ms: number): string {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return String(ms);
  return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

/**
 * What a gap line says, in words: "1,204 lines dropped from app.log between 14:00:01 and
 * 14:03:22 (rate limit)" (the date too when the span is not within one day). Falls back to the
 * stored message for a gap line without its figures.
 */
export function logGapText(line: Pick<LogLine, "source" | "message" | "gap">): string {
  const g = line.gap;
  if (!g) return line.message;
  const from = logTime(g.from);
  const to = logTime(g.to);
  const sameDay = from.slice(0, 10) === to.slice(0, 10);
  const when = (s: string) => (sameDay ? s.slice(11, 19) : s.slice(0, 19));
  const n = `${g.count.toLocaleString("en-US")} line${g.count === 1 ? "" : "s"}`;
  return `${n} dropped from ${line.source} between ${when(from)} and ${when(to)}${g.reason ? ` (${g.reason})` : ""}`;
}

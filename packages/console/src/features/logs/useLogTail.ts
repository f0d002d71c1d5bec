/**
 * The live tail of a device (or a selector): the newest lines from a search, then the stream
 * (`GET /api/v1/logs/stream`, Server-Sent Events) resumed after the newest line shown, so
 * nothing is missed or shown twice. When the stream breaks, the view is marked stale and the
 * hook reconnects by itself (1 s, 2 s, 4 s … 10 s apart), resuming after the last line seen.
 * Paused: new lines are held (counted) and shown on Resume. At most MAX_LINES are kept.
 */
import { LOG_STREAM_EVENTS } from "@tether/protocol/logs";
import { useCallback, useEffect, useRef, useState } from "react";
import { type LogLine, searchLogs, type TailFilters, tailUrl } from "./api";

/** Lines kept in the page (the oldest go first). */
export const MAX_LINES = 2000;
/** Lines held while paused (beyond this the oldest held ones are dropped and counted). */
const MAX_HELD = 10_000;
/** Lines of history shown when the tail opens, and per "Load older". */
const PAGE = 200;
const RETRY_MS = [1000, 2000, 4000, 10_000];

export type TailItem =
  | { t: "line"; key: string; line: LogLine }
  | { t: "marker"; key: string; kind: "lagged" | "held" | "trimmed"; text: string };

/** loading: reading history; connecting: opening the stream; live; lost: reconnecting. */
export type TailStatus = "loading" | "connecting" | "live" | "lost";

export interface LogTail {
  items: TailItem[];
  status: TailStatus;
  /** The history load failed (the stream may still work). */
  error: unknown;
  /** When the connection was lost (ms), while status is "lost". */
  lostAt: number | null;
  paused: boolean;
  /** Lines that arrived while paused (shown on resume). */
  held: number;
  /** Sources seen (for the filter), sorted. */
  sources: string[];
  /** An older page exists and fits. */
  canLoadOlder: boolean;
  /** Lines were dropped from the top to keep MAX_LINES. */
  trimmed: boolean;
  loadingOlder: boolean;
  setPaused(p: boolean): void;
  loadOlder(): Promise<void>;
}

let markerSeq = 0;
const marker = (kind: "lagged" | "held" | "trimmed", text: string): TailItem => ({
  t: "marker",
  key: `m${++markerSeq}`,
  kind,
  text,
});
const item = (line: LogLine): TailItem => ({ t: "line", key: line.id, line });

export function useLogTail(filters: TailFilters): LogTail {
  const fkey = JSON.stringify(filters);
  const [items, setItems] = useState<TailItem[]>([]);
  const [status, setStatus] = useState<TailStatus>("loading");
  const [error, setError] = useState<unknown>(null);
  const [lostAt, setLostAt] = useState<number | null>(null);
  const [paused, setPausedState] = useState(false);
  const [held, setHeld] = useState(0);
  const [sources, setSources] = useState<string[]>([]);
  const [older, setOlder] = useState<string | null>(null);
  const [trimmed, setTrimmed] = useState(false);
  const [loadingOlder, setLoadingOlder] = useState(false);

  // Mutable state of the current stream (reset when the filters change).
  const r = useRef({
    seen: new Set<string>(),
    sources: new Set<string>(),
    queue: [] as TailItem[],
    held: [] as TailItem[],
    heldDropped: 0,
    paused: false,
    frame: 0,
    gen: 0,
  });

  const noteSources = useCallback((lines: LogLine[]) => {
    const s = r.current.sources;
    const n = s.size;
    for (const l of lines) if (l.source) s.add(l.source);
    if (s.size !== n) setSources([...s].sort());
  }, []);

  const append = useCallback((add: TailItem[]) => {
    if (add.length === 0) return;
    setItems((cur) => {
      const next = cur.concat(add);
      if (next.length <= MAX_LINES) return next;
      setTrimmed(true);
      return next.slice(next.length - MAX_LINES);
    });
  }, []);

  // Incoming lines are applied once per animation frame: a flood costs one render a frame.
  const flush = useCallback(() => {
    const s = r.current;
    s.frame = 0;
    const batch = s.queue;
    s.queue = [];
    if (batch.length === 0) return;
    if (s.paused) {
      s.held.push(...batch);
      if (s.held.length > MAX_HELD) {
        const over = s.held.length - MAX_HELD;
        s.heldDropped += s.held.slice(0, over).filter((i) => i.t === "line").length;
        s.held = s.held.slice(over);
      }
      setHeld((h) => h + batch.filter((i) => i.t === "line").length);
    } else append(batch);
  }, [append]);

  const enqueue = useCallback(
    (it: TailItem) => {
      const s = r.current;
      s.queue.push(it);
      if (!s.frame) s.frame = requestAnimationFrame(flush);
    },
    [flush],
  );

  // biome-ignore lint/correctness/useExhaustiveDependencies: fkey stands for the filters' content
  useEffect(() => {
    const s = r.current;
    const gen = ++s.gen;
    s.seen = new Set();
    s.sources = new Set(filters.source ? [filters.source] : []);
    s.queue = [];
    s.held = [];
    s.heldDropped = 0;
    setItems([]);
    setStatus("loading");
    setError(null);
    setLostAt(null);
    setHeld(0);
    setSources([...s.sources]);
    setOlder(null);
    setTrimmed(false);

    let es: EventSource | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let attempt = 0;
    let lastId: string | null = null;
    const live = () => gen === s.gen;

    const open = () => {
      if (!live()) return;
      es = new EventSource(tailUrl(filters, lastId), { withCredentials: true });
      es.addEventListener("open", () => {
        if (!live()) return;
        attempt = 0;
        setStatus("live");
        setLostAt(null);
      });
      es.addEventListener(LOG_STREAM_EVENTS.line, (ev) => {
        if (!live()) return;
        let line: LogLine;
        try {
          line = JSON.parse((ev as MessageEvent<string>).data) as LogLine;
        } catch {
          return;
        }
        if (!line || typeof line.id !== "string") return;
        lastId = line.id;
        if (s.seen.has(line.id)) return;
        rememberId(s.seen, line.id);
        noteSources([line]);
        enqueue(item(line));
      });
      es.addEventListener(LOG_STREAM_EVENTS.lagged, (ev) => {
        if (!live()) return;
        let dropped = 0;
        try {
          dropped = Number(JSON.parse((ev as MessageEvent<string>).data)?.dropped) || 0;
        } catch {
          // an unreadable count still says lines were skipped
        }
        enqueue(
          marker(
            "lagged",
            `${dropped ? dropped.toLocaleString("en-US") : "Some"} ${dropped === 1 ? "line was" : "lines were"} skipped here: this page fell behind the stream. Search the logs to see them.`,
          ),
        );
      });
      es.addEventListener("error", () => {
        if (!live()) return;
        // Reconnect ourselves (not the browser's own retry): the new URL resumes after the
        // last line seen, whatever the server answered.
        es?.close();
        es = null;
        setStatus("lost");
        setLostAt((t) => t ?? Date.now());
        timer = setTimeout(open, RETRY_MS[Math.min(attempt++, RETRY_MS.length - 1)]);
      });
    };

    void (async () => {
      try {
        const page = await searchLogs({ ...filters, limit: PAGE });
        if (!live()) return;
        const lines = page.lines.slice().reverse();
        for (const l of lines) rememberId(s.seen, l.id);
        noteSources(lines);
        lastId = page.lines[0]?.id ?? null;
        setItems(lines.map(item));
        setOlder(page.next);
      } catch (err) {
        if (!live()) return;
        setError(err);
      }
      if (!live()) return;
      setStatus("connecting");
      open();
    })();

    return () => {
      s.gen++;
      es?.close();
      clearTimeout(timer);
      if (s.frame) cancelAnimationFrame(s.frame);
      s.frame = 0;
    };
  }, [fkey]);

  const setPaused = useCallback(
    (p: boolean) => {
      const s = r.current;
      s.paused = p;
      setPausedState(p);
      if (!p) {
        const out = s.held;
        if (s.heldDropped)
          out.unshift(
            marker(
              "held",
              `${s.heldDropped.toLocaleString("en-US")} lines that arrived while paused are not shown (too many to hold). Search the logs to see them.`,
            ),
          );
        s.held = [];
        s.heldDropped = 0;
        setHeld(0);
        append(out);
      }
    },
    [append],
  );

  // biome-ignore lint/correctness/useExhaustiveDependencies: fkey stands for the filters' content
  const loadOlder = useCallback(async () => {
    if (!older) return;
    const s = r.current;
    const gen = s.gen;
    setLoadingOlder(true);
    try {
      const page = await searchLogs({ ...filters, limit: PAGE, before: older });
      if (gen !== s.gen) return;
      const lines = page.lines.filter((l) => !s.seen.has(l.id)).reverse();
      for (const l of lines) rememberId(s.seen, l.id);
      noteSources(lines);
      setItems((cur) => lines.map(item).concat(cur));
      setOlder(page.next);
      setError(null);
    } catch (err) {
      if (gen === s.gen) setError(err);
    } finally {
      setLoadingOlder(false);
    }
  }, [older, fkey, noteSources]);

  return {
    items,
    status,
    error,
    lostAt,
    paused,
    held,
    sources,
    canLoadOlder: older !== null && !trimmed && items.length < MAX_LINES,
    trimmed,
    loadingOlder,
    setPaused,
    loadOlder,
  };
}

/** Ids already shown (a replay after a reconnect is skipped); bounded. */
function rememberId(seen: Set<string>, id: string): void {
  if (seen.size >= 4 * (MAX_LINES + MAX_HELD)) {
    // Forget the oldest half (a Set iterates in insertion order).
    let n = seen.size / 2;
    for (const k of seen) {
      if (n-- <= 0) break;
      seen.delete(k);
    }
  }
  seen.add(id);
}

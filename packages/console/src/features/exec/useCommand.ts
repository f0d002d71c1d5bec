/**
 * One command, kept current: loaded with its stored output, then (while it runs) followed
 * over Server-Sent Events (the SDK's followCommand). The server replays every run state and
 * output chunk on each connect: the first connection replaces the stored output, and after
 * a reconnect the SDK passes on only the bytes not shown yet (OutputAssembler). When the
 * stream reports done, or cannot be opened at all, the stored command is fetched again
 * (polling while it runs).
 *
 * Output is bytes on the wire (base64); each device/stream pair has its own streaming
 * TextDecoder so a UTF-8 character split across chunks decodes whole. The result is plain
 * text for React to render as text. Stored output larger than the server's page is fetched
 * page by page (the SDK), up to what the page shows.
 */
import { base64ToBytes, type Command, type CommandRun, LIVE_RUN_STATUSES } from "@tether/sdk";
import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, client } from "../../client";

/** Characters kept per stream in the page (the server keeps its own limit). */
const MAX_CHARS = 4 * 1024 * 1024;
const FLUSH_MS = 50;
const POLL_MS = 1500;

interface Stream {
  text: string;
  decoder: TextDecoder | null;
  /** The page stopped appending at MAX_CHARS. */
  clipped: boolean;
}

export interface RunOutput {
  stdout: string;
  stderr: string;
  clipped: boolean;
}

export interface CommandView {
  command: Command | null;
  /** Sorted by device name. */
  runs: CommandRun[];
  output: Record<string, RunOutput>;
  /** Following the event stream right now. */
  live: boolean;
  /** The last failure to load the command (an ApiError), null once it loads. */
  error: unknown;
}

type Store = {
  command: Command | null;
  runs: Map<string, CommandRun>;
  out: Map<string, { stdout: Stream; stderr: Stream }>;
  live: boolean;
  error: unknown;
};

const emptyStream = (): Stream => ({ text: "", decoder: null, clipped: false });

function streamsOf(st: Store, deviceId: string) {
  let o = st.out.get(deviceId);
  if (!o) {
    o = { stdout: emptyStream(), stderr: emptyStream() };
    st.out.set(deviceId, o);
  }
  return o;
}

function append(s: Stream, bytes: Uint8Array): void {
  if (s.clipped) return;
  s.decoder ??= new TextDecoder("utf-8", { fatal: false });
  const t = s.decoder.decode(bytes, { stream: true });
  if (s.text.length + t.length > MAX_CHARS) {
    s.text += t.slice(0, Math.max(0, MAX_CHARS - s.text.length));
    s.clipped = true;
  } else s.text += t;
}

/** Stored output (utf8 text, or base64 bytes when they were not valid UTF-8) → display text. */
function storedText(data: string, encoding: "utf8" | "base64" | undefined): string {
  if (encoding !== "base64") return data;
  return new TextDecoder("utf-8", { fatal: false }).decode(base64ToBytes(data));
}

function setStored(s: Stream, data: string, enc: "utf8" | "base64" | undefined, more: boolean): void {
  const t = storedText(data, enc);
  s.decoder = null;
  s.clipped = t.length > MAX_CHARS || more;
  s.text = s.clipped ? t.slice(0, MAX_CHARS) : t;
}

function withoutOutput(r: CommandRun): CommandRun {
  const {
    stdout: _o,
    stderr: _e,
    stdoutEncoding: _oe,
    stderrEncoding: _ee,
    stdoutNext: _on,
    stderrNext: _en,
    ...rest
  } = r;
  return rest;
}

/**
 * A run state from a request (not the ordered event stream) may be older than what the
 * stream already showed: never take a device from a final state back to a live one.
 */
function mergeRun(st: Store, r: CommandRun): void {
  const have = st.runs.get(r.deviceId);
  if (have && !LIVE_RUN_STATUSES.has(have.status) && LIVE_RUN_STATUSES.has(r.status)) return;
  st.runs.set(r.deviceId, withoutOutput(r));
}

function applyCommand(st: Store, c: Command): void {
  const { runs, ...cmd } = c;
  if (!(st.command?.finishedAt && !cmd.finishedAt)) st.command = cmd;
  for (const r of runs ?? []) {
    mergeRun(st, r);
    const o = streamsOf(st, r.deviceId);
    if (r.stdout !== undefined) setStored(o.stdout, r.stdout, r.stdoutEncoding, r.stdoutNext !== undefined);
    if (r.stderr !== undefined) setStored(o.stderr, r.stderr, r.stderrEncoding, r.stderrNext !== undefined);
  }
}

function snapshot(st: Store): CommandView {
  const output: Record<string, RunOutput> = {};
  for (const [id, o] of st.out) {
    output[id] = {
      stdout: o.stdout.text,
      stderr: o.stderr.text,
      clipped: o.stdout.clipped || o.stderr.clipped,
    };
  }
  return {
    command: st.command,
    runs: [...st.runs.values()].sort(
      (a, b) => a.device.localeCompare(b.device) || a.deviceId.localeCompare(b.deviceId),
    ),
    output,
    live: st.live,
    error: st.error,
  };
}

export function useCommand(id: string, initial?: Command | null) {
  const [view, setView] = useState<CommandView>(() => {
    const st: Store = { command: null, runs: new Map(), out: new Map(), live: false, error: null };
    if (initial && initial.id === id) applyCommand(st, initial);
    return snapshot(st);
  });
  const storeRef = useRef<Store | null>(null);
  const initialRef = useRef(initial);

  useEffect(() => {
    const st: Store = { command: null, runs: new Map(), out: new Map(), live: false, error: null };
    const init = initialRef.current;
    if (init && init.id === id) applyCommand(st, init);
    storeRef.current = st;
    let stopped = false;
    let following: AbortController | null = null;
    let flushTimer: ReturnType<typeof setTimeout> | null = null;
    let pollTimer: ReturnType<typeof setTimeout> | null = null;

    const flushNow = () => {
      if (flushTimer) clearTimeout(flushTimer);
      flushTimer = null;
      if (!stopped) setView(snapshot(st));
    };
    const flush = () => {
      flushTimer ??= setTimeout(flushNow, FLUSH_MS);
    };

    let gone = false;
    const load = async (): Promise<Command | null> => {
      try {
        // Large output comes page by page; the page keeps MAX_CHARS (at most 3 bytes each).
        const c = await client.getCommand(id, { output: true, maxOutputBytes: 3 * MAX_CHARS });
        if (stopped) return null;
        applyCommand(st, c);
        st.error = null;
        flushNow();
        return c;
      } catch (err) {
        if (stopped) return null;
        // A refusal (bad id, no access) will not change by asking again; outages might.
        gone = err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 429;
        st.error = err;
        flushNow();
        return null;
      }
    };

    // Without a working event stream: fetch the stored command until it is finished.
    const poll = async () => {
      pollTimer = null;
      const c = await load();
      if (stopped) return;
      if ((!c && !gone) || c?.state === "running") pollTimer = setTimeout(() => void poll(), POLL_MS);
    };

    const follow = () => {
      const ctl = new AbortController();
      following = ctl;
      client
        .followCommand(
          id,
          (ev) => {
            if (ev.type === "run") {
              st.runs.set(ev.run.deviceId, withoutOutput(ev.run));
              flush();
            } else if (ev.type === "output") {
              const o = streamsOf(st, ev.deviceId);
              append(ev.stream === "stderr" ? o.stderr : o.stdout, base64ToBytes(ev.data));
              flush();
            } else {
              st.live = false;
              // Runs in the done event carry no output: keep what was streamed until the stored copy arrives.
              const { runs, ...cmd } = ev.command;
              st.command = cmd;
              for (const r of runs ?? []) st.runs.set(r.deviceId, withoutOutput(r));
              flushNow();
            }
          },
          {
            signal: ctl.signal,
            onOpen: (n) => {
              // The first connection replays all output: it replaces the stored copy.
              if (n === 0) st.out.clear();
              st.live = true;
              st.error = null;
              flush();
            },
            onRetry: () => {
              st.live = false;
              flush();
            },
          },
        )
        .then(
          () => {
            following = null;
            if (!stopped) void poll();
          },
          () => {
            // An HTTP error (or a broken event): fetch the stored command instead.
            following = null;
            if (stopped) return;
            st.live = false;
            flush();
            void poll();
          },
        );
    };

    void (async () => {
      const c = await load();
      if (stopped) return;
      if (c?.state === "running") follow();
      else if (!c && !gone) pollTimer = setTimeout(() => void poll(), POLL_MS);
    })();

    return () => {
      stopped = true;
      following?.abort();
      if (flushTimer) clearTimeout(flushTimer);
      if (pollTimer) clearTimeout(pollTimer);
    };
  }, [id]);

  /** Apply a Command returned by an action (e.g. cancel) at once. */
  const applyNow = useCallback((c: Command) => {
    const st = storeRef.current;
    if (!st || c.id !== st.command?.id) return;
    const { runs, ...cmd } = c;
    if (!(st.command.finishedAt && !cmd.finishedAt)) st.command = cmd;
    for (const r of runs ?? []) mergeRun(st, r);
    setView(snapshot(st));
  }, []);

  return { ...view, applyNow };
}

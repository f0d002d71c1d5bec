/**
 * The device page's Logs section: a live tail (newest at the bottom, following unless the
 * user scrolled up), Pause/Resume (new lines counted while paused), filters by source and
 * level and a text search that runs on the server, level colours, gap lines as banners, a
 * "connection lost — reconnecting" mark with the lines greyed while the stream is down.
 * Its filters live in the URL (`#/devices/ID?lsource=…&llevel=warn&lq=timeout`).
 */
import { clock, type Device } from "@tether/sdk";
import { useLayoutEffect, useMemo, useRef, useState } from "react";
import { ErrorNotice, useHashQuery, useNow } from "../../ui";
import type { LogLevel, TailFilters } from "./api";
import { LEVEL_CHOICES, LogRow, MarkerRow, sourceName } from "./lines";
import { MAX_LINES, useLogTail } from "./useLogTail";

export function DeviceLogs({ device }: { device: Device }) {
  const [hq, setQuery] = useHashQuery();
  const source = hq.get("lsource") ?? "";
  const levelParam = hq.get("llevel") ?? "";
  const level = (LEVEL_CHOICES as readonly string[]).includes(levelParam) ? (levelParam as LogLevel) : "";
  const q = hq.get("lq") ?? "";
  const filters = useMemo<TailFilters>(
    () => ({
      device: device.id,
      ...(source ? { source } : {}),
      ...(level ? { level } : {}),
      ...(q ? { q } : {}),
    }),
    [device.id, source, level, q],
  );
  const tail = useLogTail(filters);
  const now = useNow(10_000);
  const [text, setText] = useState(q);

  // Follow the newest line unless the user scrolled up to read.
  const view = useRef<HTMLDivElement>(null);
  const [atBottom, setAtBottom] = useState(true);
  const follow = useRef(true);
  // biome-ignore lint/correctness/useExhaustiveDependencies: scroll when the lines change
  useLayoutEffect(() => {
    const el = view.current;
    if (el && follow.current) el.scrollTop = el.scrollHeight;
  }, [tail.items]);
  const onScroll = () => {
    const el = view.current;
    if (!el) return;
    const bottom = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
    follow.current = bottom;
    if (bottom !== atBottom) setAtBottom(bottom);
  };
  const toNewest = () => {
    const el = view.current;
    follow.current = true;
    setAtBottom(true);
    if (el) el.scrollTop = el.scrollHeight;
  };

  const filtered = Boolean(source || level || q);
  const lines = tail.items.filter((i) => i.t === "line").length;
  const stale = tail.status === "lost";

  return (
    <div
      className="card device-logs"
      id="logs"
      data-tail={tail.status}
      data-paused={tail.paused || undefined}
    >
      <div className="logs-head">
        <h2>Logs</h2>
        <TailState status={tail.status} paused={tail.paused} held={tail.held} />
        <div className="logs-tools">
          <button
            type="button"
            className={tail.paused ? "primary" : undefined}
            onClick={() => tail.setPaused(!tail.paused)}
          >
            {tail.paused ? "Resume" : "Pause"}
          </button>
          <select
            aria-label="Source"
            value={source}
            onChange={(e) => setQuery({ lsource: e.target.value || null })}
          >
            <option value="">All sources</option>
            {tail.sources.map((s) => (
              <option key={s} value={s} title={s}>
                {sourceName(s)}
              </option>
            ))}
          </select>
          <select
            aria-label="Level"
            value={level}
            onChange={(e) => setQuery({ llevel: e.target.value || null })}
          >
            <option value="">All levels</option>
            {LEVEL_CHOICES.map((l) => (
              <option key={l} value={l}>
                {l} and above
              </option>
            ))}
          </select>
          <form
            className="logs-search"
            onSubmit={(e) => {
              e.preventDefault();
              setQuery({ lq: text.trim() || null });
            }}
          >
            <input
              aria-label="Search this device's logs"
              placeholder="words, or a &quot;phrase&quot;"
              value={text}
              maxLength={512}
              onChange={(e) => setText(e.target.value)}
            />
            <button type="submit">Search</button>
            {q && (
              <button
                type="button"
                onClick={() => {
                  setText("");
                  setQuery({ lq: null });
                }}
              >
                Clear
              </button>
            )}
          </form>
        </div>
      </div>

      {q && (
        <p className="logs-note muted">
          Lines containing <b>{q}</b>; new matching lines keep arriving below.
        </p>
      )}
      {stale && (
        <div className="stale-notice logs-lost" role="status">
          <span className="stale-icon" aria-hidden="true">
            ⟳
          </span>{" "}
          Connection lost{tail.lostAt ? ` at ${clock(tail.lostAt)}` : ""} — reconnecting. Lines after that
          will appear once the stream is back, none missed.
        </div>
      )}
      <ErrorNotice error={tail.error} />

      <div
        className={`log-view${stale ? " is-stale" : ""}`}
        ref={view}
        onScroll={onScroll}
        role="log"
        aria-label={`Logs of ${device.name}`}
      >
        {tail.canLoadOlder && (
          <div className="log-older">
            <button
              type="button"
              className="small"
              disabled={tail.loadingOlder}
              onClick={() => {
                follow.current = false;
                void tail.loadOlder();
              }}
            >
              {tail.loadingOlder ? "Loading…" : "Load older lines"}
            </button>
          </div>
        )}
        {tail.trimmed && (
          <div className="log-older muted">
            Showing the newest {MAX_LINES.toLocaleString("en-US")} lines.{" "}
            <a href={`#/logs?device=${encodeURIComponent(device.name)}`}>Search older ones</a>.
          </div>
        )}
        {tail.items.map((i) =>
          i.t === "line" ? (
            <LogRow key={i.key} line={i.line} now={now} />
          ) : (
            <MarkerRow key={i.key} kind={i.kind}>
              {i.text}
            </MarkerRow>
          ),
        )}
        {tail.status !== "loading" && lines === 0 && (
          <p className="log-empty muted">
            {filtered
              ? "No lines match these filters yet. New ones appear here as they arrive."
              : `${device.name} has sent no log lines yet. Lines arrive over the telemetry channel from the files its agent follows (--follow-log PATH), the systemd journal and the agent's own log.`}
          </p>
        )}
        {tail.status === "loading" && <p className="log-empty muted">Loading…</p>}
      </div>
      {!atBottom && (
        <div className="log-jump">
          <button type="button" className="small" onClick={toNewest}>
            ↓ Jump to the newest line
          </button>
        </div>
      )}
    </div>
  );
}

function TailState({ status, paused, held }: { status: string; paused: boolean; held: number }) {
  if (paused)
    return (
      <span className="tail-state tail-paused" role="status">
        ❚❚ Paused
        {held > 0 && (
          <>
            {" "}
            — <b className="held-count">{held.toLocaleString("en-US")}</b> new {held === 1 ? "line" : "lines"}
          </>
        )}
      </span>
    );
  if (status === "live")
    return (
      <span className="tail-state tail-live" role="status">
        <span aria-hidden="true">●</span> Live
      </span>
    );
  if (status === "lost")
    return (
      <span className="tail-state tail-lost" role="status">
        <span aria-hidden="true">⟳</span> Connection lost — reconnecting
      </span>
    );
  return (
    <span className="tail-state muted" role="status">
      Connecting…
    </span>
  );
}

/**
 * #/sessions/:id/play: a recorded session (asciicast v2) played into a read-only terminal with
 * its timing: play/pause, speed 1×/2×/4×, a position bar, the time; pauses longer than 2 s
 * are skipped; recorded resizes are honoured.
 */
import type { SessionView } from "@tether/protocol/tunnel";
import { useEffect, useRef, useState } from "react";
import { fmtTime } from "../../format";
import { ErrorNotice, usePoll } from "../../ui";
import { fetchRecording, getSession } from "./api";
import { type Cast, fmtPlayTime, IDLE_LIMIT_S, parseCast } from "./asciicast";
import { CastPlayer } from "./cast-player";
import { fmtDurationMs, sessionEnded, sessionWhat } from "./session-text";
import { loadXterm } from "./xterm-loader";

const SPEEDS = [1, 2, 4] as const;

export function PlaybackPage({ id }: { id: string }) {
  const meta = usePoll(() => getSession(id), null, [id]);
  const rec = usePoll(async () => parseCast(await fetchRecording(id)), null, [id]);
  const s = meta.data;

  return (
    <section className="terminal-page playback-page">
      <header className="terminal-head">
        <p className="crumbs">
          <a href="#/sessions">← Sessions</a>
        </p>
        <h1>
          Recording{" "}
          {s && (
            <>
              on <span className="device-name">{s.device.name}</span>
            </>
          )}
        </h1>
        {s && <SessionFacts s={s} />}
      </header>
      <ErrorNotice error={rec.failure} onRetry={() => void rec.reload()} />
      {!rec.data && !rec.failure && <p className="muted">Loading the recording…</p>}
      {rec.data && <Player cast={rec.data} label={s ? `Recording of ${s.device.name}` : "Recording"} />}
    </section>
  );
}

function SessionFacts({ s }: { s: SessionView }) {
  return (
    <span className="session-facts muted">
      {s.user} · <code>{sessionWhat(s)}</code> · {fmtTime(s.startedAt)} · {fmtDurationMs(s.durationMs)} ·{" "}
      {sessionEnded(s)}
    </span>
  );
}

function Player({ cast, label }: { cast: Cast; label: string }) {
  const hostRef = useRef<HTMLDivElement>(null);
  const player = useRef<CastPlayer | null>(null);
  const [, setTick] = useState(0);
  const [loadError, setLoadError] = useState<unknown>(null);

  useEffect(() => {
    const el = hostRef.current;
    if (!el) return;
    let gone = false;
    let dispose = () => {};
    loadXterm().then(
      ({ createXterm }) => {
        if (gone) return;
        const host = createXterm(el, { fit: false, readOnly: true });
        const p = new CastPlayer(
          cast,
          {
            reset: () => host.term.reset(),
            resize: (cols, rows) => host.term.resize(cols, rows),
            write: (data) => host.term.write(data),
          },
          () => setTick((n) => n + 1),
        );
        player.current = p;
        dispose = () => {
          p.dispose();
          player.current = null;
          host.dispose();
        };
        p.play();
      },
      (err) => {
        if (!gone) setLoadError(err);
      },
    );
    return () => {
      gone = true;
      dispose();
    };
  }, [cast]);

  const p = player.current;
  const pos = p?.position ?? 0;
  const playing = p?.playing ?? false;
  return (
    <>
      <ErrorNotice error={loadError} onRetry={() => window.location.reload()} />
      <div className="player-bar" role="toolbar" aria-label="Playback">
        <button
          type="button"
          className="primary play-button"
          onClick={() => (playing ? p?.pause() : p?.play())}
          disabled={!p}
        >
          {playing ? "❚❚ Pause" : p?.atEnd ? "↻ Replay" : "▶ Play"}
        </button>
        <input
          type="range"
          className="player-seek"
          aria-label="Position"
          min={0}
          max={Math.max(cast.duration, 0.001)}
          step="any"
          value={pos}
          onChange={(e) => p?.seek(Number(e.target.value))}
        />
        <span className="player-time mono">
          {fmtPlayTime(pos)} / {fmtPlayTime(cast.duration)}
        </span>
        <span className="player-speeds">
          <span className="muted small">Speed</span>
          {SPEEDS.map((x) => (
            <button
              key={x}
              type="button"
              className={`small${p?.speed === x ? " primary" : ""}`}
              aria-pressed={p?.speed === x}
              onClick={() => p?.setSpeed(x)}
            >
              {x}×
            </button>
          ))}
        </span>
        {cast.idleGaps > 0 && (
          <span className="muted small">
            Pauses longer than {IDLE_LIMIT_S} s are skipped (recorded {fmtPlayTime(cast.recordedDuration)}).
          </span>
        )}
      </div>
      {cast.skipped > 0 && (
        <p className="muted small">
          {cast.skipped} {cast.skipped === 1 ? "line" : "lines"} of the recording could not be read and were
          skipped.
        </p>
      )}
      <div className="terminal-frame playback-frame">
        <div className="terminal-host" ref={hostRef} role="img" aria-label={label} />
      </div>
    </>
  );
}

/**
 * The terminal pages: a new shell on a device (#/devices/:id/terminal, `?user=` to run as
 * someone) and watching a live session (#/sessions/:id/watch). The terminal fills the window;
 * the header names the device, says whether the session is recorded and who else is there,
 * and lets the owner hand the keyboard to a watcher. When the link drops or the session ends,
 * a sentence covers the (dimmed, still selectable) terminal, with the code in a detail line
 * and a button to start again.
 */
import type { Participant } from "@tether/protocol/tunnel";
import { useEffect } from "react";
import { client } from "../../client";
import { useSession } from "../../session";
import { ErrorNotice, useHashQuery, usePoll } from "../../ui";
import { getSession } from "./api";
import { endText } from "./session-text";
import { type TerminalTarget, useTerminalSession } from "./useTerminalSession";

/** #/devices/:id/terminal */
export function DeviceTerminalPage({ id }: { id: string }) {
  const [q] = useHashQuery();
  const user = q.get("user") || undefined;
  const dev = usePoll(() => client.getDevice(id), null, [id]);
  return (
    <TerminalFrame
      key={`${id}:${user ?? ""}`}
      target={{ kind: "open", device: id, ...(user ? { user } : {}) }}
      deviceName={dev.data?.name ?? null}
      deviceId={id}
      loadError={dev.failure}
    />
  );
}

/** #/sessions/:id/watch */
export function WatchPage({ id }: { id: string }) {
  const s = usePoll(() => getSession(id), null, [id]);
  return (
    <TerminalFrame
      key={id}
      target={{ kind: "join", session: id }}
      deviceName={s.data?.device.name ?? null}
      deviceId={s.data?.device.id ?? null}
      loadError={null}
    />
  );
}

function TerminalFrame({
  target,
  deviceName,
  deviceId,
  loadError,
}: {
  target: TerminalTarget;
  deviceName: string | null;
  deviceId: string | null;
  loadError: unknown;
}) {
  const me = useSession().me.username;
  const t = useTerminalSession(target);
  const v = t.view;
  const name = v.ready?.device.name ?? deviceName ?? "the device";
  const devId = v.ready?.device.id ?? deviceId;
  const joined = target.kind === "join";
  const owner = v.participants.find((p) => p.role === "owner")?.user;

  // Ctrl+W (delete a word in the shell) closes a browser tab: ask first while typing here.
  const typing = v.state === "ready" && (v.role === "owner" || v.role === "writer");
  useEffect(() => {
    if (!typing) return;
    const ask = (e: BeforeUnloadEvent) => e.preventDefault();
    window.addEventListener("beforeunload", ask);
    return () => window.removeEventListener("beforeunload", ask);
  }, [typing]);

  useEffect(() => {
    document.title = `${name} — terminal — Tether`;
    return () => {
      document.title = "Tether console";
    };
  }, [name]);

  return (
    <section className="terminal-page" data-state={v.state} data-role={v.role ?? undefined}>
      <header className="terminal-head">
        <p className="crumbs">
          {joined ? (
            <a href="#/sessions">← Sessions</a>
          ) : (
            <a href={devId ? `#/devices/${encodeURIComponent(devId)}` : "#/devices"}>← {name}</a>
          )}
        </p>
        <h1>
          {joined ? "Watching" : "Terminal on"} <span className="device-name">{name}</span>
        </h1>
        <LinkBadge state={v.state} started={v.ready !== null} />
        {v.ready?.recorded &&
          (v.state === "ready" ? (
            <span
              className="badge recording-badge"
              title="What this terminal shows is recorded; operators can play it back on the Sessions page"
            >
              <span aria-hidden="true">●</span> recording
            </span>
          ) : (
            <span className="badge" title="Operators can play it back on the Sessions page">
              recorded
            </span>
          ))}
        {target.kind === "open" && target.user && <span className="badge run-as">as {target.user}</span>}
        <Participants
          list={v.participants}
          me={me}
          canGrant={v.role === "owner" && v.state === "ready"}
          onGrant={t.grant}
        />
        <span className="terminal-head-actions">
          {v.size && (
            <span className="terminal-size muted small" title="Columns × rows">
              {v.size.cols} × {v.size.rows}
            </span>
          )}
          {v.state !== "ended" && (
            <button type="button" className="small danger-outline" onClick={t.close}>
              {joined ? "Stop watching" : "End session"}
            </button>
          )}
        </span>
      </header>
      <ErrorNotice error={loadError} compact />
      <ErrorNotice error={t.loadError} onRetry={() => window.location.reload()} />
      {v.state === "ready" && v.role === "viewer" && (
        <p className="terminal-note" role="status">
          You are watching; {owner && owner !== me ? owner : "the session's owner"} can let you type.
        </p>
      )}
      {v.notice && (
        <p className="terminal-note" role="status">
          {/[.!?]$/.test(v.notice) ? v.notice : `${v.notice}.`}
        </p>
      )}
      {v.clipboardRefused && (
        <p className="terminal-note clipboard-refused" role="status">
          {name} tried to write to your clipboard (OSC 52). The console ignores that; copy by selecting text.
        </p>
      )}
      <div className="terminal-frame">
        {/* The terminal's own element: xterm.js renders into it. */}
        <div
          className="terminal-host"
          ref={t.hostRef}
          role="application"
          aria-label={`Terminal on ${name}`}
        />
        {v.state === "connecting" && (
          <div className="terminal-overlay connecting" role="status">
            <div className="terminal-overlay-card">
              {joined ? `Joining the session on ${name}…` : `Opening a terminal on ${name}…`}
              <div className="muted small">The device connects back to the server; this takes a moment.</div>
            </div>
          </div>
        )}
        {v.state === "ended" && v.end && (
          <Ended
            view={v}
            name={name}
            joined={joined}
            onRestart={() => {
              if (joined && v.end?.kind === "exit") window.location.hash = "#/sessions";
              else t.restart();
            }}
          />
        )}
      </div>
    </section>
  );
}

function LinkBadge({ state, started }: { state: string; started: boolean }) {
  if (state === "ready")
    return (
      <span className="badge run-live link-state" data-state={state}>
        connected
      </span>
    );
  if (state === "connecting")
    return (
      <span className="badge run-wait link-state" data-state={state}>
        connecting…
      </span>
    );
  return (
    <span className="badge run-off link-state" data-state={state}>
      {started ? "ended" : "not connected"}
    </span>
  );
}

function Participants({
  list,
  me,
  canGrant,
  onGrant,
}: {
  list: Participant[];
  me: string;
  canGrant: boolean;
  onGrant: (user: string, write: boolean) => void;
}) {
  if (list.length === 0) return null;
  const others = list.filter((p) => p.user !== me);
  // One entry per user: several tabs of one user show once, with their strongest role.
  const rank = { owner: 2, writer: 1, viewer: 0 } as const;
  const byUser = new Map<string, Participant>();
  for (const p of list) {
    const had = byUser.get(p.user);
    if (!had || rank[p.role] > rank[had.role]) byUser.set(p.user, p);
  }
  if (others.length === 0)
    return (
      <ul className="participants" aria-label="Connected">
        <li className="muted">Only you are connected.</li>
      </ul>
    );
  return (
    <ul className="participants" aria-label="Connected">
      {[...byUser.values()].map((p) => (
        <li key={p.user} className="participant" data-user={p.user} data-role={p.role}>
          <span className="participant-name">{p.user}</span>
          {p.user === me && <span className="muted"> (you)</span>}{" "}
          <span className={`badge role-${p.role}`} title={`via ${p.via}`}>
            {p.role === "owner" ? "owner" : p.role === "writer" ? "can type" : "watching"}
          </span>
          {canGrant && p.user !== me && p.role === "viewer" && (
            <button type="button" className="small" onClick={() => onGrant(p.user, true)}>
              Let {p.user} type
            </button>
          )}
          {canGrant && p.user !== me && p.role === "writer" && (
            <button type="button" className="small" onClick={() => onGrant(p.user, false)}>
              Take back typing
            </button>
          )}
        </li>
      ))}
    </ul>
  );
}

function Ended({
  view,
  name,
  joined,
  onRestart,
}: {
  view: ReturnType<typeof useTerminalSession>["view"];
  name: string;
  joined: boolean;
  onRestart: () => void;
}) {
  const end = view.end;
  if (!end) return null;
  const text = view.closedByMe
    ? {
        message: joined ? "You stopped watching." : "You ended the session.",
        detail: null,
        action: joined ? "Watch again" : "Start a new session",
      }
    : endText(end, name, joined);
  const failed = end.kind !== "exit" && !view.closedByMe;
  return (
    <div className="terminal-overlay ended" data-end={end.kind}>
      <div className={`terminal-overlay-card${failed ? " failed" : ""}`} role="alert">
        <div className="terminal-end-message">{text.message}</div>
        {text.detail && <div className="error-detail mono">{text.detail}</div>}
        <div className="buttons">
          <button type="button" className="primary" onClick={onRestart}>
            {text.action}
          </button>
        </div>
      </div>
    </div>
  );
}

/**
 * #/sessions: recent terminal, SSH and port-forward sessions of the project, newest first:
 * which device (by name, linking to it), who, what ran, from where, when, how long, how it
 * ended; Watch for live shells (operators) and Play for recorded ones. `?device=` filters.
 */
import type { SessionView } from "@tether/protocol/tunnel";
import { fmtBytes, fmtTime } from "../../format";
import { useSession } from "../../session";
import { Ago, FilterForm, PollStatus, StaleScope, useHashQuery, useNow, usePoll } from "../../ui";
import { listSessions } from "./api";
import { fmtDurationMs, sessionEnded, sessionWhat } from "./session-text";

const LIMIT = 100;

export function SessionsPage() {
  const [q, setQuery] = useHashQuery();
  const device = q.get("device") ?? "";
  const poll = usePoll(() => listSessions({ device: device || undefined, limit: LIMIT }), 5000, [device]);
  const now = useNow();
  // Watching and recordings (what the terminal showed) are for operators and admins.
  const canWatch = useSession().can("operator");
  const { data, failure } = poll;

  return (
    <section className="sessions-page">
      <header className="page-head">
        <h1>Sessions</h1>
        <span className="summary">Terminals, SSH logins and port forwards, newest first.</span>
        <FilterForm
          key={device}
          label="Device filter"
          placeholder="device name"
          value={device}
          onApply={(v) => setQuery({ device: v || null })}
          onRefresh={poll.reload}
        />
      </header>
      <PollStatus poll={poll} />
      {data && data.length === 0 && (
        <p className="empty">
          {device
            ? `No sessions on ${device} yet.`
            : "No sessions yet. Open a terminal from a device's page, or use tether shell, ssh or tether forward."}
        </p>
      )}
      {data && data.length > 0 && (
        <StaleScope asOf={poll.stale ? poll.asOf : null}>
          <SessionsTable sessions={data} now={now} canWatch={canWatch && !poll.stale} />
          {data.length >= LIMIT && <p className="muted small">Showing the newest {LIMIT} sessions.</p>}
        </StaleScope>
      )}
      {!data && !failure && <p className="muted">Loading…</p>}
    </section>
  );
}

function SessionsTable({
  sessions,
  now,
  canWatch,
}: {
  sessions: SessionView[];
  now: number;
  canWatch: boolean;
}) {
  return (
    <table className="sessions">
      <thead>
        <tr>
          <th>Device</th>
          <th>User</th>
          <th>What</th>
          <th>Via</th>
          <th>When</th>
          <th>Duration</th>
          <th>How it ended</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {sessions.map((s) => {
          const running = s.live ? now - Date.parse(s.startedAt) : null;
          return (
            <tr key={s.id} data-session-id={s.id} data-live={s.live || undefined}>
              <td className="name">
                <a href={`#/devices/${encodeURIComponent(s.device.id)}`}>{s.device.name}</a>
              </td>
              <td className="actor">{s.user}</td>
              <td>
                <code className="cmd-text">{sessionWhat(s)}</code>
              </td>
              <td>{s.via}</td>
              <td className="nowrap">
                <Ago iso={s.startedAt} now={now} />
                <div className="sub">{fmtTime(s.startedAt)}</div>
              </td>
              <td className="nowrap">
                {fmtDurationMs(s.durationMs ?? running)}
                <div className="sub" title="↓ output from the device · ↑ input sent to it">
                  ↓ {fmtBytes(s.bytesOut)} · ↑ {fmtBytes(s.bytesIn)}
                </div>
              </td>
              <td className="session-end" data-reason={s.endReason ?? undefined}>
                {s.live ? <span className="badge run-live">live</span> : sessionEnded(s)}
              </td>
              <td className="row-actions nowrap">
                {s.live && canWatch && s.kind !== "forward" && (
                  <a className="button small-button" href={`#/sessions/${encodeURIComponent(s.id)}/watch`}>
                    Watch
                  </a>
                )}
                {s.recorded && !s.live && canWatch && (
                  <a className="button small-button" href={`#/sessions/${encodeURIComponent(s.id)}/play`}>
                    ▶ Play
                  </a>
                )}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

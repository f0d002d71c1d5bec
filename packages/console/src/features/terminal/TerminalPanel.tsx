/**
 * The device page's Terminal section: "Open terminal" (operators and admins, accepted
 * devices), with "Run as" when the project lists exec users, and the device's live sessions
 * to watch. Viewers get a sentence saying why there is no button.
 */
import type { Device } from "@tether/sdk";
import { useState } from "react";
import { client } from "../../client";
import { useSession } from "../../session";
import { Ago, useNow, usePoll } from "../../ui";
import { listSessions } from "./api";
import { sessionWhat } from "./session-text";

export function TerminalPanel({ device }: { device: Device }) {
  const s = useSession();
  if (device.state !== "accepted") return null;
  if (!s.can("operator"))
    return (
      <div className="card terminal-panel">
        <h2>Terminal</h2>
        <p className="muted">
          Opening a terminal on a device needs the operator role in {s.project}; you are a viewer. Recorded
          sessions are on the <a href="#/sessions">Sessions</a> page.
        </p>
      </div>
    );
  return <OpenTerminal device={device} />;
}

function OpenTerminal({ device }: { device: Device }) {
  const users = usePoll(() => client.getExecUsers(), null);
  const live = usePoll(() => listSessions({ device: device.id, limit: 20 }), 5000, [device.id]);
  const now = useNow(10_000);
  const [user, setUser] = useState("");
  const href = `#/devices/${encodeURIComponent(device.id)}/terminal${user ? `?user=${encodeURIComponent(user)}` : ""}`;
  const running = (live.data ?? []).filter((x) => x.live && x.kind !== "forward");

  return (
    <div className="card terminal-panel" id="terminal">
      <h2>Terminal</h2>
      <div className="terminal-open-row">
        <a
          className={`button primary${device.online ? "" : " disabled"}`}
          href={device.online ? href : undefined}
          aria-disabled={!device.online || undefined}
        >
          Open terminal
        </a>
        {users.data && users.data.length > 0 && (
          <label className="run-as-field">
            <span className="label-text">Run as</span>
            <select aria-label="Run as" value={user} onChange={(e) => setUser(e.target.value)}>
              <option value="">the agent's user</option>
              {users.data.map((u) => (
                <option key={u} value={u}>
                  {u}
                </option>
              ))}
            </select>
          </label>
        )}
        <span className="muted small">
          {device.online
            ? `A login shell on ${device.name}, in your browser. Others in the project can watch it.`
            : `${device.name} is offline; a terminal can open once it is back.`}
        </span>
      </div>
      {running.length > 0 && (
        <ul className="live-sessions">
          {running.map((x) => (
            <li key={x.id}>
              <span className="badge run-live">live</span> {x.user} · {sessionWhat(x)} · since{" "}
              <Ago iso={x.startedAt} now={now} />{" "}
              <a href={`#/sessions/${encodeURIComponent(x.id)}/watch`}>Watch</a>
            </li>
          ))}
        </ul>
      )}
      <p className="muted small">
        <a href={`#/sessions?device=${encodeURIComponent(device.name)}`}>Sessions on {device.name}</a>
      </p>
    </div>
  );
}

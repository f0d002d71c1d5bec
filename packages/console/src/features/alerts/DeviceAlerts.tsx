/** The device page's alerts: what is firing or pending on this device (nothing when quiet). */
import type { Device } from "@tether/sdk";
import { clock } from "../../format";
import { useNow, usePoll } from "../../ui";
import { alertsApi } from "./api";

export function DeviceAlerts({ device }: { device: Device }) {
  const poll = usePoll(() => alertsApi.list({ device: device.id }), 5000, [device.id]);
  const now = useNow(10_000);
  const active = (poll.data ?? [])
    .filter((a) => a.state !== "resolved" && a.deviceId === device.id)
    .sort((a, b) => (a.state === "firing" ? 0 : 1) - (b.state === "firing" ? 0 : 1));
  if (active.length === 0) return null;
  return (
    <div className="card device-alerts" id="alerts">
      <h2>
        Alerts{" "}
        <a className="muted small-link" href="#/alerts">
          all alerts
        </a>
      </h2>
      <ul className="device-alert-list">
        {active.map((a) => (
          <li key={a.ruleId} className={`alert-${a.state}`} data-rule={a.rule} data-state={a.state}>
            <span className={`badge alert-state alert-state-${a.state}`}>{a.state}</span> <b>{a.rule}</b>:{" "}
            {a.summary} <span className="muted">since {clock(Date.parse(a.firedAt ?? a.since), now)}</span>
            {a.silenced && <span className="badge alert-silenced">silenced</span>}
          </li>
        ))}
      </ul>
    </div>
  );
}

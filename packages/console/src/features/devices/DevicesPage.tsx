/** The device list: polled every 2 s. */
import type { Device } from "@tether/sdk";
import { useState } from "react";
import { client } from "../../client";
import {
  Ago,
  ErrorBanner,
  FactsSummary,
  FilterForm,
  LabelChips,
  Online,
  StateBadge,
  useNow,
  usePoll,
} from "../../ui";
import { DeviceActions } from "./DeviceActions";

const ORDER: Record<string, number> = { pending: 0, accepted: 1, rejected: 2, revoked: 3 };

export function DevicesPage() {
  const [applied, setApplied] = useState("");
  const { data, error, reload } = usePoll(() => client.listDevices(applied || undefined), 2000, [applied]);
  const now = useNow();

  const devices = [...(data ?? [])].sort(
    (a, b) => (ORDER[a.state] ?? 9) - (ORDER[b.state] ?? 9) || a.name.localeCompare(b.name),
  );
  const pending = devices.filter((d) => d.state === "pending").length;
  const online = devices.filter((d) => d.online).length;

  return (
    <section>
      <header className="page-head">
        <h1>Devices</h1>
        {data && (
          <span className="summary">
            {devices.length} total · {online} online
            {pending > 0 && <span className="badge state-pending">{pending} pending</span>}
          </span>
        )}
        <FilterForm
          label="Selector"
          placeholder="selector, e.g. site=lab,fact.arch=arm64"
          onApply={setApplied}
        />
      </header>
      <ErrorBanner error={error} />
      {data && devices.length === 0 && (
        <p className="empty">
          No devices{applied ? " match this selector" : " yet"}.{" "}
          <a href="#/enroll">Create an enrollment token</a> to add one.
        </p>
      )}
      {devices.length > 0 && (
        <table className="devices">
          <thead>
            <tr>
              <th>Name</th>
              <th>State</th>
              <th>Online</th>
              <th>Labels</th>
              <th>Facts</th>
              <th>Last seen</th>
              <th>Actions</th>
            </tr>
          </thead>
          <tbody>
            {devices.map((d) => (
              <DeviceRow key={d.id} d={d} now={now} onChanged={reload} />
            ))}
          </tbody>
        </table>
      )}
      {!data && !error && <p className="muted">Loading…</p>}
    </section>
  );
}

function DeviceRow({ d, now, onChanged }: { d: Device; now: number; onChanged: () => void }) {
  return (
    <tr data-device-id={d.id} className={`row-${d.state}`}>
      <td className="name">
        <a href={`#/devices/${encodeURIComponent(d.id)}`}>{d.name}</a>
        <div className="sub mono">{d.id}</div>
      </td>
      <td className="state">
        <StateBadge state={d.state} />
      </td>
      <td>
        <Online online={d.online} />
      </td>
      <td>
        <LabelChips labels={d.labels} />
      </td>
      <td>
        <FactsSummary facts={d.facts} />
      </td>
      <td>
        <Ago iso={d.lastSeenAt} now={now} />
      </td>
      <td>
        <DeviceActions device={d} onChanged={onChanged} />
      </td>
    </tr>
  );
}

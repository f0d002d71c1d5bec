/** The audit log (admins), newest first. */
import { useState } from "react";
import { api } from "../api";
import { fmtTime } from "../format";
import { ErrorBanner, usePoll } from "../ui";

export function AuditPage() {
  const [device, setDevice] = useState("");
  const [applied, setApplied] = useState("");
  const { data, error, reload } = usePoll(
    () => api.audit({ device: applied || undefined, limit: 500 }),
    5000,
    [applied],
  );

  return (
    <section>
      <header className="page-head">
        <h1>Audit log</h1>
        <form
          className="filter"
          onSubmit={(e) => {
            e.preventDefault();
            setApplied(device.trim());
          }}
        >
          <input
            aria-label="Device"
            placeholder="device id or name"
            value={device}
            onChange={(e) => setDevice(e.target.value)}
          />
          <button type="submit">Filter</button>
          <button type="button" onClick={() => void reload()}>
            Refresh
          </button>
        </form>
      </header>
      <ErrorBanner error={error} />
      {data && data.length === 0 && <p className="empty">No entries.</p>}
      {data && data.length > 0 && (
        <table className="audit">
          <thead>
            <tr>
              <th>Time</th>
              <th>Actor</th>
              <th>Action</th>
              <th>Device</th>
              <th>Detail</th>
            </tr>
          </thead>
          <tbody>
            {data.map((e) => (
              <tr key={e.id}>
                <td className="nowrap">{fmtTime(e.at)}</td>
                <td className="actor">{e.actor}</td>
                <td className="action">
                  <span className="badge">{e.action}</span>
                </td>
                <td className="mono">
                  {e.deviceId ? (
                    <a href={`#/devices/${encodeURIComponent(e.deviceId)}`}>{e.deviceId}</a>
                  ) : (
                    <span className="muted">—</span>
                  )}
                </td>
                <td>
                  <code className="detail">{JSON.stringify(e.detail)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {!data && !error && <p className="muted">Loading…</p>}
    </section>
  );
}

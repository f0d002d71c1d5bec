/** The audit log (admins), newest first. */
import { useState } from "react";
import { client } from "../../client";
import { fmtTime } from "../../format";
import { ErrorBanner, FilterForm, usePoll } from "../../ui";

export function AuditPage() {
  const [applied, setApplied] = useState("");
  const { data, error, reload } = usePoll(
    () => client.audit({ device: applied || undefined, limit: 500 }),
    5000,
    [applied],
  );

  return (
    <section>
      <header className="page-head">
        <h1>Audit log</h1>
        <FilterForm label="Device" placeholder="device id or name" onApply={setApplied} onRefresh={reload} />
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

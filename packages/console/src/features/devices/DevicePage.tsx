/**
 * One device: name (rename), status and last seen, the safe actions first (Ping, Run command),
 * details and labels (edit), facts; then the panels features add (src/routes.ts), e.g.
 * commands, and this feature's connection history; destructive actions last.
 */
import type { Connection, Device, PingResult } from "@tether/sdk";
import { Fragment, useState } from "react";
import { client } from "../../client";
import { fmtBytes, fmtSpan, fmtTime, parseLabels } from "../../format";
import { useDevicePanels } from "../../panels";
import { useSession } from "../../session";
import {
  ErrorNotice,
  LabelChips,
  Online,
  PollStatus,
  Presence,
  PresenceText,
  StaleScope,
  useAction,
  useNow,
  usePoll,
} from "../../ui";
import { DangerZone, PendingReview } from "./DeviceActions";

export function DevicePage({ id }: { id: string }) {
  const session = useSession();
  const canOperate = session.can("operator");
  const panels = useDevicePanels();
  const dev = usePoll(() => client.getDevice(id), 2000, [id]);
  const now = useNow();
  const d = dev.data;

  return (
    <section>
      <p className="crumbs">
        <a href="#/devices">← Devices</a>
      </p>
      <PollStatus poll={dev} />
      {!d && !dev.failure && <p className="muted">Loading…</p>}
      {d && (
        <StaleScope asOf={dev.stale ? dev.asOf : null}>
          <header className="page-head device-head">
            <DeviceName device={d} canRename={canOperate && !dev.stale} onChanged={dev.reload} />
            <Presence device={d} />
            <span className="muted last-seen">
              <PresenceText device={d} now={now} />
            </span>
          </header>

          {canOperate && d.state === "accepted" && (
            <div className="toolbar" role="toolbar" aria-label="Device actions">
              <Ping id={d.id} online={d.online} />
              <button
                type="button"
                onClick={() => {
                  const input = document.getElementById("run-command") as HTMLInputElement | null;
                  input?.scrollIntoView({ behavior: "smooth", block: "center" });
                  input?.focus();
                }}
              >
                Run command…
              </button>
            </div>
          )}

          {d.state === "pending" && (
            <div className="card pending-card">
              <h2>Waiting for approval</h2>
              <p className="muted">
                This device has enrolled and waits for an operator to accept or reject it. Check that the
                fingerprint matches the one the device shows.
              </p>
              <PendingReview device={d} onChanged={dev.reload} />
            </div>
          )}

          <div className="grid">
            <div className="card">
              <h2>Details</h2>
              <dl className="kv">
                <dt>Status</dt>
                <dd>
                  <Presence device={d} />
                </dd>
                <dt>Last seen</dt>
                <dd>
                  <PresenceText device={d} now={now} />
                </dd>
                <dt>Labels</dt>
                <dd>
                  <Labels device={d} canEdit={canOperate && !dev.stale} onChanged={dev.reload} />
                </dd>
                <dt>Hostname</dt>
                <dd>{d.hostname}</dd>
                <dt>Enrolled from</dt>
                <dd>{d.sourceAddress}</dd>
                <dt>Enrolled</dt>
                <dd>{fmtTime(d.createdAt)}</dd>
                {d.state !== "pending" && (
                  // A pending device shows its fingerprint once, in the review box above.
                  <>
                    <dt>Fingerprint</dt>
                    <dd>
                      <code className="fingerprint">{d.fingerprint}</code>
                    </dd>
                  </>
                )}
              </dl>
              <details className="tech">
                <summary>Technical details</summary>
                <dl className="kv compact">
                  <dt>Device ID</dt>
                  <dd className="mono">{d.id}</dd>
                  <dt>Project</dt>
                  <dd>{d.project}</dd>
                  {session.can("admin") && (
                    <>
                      <dt>Shard</dt>
                      <dd className="shard">{d.shard}</dd>
                    </>
                  )}
                  <dt>Rate-limited messages</dt>
                  <dd>{d.rateLimited ?? 0}</dd>
                </dl>
              </details>
            </div>

            <div className="card">
              <h2>Facts</h2>
              {d.facts ? (
                <dl className="kv">
                  <dt>OS</dt>
                  <dd>{d.facts.os}</dd>
                  <dt>Release</dt>
                  <dd>{d.facts.osRelease}</dd>
                  <dt>Kernel</dt>
                  <dd>{d.facts.kernel}</dd>
                  <dt>Arch</dt>
                  <dd>{d.facts.arch}</dd>
                  <dt>Hostname</dt>
                  <dd>{d.facts.hostname}</dd>
                  <dt>Addresses</dt>
                  <dd>
                    {d.facts.addresses.length ? (
                      d.facts.addresses.map((a) => (
                        <div key={a} className="mono">
                          {a}
                        </div>
                      ))
                    ) : (
                      <span className="muted">—</span>
                    )}
                  </dd>
                  <dt>Agent</dt>
                  <dd>{d.facts.agentVersion}</dd>
                  <dt>CPUs</dt>
                  <dd>{d.facts.cpus ?? "—"}</dd>
                  <dt>Memory</dt>
                  <dd>{fmtBytes(d.facts.memoryBytes)}</dd>
                </dl>
              ) : (
                <p className="muted">The device has not reported facts yet.</p>
              )}
            </div>
          </div>

          {panels
            .filter((p) => session.can(p.minRole))
            .map((p) => (
              <Fragment key={p.id}>{p.render(d)}</Fragment>
            ))}

          <DangerZone device={d} onChanged={dev.reload} />
        </StaleScope>
      )}
    </section>
  );
}

/** The page title, with Rename for operators. */
function DeviceName({
  device,
  canRename,
  onChanged,
}: {
  device: Device;
  canRename: boolean;
  onChanged: () => void;
}) {
  const edit = useDeviceEdit(device, onChanged, () => device.name);
  if (!edit.editing)
    return (
      <>
        <h1 className="device-name">{device.name}</h1>
        {canRename && (
          <button type="button" className="small" onClick={edit.open}>
            Rename
          </button>
        )}
      </>
    );
  return (
    <form
      className="rename-form"
      onSubmit={async (e) => {
        e.preventDefault();
        const next = edit.text.trim();
        if (next === device.name) return edit.close();
        if (!next) return edit.setError("Type a name.");
        await edit.save({ name: next });
      }}
    >
      <input
        aria-label="Device name"
        className="name-input"
        value={edit.text}
        maxLength={64}
        onChange={(e) => edit.setText(e.target.value)}
      />
      <button type="submit" className="primary" disabled={edit.busy}>
        Save name
      </button>
      <button type="button" disabled={edit.busy} onClick={edit.close}>
        Cancel
      </button>
      <small className="muted">Letters, digits, . _ - (up to 64).</small>
      <ErrorNotice error={edit.error} compact />
    </form>
  );
}

/**
 * Editing one of the device's fields as text: `open` fills it with `current()`, `save` sends
 * the change, then closes it and reloads the device.
 */
function useDeviceEdit(device: Device, onChanged: () => void, current: () => string) {
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState("");
  const action = useAction();
  return {
    ...action,
    editing,
    text,
    setText,
    open: () => {
      setText(current());
      action.setError(null);
      setEditing(true);
    },
    close: () => setEditing(false),
    save: (change: { name?: string; labels?: Record<string, string | null> }) =>
      action.run(async () => {
        await client.updateDevice(device.id, change);
        setEditing(false);
        onChanged();
      }),
  };
}

const labelsText = (labels: Record<string, string>) =>
  Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");

/** The device's labels, with Edit for operators: one field of key=value pairs. */
function Labels({ device, canEdit, onChanged }: { device: Device; canEdit: boolean; onChanged: () => void }) {
  const edit = useDeviceEdit(device, onChanged, () => labelsText(device.labels));
  if (!edit.editing)
    return (
      <div className="labels-view">
        <LabelChips labels={device.labels} />
        {canEdit && (
          <button type="button" className="small" onClick={edit.open}>
            Edit labels
          </button>
        )}
      </div>
    );
  return (
    <form
      className="labels-form"
      onSubmit={async (e) => {
        e.preventDefault();
        let next: Record<string, string>;
        try {
          next = parseLabels(edit.text);
        } catch (err) {
          return edit.setError(err);
        }
        const change: Record<string, string | null> = {};
        for (const k of Object.keys(device.labels)) if (!(k in next)) change[k] = null;
        for (const [k, v] of Object.entries(next)) if (device.labels[k] !== v) change[k] = v;
        if (Object.keys(change).length === 0) return edit.close();
        await edit.save({ labels: change });
      }}
    >
      <textarea
        aria-label="Labels"
        className="mono"
        rows={2}
        value={edit.text}
        placeholder="site=lab, role=arm"
        onChange={(e) => edit.setText(e.target.value)}
      />
      <small className="muted">
        key=value pairs, separated by commas or spaces. Remove a pair to drop the label.
      </small>
      <div className="buttons">
        <button type="submit" className="primary" disabled={edit.busy}>
          Save labels
        </button>
        <button type="button" disabled={edit.busy} onClick={edit.close}>
          Cancel
        </button>
      </div>
      <ErrorNotice error={edit.error} compact />
    </form>
  );
}

function Ping({ id, online }: { id: string; online: boolean }) {
  const { busy, error, run } = useAction();
  const [result, setResult] = useState<PingResult | null>(null);
  return (
    <div className="ping">
      <button
        type="button"
        disabled={busy}
        title={online ? "Round trip over the control channel" : "The device is offline; a ping will fail"}
        onClick={() =>
          run(async () => {
            try {
              setResult(await client.ping(id));
            } catch (err) {
              setResult(null);
              throw err;
            }
          })
        }
      >
        {busy ? "Pinging…" : "Ping"}
      </button>
      {result && (
        <span className="rtt" role="status">
          Answered in {result.rttMs.toFixed(1)} ms
        </span>
      )}
      <ErrorNotice error={error} compact />
    </div>
  );
}

/** The device page's connection history card. */
export function Connections({ id }: { id: string }) {
  const conns = usePoll(() => client.deviceConnections(id), 5000, [id]);
  const now = useNow();
  return (
    <div className="card">
      <h2>Connection history</h2>
      <PollStatus poll={conns} />
      <ConnectionsTable rows={conns.data} now={now} />
    </div>
  );
}

function ConnectionsTable({ rows, now }: { rows: Connection[] | null; now: number }) {
  if (!rows) return <p className="muted">Loading…</p>;
  if (rows.length === 0) return <p className="muted">The device has never connected.</p>;
  return (
    <table>
      <thead>
        <tr>
          <th>Connected</th>
          <th>Disconnected</th>
          <th>Duration</th>
          <th>Reason</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((c) => {
          const end = c.disconnectedAt ? Date.parse(c.disconnectedAt) : now;
          return (
            <tr key={c.connId + c.connectedAt} title={`connection ${c.connId}`}>
              <td>{fmtTime(c.connectedAt)}</td>
              <td>
                {c.disconnectedAt ? (
                  fmtTime(c.disconnectedAt)
                ) : (
                  <span className="still">
                    <Online online={true} /> <span className="muted">still connected</span>
                  </span>
                )}
              </td>
              <td>{fmtSpan(Math.max(0, (end - Date.parse(c.connectedAt)) / 1000))}</td>
              <td>{c.reason ?? <span className="muted">—</span>}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

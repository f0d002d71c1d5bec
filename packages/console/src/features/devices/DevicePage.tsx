/**
 * One device: details, facts, labels, ping; then the panels features add (src/routes.ts),
 * e.g. commands, and this feature's connection history.
 */
import type { Connection, PingResult } from "@tether/sdk";
import { Fragment, useState } from "react";
import { client, errorText } from "../../client";
import { fmtBytes, fmtSpan, fmtTime } from "../../format";
import { useDevicePanels } from "../../panels";
import { useSession } from "../../session";
import { Ago, ErrorBanner, InlineError, LabelChips, Online, StateBadge, useNow, usePoll } from "../../ui";
import { DeviceActions } from "./DeviceActions";

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
      <ErrorBanner error={dev.error} />
      {!d && !dev.error && <p className="muted">Loading…</p>}
      {d && (
        <>
          <header className="page-head">
            <h1 className="device-name">{d.name}</h1>
            <StateBadge state={d.state} />
            <Online online={d.online} />
          </header>

          <div className="grid">
            <div className="card">
              <h2>Details</h2>
              <dl className="kv">
                <dt>ID</dt>
                <dd className="mono">{d.id}</dd>
                <dt>Project</dt>
                <dd>{d.project}</dd>
                <dt>Fingerprint</dt>
                <dd>
                  <code className="fingerprint">{d.fingerprint}</code>
                </dd>
                <dt>Hostname</dt>
                <dd>{d.hostname}</dd>
                <dt>Enrolled from</dt>
                <dd>{d.sourceAddress}</dd>
                <dt>Enrolled</dt>
                <dd>{fmtTime(d.createdAt)}</dd>
                <dt>Last seen</dt>
                <dd>
                  <Ago iso={d.lastSeenAt} now={now} />
                </dd>
                <dt>Shard</dt>
                <dd>{d.shard}</dd>
                <dt>Labels</dt>
                <dd>
                  <LabelChips labels={d.labels} />
                </dd>
              </dl>
              <DeviceActions device={d} onChanged={dev.reload} />
              {canOperate && d.state === "accepted" && <Ping id={d.id} />}
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
        </>
      )}
    </section>
  );
}

function Ping({ id }: { id: string }) {
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<PingResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  return (
    <div className="ping">
      <button
        type="button"
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          setError(null);
          try {
            setResult(await client.ping(id));
          } catch (err) {
            setResult(null);
            setError(errorText(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        {busy ? "Pinging…" : "Ping"}
      </button>
      {result && (
        <span className="rtt" role="status">
          RTT {result.rttMs.toFixed(1)} ms
        </span>
      )}
      <InlineError error={error} as="span" />
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
      <ErrorBanner error={conns.error} />
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
          <th>Connection</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((c) => {
          const end = c.disconnectedAt ? Date.parse(c.disconnectedAt) : now;
          return (
            <tr key={c.connId + c.connectedAt}>
              <td>{fmtTime(c.connectedAt)}</td>
              <td>{c.disconnectedAt ? fmtTime(c.disconnectedAt) : <Online online={true} />}</td>
              <td>{fmtSpan(Math.max(0, (end - Date.parse(c.connectedAt)) / 1000))}</td>
              <td>{c.reason ?? <span className="muted">—</span>}</td>
              <td className="mono sub">{c.connId}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/** One staged rollout: its state in words, progress, Pause/Resume/Abort, and each device's stage and status. */
import { fmtSpan, fmtTime } from "../../format";
import { PollStatus, StaleScope, usePoll } from "../../ui";
import { type ConfigRolloutDetail, configApi } from "./api";
import {
  BackToConfig,
  LayerLink,
  RolloutActions,
  RolloutProgress,
  RolloutStateBadge,
  rolloutSentence,
  SyncBadge,
} from "./shared";

export function RolloutPage({ id }: { id: string }) {
  const poll = usePoll(() => configApi.rollout(id), 2000, [id]);
  const r = poll.data;
  return (
    <section className="config-page rollout-page">
      <BackToConfig />
      <PollStatus poll={poll} />
      {!r && !poll.failure && <p className="muted">Loading…</p>}
      {r && (
        <StaleScope asOf={poll.stale ? poll.asOf : null}>
          <header className="page-head">
            <h1>
              Rollout of <LayerLink layer={r.layer} label={r.layerLabel} /> revision {r.revision}
            </h1>
            <RolloutStateBadge state={r.state} />
          </header>
          <div className="card">
            <RolloutProgress r={r} />
            <p className="rollout-sentence">{rolloutSentence(r)}</p>
            <p className="muted">{rolloutSettings(r)}</p>
            <RolloutActions r={r} onDone={poll.reload} />
          </div>
          <div className="card">
            <h2>Devices ({r.devices.length})</h2>
            <table className="rollout-devices">
              <thead>
                <tr>
                  <th>Device</th>
                  <th>Stage</th>
                  <th>Released</th>
                  <th>Status</th>
                </tr>
              </thead>
              <tbody>
                {r.devices.map((d) => (
                  <tr key={d.id} data-device={d.name} data-status={d.status}>
                    <td className="name">
                      <a href={`#/devices/${encodeURIComponent(d.id)}`}>{d.name}</a>
                    </td>
                    <td>{d.stage}</td>
                    <td>{d.released ? "yes" : <span className="muted">not yet</span>}</td>
                    <td className="wrap">
                      <SyncBadge status={d.status} />
                      {d.error && <div className="sub run-error">{d.error}</div>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </StaleScope>
      )}
    </section>
  );
}

/** "Canary 1, then waits for Resume, pauses at the first failure. Started … by alice; …" */
function rolloutSettings(r: ConfigRolloutDetail): string {
  const wait = r.waitMs === null ? "then waits for Resume" : `then waits ${fmtSpan(r.waitMs / 1000)}`;
  const fails =
    r.maxFailures === 0
      ? "pauses at the first failure"
      : `pauses when more than ${r.maxFailures} ${r.maxFailures === 1 ? "device fails" : "devices fail"}`;
  const held = r.baseRevision === null ? "the layer empty" : `revision ${r.baseRevision}`;
  return `Canary ${r.canary}, ${wait}, ${fails}. Started ${fmtTime(r.createdAt)} by ${r.createdBy}; devices not yet released keep ${held}.`;
}

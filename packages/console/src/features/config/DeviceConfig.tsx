/**
 * The device page's Configuration panel: desired and reported revision and the status as a
 * sentence, drift, warnings, the layers that apply, and the effective values with the layer
 * that set each key (and what it overrides), linking to the layer pages.
 */
import type { Device } from "@tether/sdk";
import { fmtBytes, fmtTime } from "../../format";
import { PollStatus, usePoll, useStaleAsOf } from "../../ui";
import { configApi } from "./api";
import {
  LayerLink,
  layerHref,
  Named,
  rolloutHref,
  SyncBadge,
  statusSentence,
  tail,
  Value,
  valueText,
} from "./shared";

export function DeviceConfig({ device }: { device: Device }) {
  const poll = usePoll(() => configApi.device(device.id), 3000, [device.id]);
  const c = poll.data;
  const stale = useStaleAsOf() !== null || poll.stale;
  return (
    <div className={`card device-config${stale ? " is-stale" : ""}`} data-status={c?.status}>
      <h2>Configuration</h2>
      <PollStatus poll={poll} />
      {!c && !poll.failure && <p className="muted">Loading…</p>}
      {c && (
        <>
          <p className="config-status-line">
            <SyncBadge status={c.status} /> <span className="config-status-text">{statusSentence(c)}</span>
          </p>
          {c.status === "failed" && c.hookOutput && (
            <details className="hook-output" open>
              <summary>Apply hook output (the end)</summary>
              <pre>{tail(c.hookOutput, 2000)}</pre>
            </details>
          )}
          <dl className="kv compact">
            <dt>Desired</dt>
            <dd>{c.desired === null ? "—" : `revision ${c.desired}`}</dd>
            <dt>Reported</dt>
            <dd>
              {c.reported === null ? "nothing yet" : `revision ${c.reported}`}
              {c.reportedAt && <span className="muted"> · {fmtTime(c.reportedAt)}</span>}
            </dd>
            {c.heldBy && (
              <>
                <dt>Held by</dt>
                <dd>
                  <a href={rolloutHref(c.heldBy)}>a staged rollout</a>
                </dd>
              </>
            )}
            <dt>Layers</dt>
            <dd className="layer-chain">
              {c.layers.length === 0 ? (
                <span className="muted">none</span>
              ) : (
                c.layers.map((l, i) => (
                  <span key={l.layer}>
                    {i > 0 && <span className="muted"> → </span>}
                    <LayerLink layer={l.layer} label={l.layerLabel} />
                    {l.revision !== null && <span className="muted"> ({l.revision})</span>}
                  </span>
                ))
              )}{" "}
              <a className="small-link" href={layerHref(`device:${device.name}`)}>
                Edit this device's own layer
              </a>
            </dd>
          </dl>
          {c.drift.length > 0 && (
            <p className="notice drift-notice" role="status">
              Changed by hand on the device since the last apply: {c.drift.join(", ")}. The next change
              overwrites them.
            </p>
          )}
          {c.warnings.length > 0 && (
            <ul className="notice config-warnings">
              {c.warnings.map((w) => (
                <li key={w}>{w}</li>
              ))}
            </ul>
          )}
          {c.explain.length === 0 ? (
            <p className="muted">No values apply to this device.</p>
          ) : (
            <table className="config-explain">
              <thead>
                <tr>
                  <th>Key</th>
                  <th>Value</th>
                  <th>Set by</th>
                </tr>
              </thead>
              <tbody>
                {c.explain.map((e) => (
                  <tr key={e.key} data-key={e.key} data-layer={e.layer}>
                    <td>
                      <code>{e.key}</code>
                    </td>
                    <td className="wrap">
                      <Value value={e.value} secret={e.secret} />
                    </td>
                    <td className="wrap source-cell">
                      set by <LayerLink layer={e.layer} label={e.layerLabel} /> (revision {e.revision})
                      {e.overrides.length > 0 && (
                        <div className="sub overrides">
                          overrides{" "}
                          {e.overrides.map((o, i) => (
                            <span key={o.layer}>
                              {i > 0 && ", "}
                              <LayerLink layer={o.layer} label={o.layerLabel} />{" "}
                              <code>{e.secret ? "••••••" : valueText(o.value)}</code>
                            </span>
                          ))}
                        </div>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {c.files.length > 0 && (
            <table className="config-files">
              <thead>
                <tr>
                  <th>File</th>
                  <th>Size</th>
                  <th>From</th>
                </tr>
              </thead>
              <tbody>
                {c.files.map((f) => (
                  <tr key={f.path}>
                    <td className="wrap">
                      <Named name={f.path} secret={f.secret} />
                    </td>
                    <td className="nowrap">{fmtBytes(f.size)}</td>
                    <td>
                      <LayerLink layer={f.layer} label={f.layerLabel} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </div>
  );
}

/**
 * Configuration, the fleet view: how many devices are in sync (pending, applying, failed), the
 * warnings, the layers (defaults, groups with selector, priority and devices, device layers)
 * linking to their pages, group create and delete, and the unfinished rollouts.
 */
import { type Device, parseSelector } from "@tether/sdk";
import { type FormEvent, useEffect, useState } from "react";
import { client } from "../../client";

import { useSession } from "../../session";
import {
  ConfirmButton,
  ErrorNotice,
  FormCard,
  PollStatus,
  StaleScope,
  useAction,
  useNow,
  usePoll,
  useStaleAsOf,
} from "../../ui";
import { type ConfigGroup, type ConfigLayerSummary, type ConfigRollout, configApi } from "./api";
import {
  LayerLink,
  layerHref,
  RolloutActions,
  RolloutProgress,
  RolloutStateBadge,
  rolloutHref,
  rolloutSentence,
  STATUS_LABEL,
  since,
  SyncBadge,
  statusSentence,
} from "./shared";

const REFRESH_MS = 3000;
const STATUS_ORDER = ["in-sync", "pending", "applying", "failed"] as const;

async function loadFleet() {
  const [status, layers, groups, rollouts] = await Promise.all([
    configApi.status(),
    configApi.layers(),
    configApi.groups(),
    configApi.rollouts(),
  ]);
  return { status, layers, groups, rollouts };
}

export function ConfigFleetPage() {
  const fleet = usePoll(loadFleet, REFRESH_MS);
  const canOperate = useSession().can("operator");
  const d = fleet.data;
  return (
    <section className="config-page">
      <header className="page-head">
        <h1>Configuration</h1>
        {d && (
          <span className="summary">
            {d.status.devices.length} {d.status.devices.length === 1 ? "device" : "devices"}
          </span>
        )}
      </header>
      <PollStatus poll={fleet} />
      {!d && !fleet.failure && <p className="muted">Loading…</p>}
      {d && (
        <StaleScope asOf={fleet.stale ? fleet.asOf : null}>
          <SyncTiles counts={d.status.counts} />
          {d.status.warnings.length > 0 && (
            <div className="card config-warnings" role="status">
              <h2>Warnings</h2>
              <ul>
                {d.status.warnings.map((w) => (
                  <li key={w}>{w}</li>
                ))}
              </ul>
            </div>
          )}
          <Rollouts
            rollouts={d.rollouts.filter((r) => r.state !== "done" && r.state !== "aborted")}
            onDone={fleet.reload}
          />
          <NotInSync devices={d.status.devices} />
          <Layers layers={d.layers} groups={d.groups} onChanged={fleet.reload} />
          {canOperate && <CreateGroup groups={d.groups} onCreated={fleet.reload} />}
        </StaleScope>
      )}
    </section>
  );
}

function SyncTiles({ counts }: { counts: Record<string, number> }) {
  return (
    <div className="card">
      <h2>Devices by sync status</h2>
      <div className="tiles sync-tiles">
        {STATUS_ORDER.map((s) => (
          <div key={s} className={`tile sync-tile sync-tile-${s}`} data-status={s}>
            <span className="tile-count">{counts[s] ?? 0}</span>
            <span className="tile-label">{STATUS_LABEL[s]}</span>
          </div>
        ))}
        {(counts.none ?? 0) > 0 && (
          <div className="tile sync-tile" data-status="none">
            <span className="tile-count">{counts.none}</span>
            <span className="tile-label">no configuration</span>
          </div>
        )}
      </div>
    </div>
  );
}

/** Devices that are not in sync, with the reason in words. */
function NotInSync({ devices }: { devices: Awaited<ReturnType<typeof configApi.status>>["devices"] }) {
  const out = devices.filter((d) => d.status !== "in-sync" && d.status !== "none");
  if (out.length === 0) return null;
  return (
    <div className="card">
      <h2>Devices not in sync</h2>
      <table className="config-devices">
        <thead>
          <tr>
            <th>Device</th>
            <th>Status</th>
            <th>What</th>
          </tr>
        </thead>
        <tbody>
          {out.map((s) => (
            <tr key={s.device.id} data-device={s.device.name} data-status={s.status}>
              <td className="name">
                <a href={`#/devices/${encodeURIComponent(s.device.id)}`}>{s.device.name}</a>
              </td>
              <td>
                <SyncBadge status={s.status} />
              </td>
              <td className="wrap">
                {statusSentence(s)}
                {s.drift.length > 0 && (
                  <div className="sub">Changed by hand on the device: {s.drift.join(", ")}</div>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Rollouts({ rollouts, onDone }: { rollouts: ConfigRollout[]; onDone: () => void }) {
  const now = useNow(10_000);
  if (rollouts.length === 0) return null;
  return (
    <div className="card">
      <h2>Rollouts in progress</h2>
      <table className="rollouts">
        <thead>
          <tr>
            <th>Layer</th>
            <th>Revision</th>
            <th>State</th>
            <th>Progress</th>
            <th>Started</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {rollouts.map((r) => (
            <tr key={r.id} data-rollout={r.id} data-state={r.state}>
              <td>
                <LayerLink layer={r.layer} label={r.layerLabel} />
              </td>
              <td>
                <a href={rolloutHref(r.id)}>revision {r.revision}</a>
              </td>
              <td>
                <RolloutStateBadge state={r.state} />
              </td>
              <td className="wrap">
                <RolloutProgress r={r} />
                <div className="sub">{rolloutSentence(r)}</div>
              </td>
              <td className="nowrap">
                {since(r.createdAt, now)} <span className="muted">by {r.createdBy}</span>
              </td>
              <td>
                <RolloutActions r={r} onDone={onDone} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Layers({
  layers,
  groups,
  onChanged,
}: {
  layers: ConfigLayerSummary[];
  groups: ConfigGroup[];
  onChanged: () => void;
}) {
  const canOperate = useSession().can("operator");
  const now = useNow(10_000);
  const defaults = layers.find((l) => l.kind === "defaults");
  const deviceLayers = layers.filter((l) => l.kind === "device");
  const byRef = new Map(layers.map((l) => [l.layer, l]));
  const sortedGroups = groups.slice().sort((a, b) => a.priority - b.priority || a.name.localeCompare(b.name));
  const what = (l: ConfigLayerSummary | undefined) =>
    l && l.revision !== null ? (
      <>
        {l.keys} {l.keys === 1 ? "key" : "keys"}
        {l.files > 0 && `, ${l.files} ${l.files === 1 ? "file" : "files"}`}
        <span className="muted">
          {" "}
          · revision {l.revision}
          {l.updatedAt && `, ${since(l.updatedAt, now)}`}
        </span>
      </>
    ) : (
      <span className="muted">empty</span>
    );
  return (
    <div className="card">
      <h2>Layers</h2>
      <p className="muted">
        A device's configuration is the project defaults, then every group that matches it (lowest priority
        first), then its own layer.
      </p>
      <table className="config-layers">
        <thead>
          <tr>
            <th>Layer</th>
            <th>Selector</th>
            <th>Priority</th>
            <th>Devices</th>
            <th>Content</th>
            <th />
          </tr>
        </thead>
        <tbody>
          <tr data-layer="defaults">
            <td>
              <a href={layerHref("defaults")}>Project defaults</a>
            </td>
            <td className="muted">every device</td>
            <td className="muted">—</td>
            <td>{defaults?.devices ?? "—"}</td>
            <td>{what(defaults)}</td>
            <td />
          </tr>
          {sortedGroups.map((g) => (
            <tr key={g.name} data-layer={`group:${g.name}`}>
              <td>
                <a href={layerHref(`group:${g.name}`)}>group {g.name}</a>
              </td>
              <td>
                <code>{g.selector}</code>
              </td>
              <td>{g.priority}</td>
              <td>{g.devices}</td>
              <td>{what(byRef.get(`group:${g.name}`))}</td>
              <td>{canOperate && <DeleteGroup group={g} onDeleted={onChanged} />}</td>
            </tr>
          ))}
          {deviceLayers.map((l) => (
            <tr key={l.layer} data-layer={l.layer}>
              <td>
                <a href={layerHref(l.layer)}>{l.layerLabel}</a>
              </td>
              <td className="muted">this device only</td>
              <td className="muted">last</td>
              <td>{l.devices}</td>
              <td>{what(l)}</td>
              <td />
            </tr>
          ))}
        </tbody>
      </table>
      {sortedGroups.length === 0 && (
        <p className="muted">
          No groups yet. A group sets values for every device whose labels match its selector.
        </p>
      )}
    </div>
  );
}

function DeleteGroup({ group, onDeleted }: { group: ConfigGroup; onDeleted: () => void }) {
  const stale = useStaleAsOf();
  return (
    <ConfirmButton
      label="Delete"
      question={`Delete group ${group.name}? Its ${group.devices} ${group.devices === 1 ? "device loses" : "devices lose"} its values; its history stays.`}
      yes="Delete group"
      busy={stale !== null}
      onConfirm={async () => {
        await configApi.deleteGroup(group.name);
        onDeleted();
      }}
    />
  );
}

/** Devices a selector matches now (a preview under the form). */
function useSelectorPreview(selector: string) {
  const [state, setState] = useState<{ key: string; devices?: Device[]; error?: unknown } | null>(null);
  const key = selector.trim();
  useEffect(() => {
    if (!key) {
      setState(null);
      return;
    }
    let stop = false;
    const t = setTimeout(async () => {
      try {
        parseSelector(key);
        const devices = await client.listDevices(key);
        if (!stop) setState({ key, devices });
      } catch (err) {
        if (!stop) setState({ key, error: err });
      }
    }, 250);
    return () => {
      stop = true;
      clearTimeout(t);
    };
  }, [key]);
  return state && state.key === key ? state : null;
}

const PREVIEW_NAMES = 12;

function CreateGroup({ groups, onCreated }: { groups: ConfigGroup[]; onCreated: () => void }) {
  const [name, setName] = useState("");
  const [selector, setSelector] = useState("");
  const [priority, setPriority] = useState("10");
  const [message, setMessage] = useState("");
  const [created, setCreated] = useState<string | null>(null);
  const act = useAction();
  const preview = useSelectorPreview(selector);
  const taken = groups.filter((g) => String(g.priority) === priority.trim()).map((g) => g.name);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setCreated(null);
    void act.run(async () => {
      const p = Number(priority.trim());
      if (!name.trim()) throw new Error("Type a group name");
      if (!selector.trim()) throw new Error("Type a label selector, e.g. site=tokyo");
      if (!Number.isInteger(p)) throw new Error("The priority is a whole number, e.g. 10");
      const g = await configApi.createGroup({
        name: name.trim(),
        selector: selector.trim(),
        priority: p,
        ...(message.trim() ? { message: message.trim() } : {}),
      });
      setCreated(
        `Group ${g.name} created; it matches ${g.devices} ${g.devices === 1 ? "device" : "devices"}.`,
      );
      setName("");
      setSelector("");
      setMessage("");
      onCreated();
    });
  };

  return (
    <FormCard
      title="Create a group"
      formClassName="form group-form"
      onSubmit={submit}
      busy={act.busy}
      submit="Create group"
      busyText="Creating…"
      error={act.error}
      after={
        created && (
          <p className="ok" role="status">
            {created}
          </p>
        )
      }
    >
      <div className="group-fields">
        <label>
          <span>Name</span>
          <input
            aria-label="Group name"
            value={name}
            placeholder="site-tokyo"
            maxLength={63}
            onChange={(e) => setName(e.target.value)}
          />
          <small>Lowercase letters, digits and -.</small>
        </label>
        <label className="grow">
          <span>Selector</span>
          <input
            aria-label="Group selector"
            value={selector}
            placeholder="site=tokyo"
            onChange={(e) => setSelector(e.target.value)}
          />
          <small>Labels only, e.g. site=tokyo,model=amr2.</small>
        </label>
        <label>
          <span>Priority</span>
          <input
            aria-label="Group priority"
            value={priority}
            inputMode="numeric"
            onChange={(e) => setPriority(e.target.value)}
          />
          <small>Higher wins over lower.</small>
        </label>
        <label className="grow">
          <span>Message</span>
          <input
            aria-label="Group message"
            value={message}
            placeholder="why (optional)"
            maxLength={1000}
            onChange={(e) => setMessage(e.target.value)}
          />
        </label>
      </div>
      {taken.length > 0 && selector.trim() && (
        <p className="muted">
          Priority {priority.trim()} is also used by {taken.join(", ")}: refused if both match a device.
        </p>
      )}
      {preview?.error !== undefined && <ErrorNotice error={preview.error} compact />}
      {preview?.devices && (
        <div className="match-preview">
          <span className="match-count">
            {preview.devices.length} {preview.devices.length === 1 ? "device matches" : "devices match"} now
          </span>
          {preview.devices.length > 0 && (
            <ul className="match-names" aria-label="Matching devices">
              {preview.devices.slice(0, PREVIEW_NAMES).map((d) => (
                <li key={d.id}>{d.name}</li>
              ))}
              {preview.devices.length > PREVIEW_NAMES && (
                <li className="muted">and {preview.devices.length - PREVIEW_NAMES} more</li>
              )}
            </ul>
          )}
        </div>
      )}
    </FormCard>
  );
}

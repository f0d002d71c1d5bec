/**
 * The device list, polled every 2 s. Its view lives in the URL so it can be shared:
 * `#/devices?selector=site%3Dlab&status=online&sort=-seen&page=2&per=25`. Devices can be
 * selected (checkboxes, all on the page) for bulk actions: accept, add or remove a label, run
 * a command.
 */
import { countByPresence, type Device, parseSelector, presenceStatus } from "@tether/sdk";
import { useMemo, useState } from "react";
import { client } from "../../client";
import { parseLabels } from "../../format";
import { useSession } from "../../session";
import type { Alert } from "../alerts/api";
import { FiringBadge, useFiringAlerts } from "../alerts/shared";
import {
  ErrorNotice,
  FactsSummary,
  FilterForm,
  LabelChips,
  Pager,
  PollStatus,
  Presence,
  PresenceText,
  StaleScope,
  useHashQuery,
  useNow,
  usePoll,
} from "../../ui";
import { PendingReview } from "./DeviceActions";

type SortKey = "name" | "status" | "seen";
const SORT_KEYS: readonly SortKey[] = ["name", "status", "seen"];
const SORT_LABEL: Record<SortKey, string> = { name: "Name", status: "Status", seen: "Last seen" };
const PER_PAGE = [10, 25, 50, 100];
const DEFAULT_PER = 25;
const STATUSES = ["online", "offline", "pending"] as const;

/** Status order: what needs an operator first. */
const STATUS_ORDER: Record<string, number> = { pending: 0, offline: 1, online: 2, rejected: 3, revoked: 4 };

/** Most recently heard from first: online now (longest connected last), then by last seen. */
function seenKey(d: Device): number {
  if (d.state === "accepted" && d.online) return Number.MAX_SAFE_INTEGER;
  const t = d.lastSeenAt ? Date.parse(d.lastSeenAt) : Number.NaN;
  return Number.isNaN(t) ? 0 : t;
}

function compare(key: SortKey): (a: Device, b: Device) => number {
  const byName = (a: Device, b: Device) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id);
  if (key === "status")
    return (a, b) =>
      (STATUS_ORDER[presenceStatus(a)] ?? 9) - (STATUS_ORDER[presenceStatus(b)] ?? 9) || byName(a, b);
  if (key === "seen") return (a, b) => seenKey(b) - seenKey(a) || byName(a, b);
  return byName;
}

function intParam(v: string | null, dflt: number, min: number, max: number): number {
  const n = v === null ? Number.NaN : Number(v);
  return Number.isInteger(n) ? Math.min(max, Math.max(min, n)) : dflt;
}

export function DevicesPage() {
  const canOperate = useSession().can("operator");
  const [q, setQuery] = useHashQuery();
  const selector = q.get("selector") ?? "";
  const sortParam = q.get("sort") ?? "name";
  const desc = sortParam.startsWith("-");
  const sortKey: SortKey = SORT_KEYS.includes(sortParam.replace(/^-/, "") as SortKey)
    ? (sortParam.replace(/^-/, "") as SortKey)
    : "name";
  const status = STATUSES.find((s) => s === q.get("status")) ?? null;
  const per = intParam(q.get("per"), DEFAULT_PER, 1, 500);
  const requestedPage = intParam(q.get("page"), 1, 1, 1_000_000);

  const poll = usePoll(
    async () => {
      if (selector) parseSelector(selector); // a bad selector is explained before any request
      return client.listDevices(selector || undefined);
    },
    2000,
    [selector],
  );
  const now = useNow();
  // Firing alerts per device, loaded again with each refresh of the list.
  const firing = useFiringAlerts(poll.asOf);
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());

  const all = poll.data ?? [];
  const shown = useMemo(() => {
    const list = status ? all.filter((d) => presenceStatus(d) === status) : [...all];
    list.sort(compare(sortKey));
    if (desc) list.reverse();
    return list;
  }, [all, status, sortKey, desc]);
  const pages = Math.max(1, Math.ceil(shown.length / per));
  const page = Math.min(requestedPage, pages);
  const rows = shown.slice((page - 1) * per, page * per);
  const counts = countByPresence(all);
  const picked = all.filter((d) => selected.has(d.id));
  const pageAllSelected = rows.length > 0 && rows.every((d) => selected.has(d.id));

  const toggle = (ids: string[], on: boolean) =>
    setSelected((s) => {
      const next = new Set(s);
      for (const id of ids) on ? next.add(id) : next.delete(id);
      return next;
    });

  const sortBy = (key: SortKey) =>
    setQuery({ sort: key === sortKey && !desc ? `-${key}` : key === "name" ? null : key, page: null });

  return (
    <section>
      <header className="page-head">
        <h1>Devices</h1>
        {poll.data && (
          <span className="summary">
            {all.length} {all.length === 1 ? "device" : "devices"}
            {selector && " match"}
          </span>
        )}
        <FilterForm
          key={selector}
          label="Selector"
          placeholder="selector, e.g. site=lab,fact.arch=arm64"
          value={selector}
          onApply={(v) => setQuery({ selector: v || null, page: null })}
        />
      </header>

      <fieldset className={`status-filter${poll.stale ? " is-stale" : ""}`} aria-label="Show">
        {[null, ...STATUSES].map((s) => (
          <button
            key={s ?? "all"}
            type="button"
            className={status === s ? "seg active" : "seg"}
            aria-pressed={status === s}
            onClick={() => setQuery({ status: s, page: null })}
          >
            {s === null ? `All (${all.length})` : `${s[0].toUpperCase()}${s.slice(1)} (${counts[s]})`}
          </button>
        ))}
      </fieldset>

      <PollStatus poll={poll} />

      {canOperate && picked.length > 0 && (
        <BulkBar devices={picked} onDone={poll.reload} onClear={() => setSelected(new Set())} />
      )}

      {poll.data && shown.length === 0 && (
        <p className="empty">
          {selector || status ? (
            <>No devices match this view. </>
          ) : (
            <>
              No devices yet. <a href="#/enroll">Create an enrollment token</a> to add one.
            </>
          )}
        </p>
      )}

      {rows.length > 0 && (
        <StaleScope asOf={poll.stale ? poll.asOf : null}>
          <table className="devices">
            <thead>
              <tr>
                {canOperate && (
                  <th className="pick">
                    <input
                      type="checkbox"
                      aria-label="Select all on this page"
                      checked={pageAllSelected}
                      onChange={(e) =>
                        toggle(
                          rows.map((d) => d.id),
                          e.target.checked,
                        )
                      }
                    />
                  </th>
                )}
                {(["name", "status", "seen"] as const).map((k) => (
                  <th key={k} aria-sort={sortKey === k ? (desc ? "descending" : "ascending") : undefined}>
                    <button type="button" className="sort" data-sort={k} onClick={() => sortBy(k)}>
                      {SORT_LABEL[k]}
                      <span className="sort-mark" aria-hidden="true">
                        {sortKey === k ? (desc ? " ▼" : " ▲") : ""}
                      </span>
                    </button>
                  </th>
                ))}
                <th>Labels</th>
                <th>System</th>
                {all.some((d) => d.state === "pending") && <th>Review</th>}
              </tr>
            </thead>
            <tbody>
              {rows.map((d) => (
                <DeviceRow
                  key={d.id}
                  d={d}
                  now={now}
                  onChanged={poll.reload}
                  firing={firing?.get(d.id)}
                  pickable={canOperate}
                  picked={selected.has(d.id)}
                  onPick={(on) => toggle([d.id], on)}
                  reviewColumn={all.some((x) => x.state === "pending")}
                />
              ))}
            </tbody>
          </table>
        </StaleScope>
      )}

      <div className="list-foot">
        <Pager
          page={page}
          pages={pages}
          total={shown.length}
          from={(page - 1) * per + 1}
          to={Math.min(shown.length, page * per)}
          onPage={(p) => setQuery({ page: p === 1 ? null : String(p) })}
        />
        {shown.length > PER_PAGE[0] && (
          <label className="per-page">
            <span className="muted">Per page</span>{" "}
            <select
              value={per}
              onChange={(e) =>
                setQuery({ per: Number(e.target.value) === DEFAULT_PER ? null : e.target.value, page: null })
              }
            >
              {[...new Set([...PER_PAGE, per])]
                .sort((a, b) => a - b)
                .map((n) => (
                  <option key={n} value={n}>
                    {n}
                  </option>
                ))}
            </select>
          </label>
        )}
      </div>
      {!poll.data && !poll.failure && <p className="muted">Loading…</p>}
    </section>
  );
}

function DeviceRow({
  d,
  now,
  onChanged,
  firing,
  pickable,
  picked,
  onPick,
  reviewColumn,
}: {
  d: Device;
  now: number;
  onChanged: () => void;
  /** The device's firing alerts (features/alerts). */
  firing?: Alert[];
  pickable: boolean;
  picked: boolean;
  onPick: (on: boolean) => void;
  reviewColumn: boolean;
}) {
  return (
    <tr data-device-id={d.id} data-device={d.name} className={`row-${d.state}${picked ? " selected" : ""}`}>
      {pickable && (
        <td className="pick">
          <input
            type="checkbox"
            aria-label={`Select ${d.name}`}
            checked={picked}
            onChange={(e) => onPick(e.target.checked)}
          />
        </td>
      )}
      <td className="name">
        <a href={`#/devices/${encodeURIComponent(d.id)}`}>{d.name}</a> <FiringBadge alerts={firing} />
        {d.facts?.hostname && d.facts.hostname !== d.name && <div className="sub">{d.facts.hostname}</div>}
      </td>
      <td className="state">
        <Presence device={d} />
      </td>
      <td className="seen">
        <PresenceText device={d} now={now} />
      </td>
      <td>
        <LabelChips labels={d.labels} />
      </td>
      <td>
        <FactsSummary facts={d.facts} />
      </td>
      {reviewColumn && <td>{d.state === "pending" && <PendingReview device={d} onChanged={onChanged} />}</td>}
    </tr>
  );
}

/** Actions on the selected devices; each reports how many it changed and what failed. */
function BulkBar({
  devices,
  onDone,
  onClear,
}: {
  devices: Device[];
  onDone: () => void;
  onClear: () => void;
}) {
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<string | null>(null);
  const [failures, setFailures] = useState<{ name: string; error: unknown }[]>([]);
  const [error, setError] = useState<unknown>(null);
  const pending = devices.filter((d) => d.state === "pending");
  const accepted = devices.filter((d) => d.state === "accepted");

  const each = async (what: string, targets: Device[], fn: (d: Device) => Promise<unknown>) => {
    setBusy(true);
    setDone(null);
    setError(null);
    const failed: { name: string; error: unknown }[] = [];
    for (const d of targets) {
      try {
        await fn(d);
      } catch (err) {
        failed.push({ name: d.name, error: err });
      }
    }
    setFailures(failed);
    const ok = targets.length - failed.length;
    setDone(
      `${what} ${ok} ${ok === 1 ? "device" : "devices"}${failed.length ? `; ${failed.length} failed` : ""}.`,
    );
    setBusy(false);
    onDone();
  };

  return (
    <section className="bulk-bar" aria-label="Selected devices">
      <div className="bulk-row">
        <b className="bulk-count">{devices.length} selected</b>
        {pending.length > 0 && (
          <button
            type="button"
            className="primary"
            disabled={busy}
            onClick={() => void each("Accepted", pending, (d) => client.acceptDevice(d.id))}
          >
            Accept {pending.length} pending
          </button>
        )}
        <BulkForm
          label="Label to add"
          placeholder="key=value"
          button="Add label"
          busy={busy}
          onSubmit={(text) => {
            let labels: Record<string, string>;
            try {
              labels = parseLabels(text);
            } catch (err) {
              setError(err);
              return false;
            }
            if (Object.keys(labels).length === 0) {
              setError("Type a label as key=value.");
              return false;
            }
            const added = Object.entries(labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(", ");
            void each(`Added ${added} to`, devices, (d) => client.updateDevice(d.id, { labels }));
            return true;
          }}
        />
        <BulkForm
          label="Label to remove"
          placeholder="key"
          button="Remove label"
          busy={busy}
          onSubmit={(text) => {
            const keys = text.split(/[,\s]+/).filter(Boolean);
            if (keys.length === 0) {
              setError("Type the label key to remove.");
              return false;
            }
            const labels = Object.fromEntries(keys.map((k) => [k, null]));
            void each(`Removed ${keys.join(", ")} from`, devices, (d) =>
              client.updateDevice(d.id, { labels }),
            );
            return true;
          }}
        />
        {accepted.length > 0 ? (
          <a
            className="button"
            href={`#/commands?devices=${encodeURIComponent(accepted.map((d) => d.id).join(","))}`}
          >
            Run command on {accepted.length}…
          </a>
        ) : (
          <span className="muted small">Commands run on accepted devices only.</span>
        )}
        <button type="button" className="linklike" onClick={onClear}>
          Clear selection
        </button>
      </div>
      {done && (
        <div className="bulk-done" role="status">
          {done}
        </div>
      )}
      {failures.map((f) => (
        <div key={f.name} className="bulk-failure">
          <b>{f.name}:</b> <ErrorNotice error={f.error} compact />
        </div>
      ))}
      <ErrorNotice error={error} compact />
    </section>
  );
}

/** One field of the bulk bar and its button; the field empties when `onSubmit` takes the text. */
function BulkForm({
  label,
  placeholder,
  button,
  busy,
  onSubmit,
}: {
  label: string;
  placeholder: string;
  button: string;
  busy: boolean;
  /** false: the text was refused (the reason is shown elsewhere) and stays in the field. */
  onSubmit: (text: string) => boolean;
}) {
  const [text, setText] = useState("");
  return (
    <form
      className="bulk-form"
      onSubmit={(e) => {
        e.preventDefault();
        if (onSubmit(text)) setText("");
      }}
    >
      <input
        aria-label={label}
        placeholder={placeholder}
        className="mono"
        value={text}
        onChange={(e) => setText(e.target.value)}
      />
      <button type="submit" disabled={busy}>
        {button}
      </button>
    </form>
  );
}

/**
 * The audit log (admins), newest first: one sentence per event with names (the SDK's
 * auditSentence, the same words as `tether audit list`), its time, and its full details on
 * demand. Filters by actor, action, device and time; older entries a page at a time.
 */
import { AUDIT_ACTIONS, type AuditEntry, type AuditPart, auditSentence } from "@tether/sdk";
import { type FormEvent, Fragment, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { ApiError, client } from "../../client";
import { fmtTime } from "../../format";
import { useSession } from "../../session";
import { Ago, ErrorNotice, useHashQuery, useNow, usePoll } from "../../ui";

const PAGE = 50;

interface Filters {
  actor: string;
  action: string;
  device: string;
  /** datetime-local values (local time), "" for none. */
  since: string;
  until: string;
}

const NO_FILTERS: Filters = { actor: "", action: "", device: "", since: "", until: "" };
const KEYS = Object.keys(NO_FILTERS) as (keyof Filters)[];

const toIso = (local: string): string | undefined => (local ? new Date(local).toISOString() : undefined);

export function AuditPage() {
  // The filters live in the hash ("#/audit?device=robot-7"), so a view can be linked and reloaded.
  const [query, setQuery] = useHashQuery();
  const qs = query.toString();
  // biome-ignore lint/correctness/useExhaustiveDependencies: qs is the query's identity
  const filters = useMemo(
    () => Object.fromEntries(KEYS.map((k) => [k, query.get(k) ?? ""])) as unknown as Filters,
    [qs],
  );
  const setFilters = (f: Filters) => setQuery(Object.fromEntries(KEYS.map((k) => [k, f[k] || null])));
  const [entries, setEntries] = useState<AuditEntry[] | null>(null);
  const [more, setMore] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const seq = useRef(0);
  const now = useNow(10_000);
  // Suggestions for the filter fields, loaded once (the filters remount on every change). They
  // are only suggestions: the fields take any text, so a failure here is not worth a message.
  const users = usePoll(async () => (await client.listUsers()).map((u) => u.username), null);
  const devices = usePoll(
    async () => [...new Set((await client.listDevices()).map((d) => d.name))].sort(),
    null,
  );

  /** Load the newest page (`before` undefined) or the page older than `before`, appended. */
  const load = useCallback(
    async (before?: number) => {
      const mine = ++seq.current;
      setLoading(true);
      setError(null);
      try {
        const page = await client.audit({
          actor: filters.actor || undefined,
          action: filters.action || undefined,
          device: filters.device || undefined,
          since: toIso(filters.since),
          until: toIso(filters.until),
          before,
          // One extra tells whether older entries remain.
          limit: PAGE + 1,
        });
        if (mine !== seq.current) return;
        const shown = page.slice(0, PAGE);
        setEntries((old) => (before === undefined ? shown : [...(old ?? []), ...shown]));
        setMore(page.length > PAGE);
      } catch (err) {
        if (mine !== seq.current) return;
        setError(err);
        if (before === undefined) setEntries(null);
      } finally {
        if (mine === seq.current) setLoading(false);
      }
    },
    [filters],
  );

  useEffect(() => {
    void load();
  }, [load]);

  const filtered = Object.values(filters).some(Boolean);
  // The device filter names no device, now or in the log: say so instead of an error.
  const unknownDevice =
    error instanceof ApiError && error.code === "TETHER_ERR_DEVICE_NOT_FOUND" && filters.device !== "";
  const { project } = useSession();
  return (
    <section className="audit-page">
      <header className="page-head">
        <h1>Audit log</h1>
        <span className="summary">Who did what, newest first.</span>
        <div className="audit-head-buttons">
          <button type="button" onClick={() => void load()} disabled={loading}>
            Refresh
          </button>
        </div>
      </header>
      <AuditFilters
        key={qs}
        value={filters}
        onApply={setFilters}
        users={users.data ?? []}
        devices={devices.data ?? []}
      />
      {unknownDevice ? (
        <p className="empty">
          No device called “{filters.device}” has ever been in {project}, so nothing matches.
        </p>
      ) : (
        error !== null && <ErrorNotice error={error} onRetry={() => void load()} />
      )}
      {entries && entries.length === 0 && (
        <p className="empty">
          {filtered ? "No entries match these filters." : "Nothing has been recorded in this project yet."}
        </p>
      )}
      {entries && entries.length > 0 && (
        <ol className="audit-log" aria-label="Audit entries">
          {entries.map((e, i) => (
            <Fragment key={e.id}>
              {(i === 0 || day(entries[i - 1].at) !== day(e.at)) && (
                <li className="audit-day" aria-hidden="true">
                  {dayLabel(e.at, now)}
                </li>
              )}
              <AuditRow entry={e} now={now} />
            </Fragment>
          ))}
        </ol>
      )}
      {!entries && error === null && <p className="muted">Loading…</p>}
      {entries && entries.length > 0 && (
        <div className="audit-foot">
          {more ? (
            <button
              type="button"
              disabled={loading}
              onClick={() => void load(entries[entries.length - 1].id)}
            >
              {loading ? "Loading…" : "Older entries"}
            </button>
          ) : (
            <span className="muted">
              {entries.length === 1 ? "1 entry" : `${entries.length} entries`}; that is all
              {filtered ? " that match" : ""}.
            </span>
          )}
        </div>
      )}
    </section>
  );
}

/** A filter field that takes any text, suggesting `children` (who, which device). */
function Suggested({
  label,
  list,
  placeholder,
  value,
  onChange,
  children,
}: {
  label: string;
  list: string;
  placeholder: string;
  value: string;
  onChange: (e: { target: { value: string } }) => void;
  children: string[];
}) {
  return (
    <label>
      <span>{label}</span>
      <input aria-label={label} list={list} placeholder={placeholder} value={value} onChange={onChange} />
      <datalist id={list}>
        {children.map((v) => (
          <option key={v} value={v} />
        ))}
      </datalist>
    </label>
  );
}

/** The filter form; `users` and `devices` are suggestions for its Who and Device fields. */
function AuditFilters({
  value,
  onApply,
  users,
  devices,
}: {
  value: Filters;
  onApply: (f: Filters) => void;
  users: string[];
  devices: string[];
}) {
  const [f, setF] = useState<Filters>(value);
  const set = (k: keyof Filters) => (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onApply({ ...f, actor: f.actor.trim(), device: f.device.trim() });
  };
  const dirty = Object.values(value).some(Boolean) || Object.values(f).some(Boolean);
  return (
    <form className="card audit-filters" onSubmit={submit} aria-label="Filter the audit log">
      <Suggested
        label="Who"
        list="audit-users"
        placeholder="any user"
        value={f.actor}
        onChange={set("actor")}
      >
        {users}
      </Suggested>
      <label>
        <span>Action</span>
        <select aria-label="Action" value={f.action} onChange={set("action")}>
          <option value="">any action</option>
          {Object.entries(AUDIT_ACTIONS).map(([topic, actions]) => (
            <optgroup key={topic} label={topic[0].toUpperCase() + topic.slice(1)}>
              <option value={`${actions[0].split(".")[0]}.*`}>all about {topic}</option>
              {actions.map((a) => (
                <option key={a} value={a}>
                  {a}
                </option>
              ))}
            </optgroup>
          ))}
        </select>
      </label>
      <Suggested
        label="Device"
        list="audit-devices"
        placeholder="any device"
        value={f.device}
        onChange={set("device")}
      >
        {devices}
      </Suggested>
      <label>
        <span>From</span>
        <input aria-label="From" type="datetime-local" value={f.since} onChange={set("since")} />
      </label>
      <label>
        <span>To</span>
        <input aria-label="To" type="datetime-local" value={f.until} onChange={set("until")} />
      </label>
      <div className="buttons">
        <button type="submit" className="primary">
          Filter
        </button>
        {dirty && (
          <button
            type="button"
            onClick={() => {
              setF(NO_FILTERS);
              onApply(NO_FILTERS);
            }}
          >
            Clear
          </button>
        )}
      </div>
    </form>
  );
}

function AuditRow({ entry: e, now }: { entry: AuditEntry; now: number }) {
  const [open, setOpen] = useState(false);
  const s = auditSentence(e, { time: fmtTime });
  return (
    <li className={open ? "audit-entry open" : "audit-entry"} data-audit-id={e.id} data-action={e.action}>
      <div className="audit-line">
        <span className="audit-time">
          <Ago iso={e.at} now={now} />
        </span>
        <span className="audit-sentence">
          <strong className="audit-actor">
            {s.actorDevice && !s.actorDevice.deleted ? (
              <a href={`#/devices/${encodeURIComponent(s.actorDevice.id)}`}>{s.actor}</a>
            ) : (
              s.actor
            )}
          </strong>{" "}
          {s.parts.map((p, i) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: the parts of one entry never change order
            <Part key={i} part={p} />
          ))}
        </span>
        <button
          type="button"
          className="link small"
          aria-expanded={open}
          aria-label={`${open ? "Hide" : "Show"} details of entry ${e.id}`}
          onClick={() => setOpen(!open)}
        >
          {open ? "Hide details" : "Details"}
        </button>
      </div>
      {open && <AuditDetails entry={e} />}
    </li>
  );
}

function Part({ part: p }: { part: AuditPart }) {
  if ("text" in p) return <>{p.text}</>;
  if ("code" in p) return <code className="audit-code">{p.code}</code>;
  if ("device" in p)
    return p.deleted ? (
      <span className="audit-device deleted" title="This device has been deleted">
        {p.device}
      </span>
    ) : (
      <a className="audit-device" href={`#/devices/${encodeURIComponent(p.id)}`}>
        {p.device}
      </a>
    );
  return p.command ? <a href={`#/commands/${encodeURIComponent(p.command)}`}>a command</a> : <>a command</>;
}

/** Everything the entry holds, as labelled values (no JSON). */
function AuditDetails({ entry: e }: { entry: AuditEntry }) {
  return (
    <dl className="kv compact audit-details">
      <dt>When</dt>
      <dd>
        {fmtTime(e.at)} <span className="muted">({e.at})</span>
      </dd>
      <dt>Who</dt>
      <dd>{e.actor}</dd>
      <dt>Action</dt>
      <dd>
        <code>{e.action}</code>
      </dd>
      {e.deviceId && (
        <>
          <dt>Device</dt>
          <dd>
            {e.deviceName ?? "?"}{" "}
            <span className="muted">
              (id <code>{e.deviceId}</code>
              {e.deviceDeleted ? ", deleted" : ""})
            </span>
          </dd>
        </>
      )}
      {Object.entries(e.detail)
        // The name recorded with a device entry is the Device line above, unless it has changed since.
        .filter(([k, v]) => !(k === "name" && e.deviceId && v === e.deviceName))
        .map(([k, v]) => (
          <Fragment key={k}>
            <dt>{k === "name" && e.deviceId ? "Name then" : label(k)}</dt>
            <dd>
              <Value k={k} v={v} />
            </dd>
          </Fragment>
        ))}
      <dt>Entry</dt>
      <dd className="muted">#{e.id}</dd>
    </dl>
  );
}

function Value({ k, v }: { k: string; v: unknown }) {
  if (v === null || v === undefined || v === "") return <span className="muted">—</span>;
  if (k === "command" && typeof v === "string")
    return (
      <a href={`#/commands/${encodeURIComponent(v)}`}>
        <code>{v}</code>
      </a>
    );
  if (typeof v === "boolean") return <>{v ? "yes" : "no"}</>;
  if (k === "argv" && Array.isArray(v)) return <code>{v.map(String).join(" ")}</code>;
  if (Array.isArray(v))
    return v.length ? <span>{v.map((x) => plain(x)).join(", ")}</span> : <span className="muted">none</span>;
  if (typeof v === "object") {
    const pairs = Object.entries(v as Record<string, unknown>);
    if (!pairs.length) return <span className="muted">none</span>;
    return (
      <span className="chips">
        {pairs.map(([a, b]) => (
          <span className="chip" key={a}>
            {b === null ? `${a} (removed)` : `${a}=${plain(b, true)}`}
          </span>
        ))}
      </span>
    );
  }
  if (typeof v === "string" && /At$/.test(k) && !Number.isNaN(Date.parse(v))) return <>{fmtTime(v)}</>;
  if (k === "fingerprint") return <code className="fingerprint">{String(v)}</code>;
  return <>{String(v)}</>;
}

/**
 * A nested value as plain text (no JSON): an object as "key=value" pairs, a list with commas;
 * deeper levels in parentheses.
 */
function plain(v: unknown, deep = false): string {
  if (v === null || v === undefined) return "—";
  const group = (t: string) => (deep ? `(${t})` : t);
  if (Array.isArray(v)) return v.length ? group(v.map((x) => plain(x, true)).join(", ")) : "none";
  if (typeof v === "object") {
    const pairs = Object.entries(v as Record<string, unknown>);
    return pairs.length ? group(pairs.map(([k, x]) => `${k}=${plain(x, true)}`).join(" ")) : "none";
  }
  return String(v);
}

/** "sourceAddress" → "Source address", "tokenId" → "Token id". */
function label(k: string): string {
  const words = k.replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase();
  return words[0].toUpperCase() + words.slice(1);
}

const day = (iso: string) => new Date(iso).toDateString();

function dayLabel(iso: string, now: number): string {
  const d = new Date(iso);
  const today = new Date(now);
  if (d.toDateString() === today.toDateString()) return "Today";
  const y = new Date(now - 86_400_000);
  if (d.toDateString() === y.toDateString()) return "Yesterday";
  return d.toLocaleDateString(undefined, {
    weekday: "long",
    day: "numeric",
    month: "long",
    ...(d.getFullYear() !== today.getFullYear() ? { year: "numeric" } : {}),
  });
}

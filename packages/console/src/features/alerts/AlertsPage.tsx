/**
 * Alerts: what is firing now (then pending), the history of state changes, the rules (create,
 * delete, silence for a while, end a silence) and the webhooks rules notify. The tab lives in
 * the URL (`#/alerts?tab=rules`). Devices are shown by name, linking to their pages.
 */
import { type FormEvent, useState } from "react";
import { ago, clock, fmtSpan, fmtTime, parseDuration } from "../../format";
import { useSession } from "../../session";
import {
  ConfirmButton,
  ErrorNotice,
  FormCard,
  PollStatus,
  useAction,
  useHashQuery,
  useNow,
  usePoll,
} from "../../ui";
import { type Alert, type AlertRule, type AlertRuleCreate, alertsApi, type Webhook } from "./api";

const TABS = [
  { id: "active", label: "Firing and pending" },
  { id: "history", label: "History" },
  { id: "rules", label: "Rules" },
  { id: "webhooks", label: "Webhooks" },
] as const;
type Tab = (typeof TABS)[number]["id"];

/** The firing list refreshes as often as the device list; the rest every 5 s. */
const ALERTS_MS = 2000;
const REFRESH_MS = 5000;
const NO_RULES = "No alert rules yet. Create one to be told when a battery runs low.";

export function AlertsPage() {
  const [hq, setQuery] = useHashQuery();
  const tab: Tab = TABS.find((t) => t.id === hq.get("tab"))?.id ?? "active";
  const alerts = usePoll(() => alertsApi.list(), ALERTS_MS);
  const active = (alerts.data ?? []).filter((a) => a.state !== "resolved");
  const firing = active.filter((a) => a.state === "firing").length;

  return (
    <section className="alerts-page">
      <header className="page-head">
        <h1>Alerts</h1>
        {alerts.data && (
          <span className="summary">
            {/* One inline run: the header's flex gap must not open before the comma. */}
            <span>
              {firing > 0 ? (
                <b className="firing-count">
                  {firing} {firing === 1 ? "alert" : "alerts"} firing
                </b>
              ) : (
                "nothing firing"
              )}
              {active.length - firing > 0 && `, ${active.length - firing} pending`}
            </span>
          </span>
        )}
      </header>
      <fieldset className="status-filter alert-tabs" aria-label="Show">
        {TABS.map((t) => (
          <button
            key={t.id}
            type="button"
            className={tab === t.id ? "seg active" : "seg"}
            aria-pressed={tab === t.id}
            onClick={() => setQuery({ tab: t.id === "active" ? null : t.id })}
          >
            {t.label}
            {t.id === "active" && alerts.data ? ` (${active.length})` : ""}
          </button>
        ))}
      </fieldset>
      {tab === "active" && <ActiveAlerts poll={alerts} active={active} />}
      {tab === "history" && <History />}
      {tab === "rules" && <Rules />}
      {tab === "webhooks" && <Webhooks />}
    </section>
  );
}

// --- firing and pending ------------------------------------------------------------------

function ActiveAlerts({ poll, active }: { poll: ReturnType<typeof usePoll<Alert[]>>; active: Alert[] }) {
  const now = useNow();
  const rules = usePoll(() => alertsApi.rules(), null);
  const sorted = active
    .slice()
    .sort(
      (a, b) =>
        (a.state === "firing" ? 0 : 1) - (b.state === "firing" ? 0 : 1) ||
        Date.parse(since(a)) - Date.parse(since(b)) ||
        a.rule.localeCompare(b.rule),
    );
  return (
    <>
      <PollStatus poll={poll} />
      {!poll.data && !poll.failure && <p className="muted">Loading…</p>}
      {poll.data && sorted.length === 0 && (
        <p className="empty">
          {rules.data && rules.data.length === 0 ? (
            <>
              {NO_RULES} <a href="#/alerts?tab=rules">Create a rule</a>.
            </>
          ) : (
            <>
              Nothing is firing or pending.
              {rules.data
                ? ` ${rules.data.length} ${rules.data.length === 1 ? "rule is" : "rules are"} watching the fleet.`
                : ""}
            </>
          )}
        </p>
      )}
      {sorted.length > 0 && (
        <table className={`alerts-table${poll.stale ? " is-stale" : ""}`}>
          <thead>
            <tr>
              <th>State</th>
              <th>Rule</th>
              <th>Device</th>
              <th>What</th>
              <th>Since</th>
            </tr>
          </thead>
          <tbody>
            {sorted.map((a) => (
              <tr
                key={`${a.ruleId} ${a.deviceId}`}
                className={`alert-row alert-${a.state}`}
                data-rule={a.rule}
                data-device={a.device}
                data-state={a.state}
              >
                <td>
                  <StateBadge state={a.state} />
                  {a.silenced && <span className="badge alert-silenced">silenced</span>}
                </td>
                <td>
                  <b>{a.rule}</b>
                  <div className="sub">{a.severity}</div>
                </td>
                <td className="name">
                  <a href={`#/devices/${encodeURIComponent(a.deviceId)}`}>{a.device}</a>
                </td>
                <td>{a.summary}</td>
                <td className="nowrap" title={fmtTime(since(a))}>
                  {clock(Date.parse(since(a)), now)}{" "}
                  <span className="muted">({fmtSpan(Math.max(0, (now - Date.parse(since(a))) / 1000))})</span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

/** A time ahead: "15:50" within the next day, else with its date. */
const untilText = (t: number, now: number): string => (t - now < 86_400_000 ? clock(t, t) : clock(t, 0));

/** When the alert entered its current state: fired (firing), the condition first held (pending). */
const since = (a: Alert): string => (a.state === "firing" && a.firedAt ? a.firedAt : a.since);

function StateBadge({ state }: { state: string }) {
  return <span className={`badge alert-state alert-state-${state}`}>{state}</span>;
}

// --- history -----------------------------------------------------------------------------

function History() {
  const h = usePoll(() => alertsApi.history(), REFRESH_MS);
  const now = useNow(10_000);
  return (
    <>
      <PollStatus poll={h} />
      {!h.data && !h.failure && <p className="muted">Loading…</p>}
      {h.data && h.data.length === 0 && (
        <p className="empty">
          No alert has changed state yet. Each time one turns pending, fires or resolves, it is listed here.
        </p>
      )}
      {h.data && h.data.length > 0 && (
        <table className="alert-history">
          <thead>
            <tr>
              <th>When</th>
              <th>Rule</th>
              <th>Device</th>
              <th>Became</th>
              <th>What</th>
            </tr>
          </thead>
          <tbody>
            {h.data.map((e) => (
              <tr key={e.id} data-rule={e.rule} data-state={e.state}>
                <td className="nowrap" title={fmtTime(e.at)}>
                  {clock(Date.parse(e.at), now)} <span className="muted">({ago(e.at, now)})</span>
                </td>
                <td>
                  <b>{e.rule}</b>
                </td>
                <td className="name">
                  <a href={`#/devices/${encodeURIComponent(e.deviceId)}`}>{e.device}</a>
                </td>
                <td>
                  <StateBadge state={e.state} />
                </td>
                <td>{e.summary}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

// --- rules -------------------------------------------------------------------------------

const SILENCES = [
  { label: "15 minutes", ms: 15 * 60_000 },
  { label: "1 hour", ms: 3_600_000 },
  { label: "4 hours", ms: 4 * 3_600_000 },
  { label: "1 day", ms: 86_400_000 },
  { label: "1 week", ms: 7 * 86_400_000 },
];

function Rules() {
  const canEdit = useSession().can("operator");
  const rules = usePoll(() => alertsApi.rules(), REFRESH_MS);
  const hooks = usePoll(() => alertsApi.webhooks(), null);
  const act = useAction();
  const [said, setSaid] = useState<string | null>(null);
  const now = useNow(10_000);
  const done = async (what: string) => {
    setSaid(what);
    await rules.reload();
  };

  return (
    <>
      {canEdit && (
        <NewRule
          webhooks={hooks.data ?? []}
          onCreated={(r) => void done(`Rule “${r.name}” created: ${r.condition}.`)}
        />
      )}
      <div className="card">
        <h2>Rules</h2>
        <PollStatus poll={rules} />
        <ErrorNotice error={act.error} />
        {said && (
          <p className="ok-line" role="status">
            {said}
          </p>
        )}
        {!rules.data && !rules.failure && <p className="muted">Loading…</p>}
        {rules.data && rules.data.length === 0 && (
          <p className="muted empty-line">
            {NO_RULES}
            {!canEdit && " An operator can create rules."}
          </p>
        )}
        {rules.data && rules.data.length > 0 && (
          <table className="alert-rules">
            <thead>
              <tr>
                <th>Rule</th>
                <th>Condition</th>
                <th>Devices</th>
                <th>Now</th>
                <th>Notifies</th>
                <th>Silence</th>
                {canEdit && <th />}
              </tr>
            </thead>
            <tbody>
              {rules.data.map((r) => (
                <tr key={r.id} data-rule={r.name}>
                  <td>
                    <b>{r.name}</b>
                    <div className="sub">
                      {r.kind} · {r.severity}
                    </div>
                    {r.description && <div className="sub">{r.description}</div>}
                  </td>
                  <td>
                    <code className="condition">{r.condition}</code>
                  </td>
                  <td>
                    {r.selector ? <code>{r.selector}</code> : <span className="muted">every device</span>}
                  </td>
                  <td className="nowrap">
                    {r.firing > 0 && (
                      <span className="badge alert-state alert-state-firing">{r.firing} firing</span>
                    )}{" "}
                    {r.pending > 0 && (
                      <span className="badge alert-state alert-state-pending">{r.pending} pending</span>
                    )}
                    {r.firing === 0 && r.pending === 0 && <span className="muted">quiet</span>}
                  </td>
                  <td>
                    {r.webhooks.length ? r.webhooks.join(", ") : <span className="muted">no webhook</span>}
                  </td>
                  <td>
                    <SilenceCell
                      rule={r}
                      now={now}
                      canEdit={canEdit}
                      busy={act.busy}
                      onSilence={(ms, label) =>
                        void act.run(async () => {
                          await alertsApi.silence(r.name, ms);
                          await done(`Rule “${r.name}” silenced for ${label}.`);
                        })
                      }
                      onEnd={() =>
                        void act.run(async () => {
                          await alertsApi.endSilence(r.name);
                          await done(`The silence of “${r.name}” ended.`);
                        })
                      }
                    />
                  </td>
                  {canEdit && (
                    <td className="row-actions">
                      <ConfirmButton
                        label="Delete…"
                        question={`Delete the rule “${r.name}”? Its alerts end and its history stays.`}
                        yes="Yes, delete"
                        busy={act.busy}
                        onConfirm={async () => {
                          await alertsApi.deleteRule(r.name);
                          await done(`Rule “${r.name}” deleted.`);
                        }}
                      />
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
      <Silences />
    </>
  );
}

function SilenceCell({
  rule,
  now,
  canEdit,
  busy,
  onSilence,
  onEnd,
}: {
  rule: AlertRule;
  now: number;
  canEdit: boolean;
  busy: boolean;
  onSilence: (ms: number, label: string) => void;
  onEnd: () => void;
}) {
  const [pick, setPick] = useState(SILENCES[1].label);
  const until = rule.silencedUntil ? Date.parse(rule.silencedUntil) : 0;
  if (until > now)
    return (
      <div className="silence-cell">
        <span className="badge alert-silenced" title={fmtTime(rule.silencedUntil)}>
          silenced until {untilText(until, now)}
        </span>
        {canEdit && (
          <button type="button" className="small" disabled={busy} onClick={onEnd}>
            End silence
          </button>
        )}
      </div>
    );
  if (!canEdit) return <span className="muted">—</span>;
  return (
    <div className="silence-cell">
      <select aria-label={`Silence ${rule.name} for`} value={pick} onChange={(e) => setPick(e.target.value)}>
        {SILENCES.map((s) => (
          <option key={s.label}>{s.label}</option>
        ))}
      </select>
      <button
        type="button"
        className="small"
        disabled={busy}
        onClick={() => {
          const s = SILENCES.find((x) => x.label === pick) ?? SILENCES[1];
          onSilence(s.ms, s.label);
        }}
      >
        Silence
      </button>
    </div>
  );
}

function Silences() {
  const s = usePoll(() => alertsApi.silences(), REFRESH_MS);
  const now = useNow(10_000);
  const live = (s.data ?? []).filter((x) => Date.parse(x.until) > now);
  if (!s.failure && live.length === 0) return null;
  return (
    <div className="card">
      <h2>Silences</h2>
      <PollStatus poll={s} />
      {live.length > 0 && (
        <table className="alert-silences">
          <thead>
            <tr>
              <th>Rule</th>
              <th>Until</th>
              <th>By</th>
              <th>Why</th>
            </tr>
          </thead>
          <tbody>
            {live.map((x) => (
              <tr key={x.id} data-rule={x.rule}>
                <td>
                  <b>{x.rule}</b>
                </td>
                <td title={fmtTime(x.until)}>
                  {untilText(Date.parse(x.until), now)}{" "}
                  <span className="muted">
                    ({fmtSpan(Math.max(0, (Date.parse(x.until) - now) / 1000))} left)
                  </span>
                </td>
                <td>{x.createdBy}</td>
                <td>{x.comment ?? <span className="muted">—</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

const OPS = ["<", "<=", ">", ">=", "==", "!="] as const;

/** "2m", "90s", "1h", or "0" → ms; null when not a duration. */
function durationMs(s: string): number | null {
  if (/^\s*0+\s*[smhdw]?\s*$/i.test(s)) return 0;
  const sec = parseDuration(s);
  return sec === null ? null : Math.round(sec * 1000);
}

function NewRule({ webhooks, onCreated }: { webhooks: Webhook[]; onCreated: (r: AlertRule) => void }) {
  const empty = {
    name: "",
    kind: "metric" as "metric" | "offline" | "log",
    metric: "",
    labels: "",
    op: "<" as (typeof OPS)[number],
    value: "",
    forText: "0",
    offlineText: "5m",
    pattern: "",
    count: "1",
    withinText: "10m",
    selector: "",
    severity: "warning" as "info" | "warning" | "critical",
    hooks: [] as string[],
    description: "",
  };
  const [f, setF] = useState(empty);
  const act = useAction();
  const set =
    <K extends keyof typeof empty>(k: K) =>
    (e: { target: { value: string } }) =>
      setF({ ...f, [k]: e.target.value });

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    await act.run(async () => {
      const body: AlertRuleCreate = { name: f.name.trim(), severity: f.severity };
      if (f.kind === "metric") {
        const value = Number(f.value);
        if (!f.metric.trim()) throw new Error("Type the metric to watch, e.g. battery_percent.");
        if (f.value.trim() === "" || !Number.isFinite(value))
          throw new Error("Type the threshold as a number.");
        const forMs = durationMs(f.forText || "0");
        if (forMs === null) throw new Error(`“${f.forText}” is not a duration; type e.g. 2m, 90s or 0.`);
        Object.assign(body, { metric: f.metric.trim(), op: f.op, value, forMs });
        if (f.labels.trim()) body.labels = f.labels.trim();
      } else if (f.kind === "offline") {
        const offlineMs = durationMs(f.offlineText);
        if (!offlineMs) throw new Error(`“${f.offlineText}” is not a duration; type e.g. 5m.`);
        body.offlineMs = offlineMs;
      } else {
        const count = Number(f.count);
        const withinMs = durationMs(f.withinText);
        if (!f.pattern) throw new Error("Type the pattern to look for in the log lines.");
        if (!Number.isInteger(count) || count < 1) throw new Error("The count is a whole number, 1 or more.");
        if (!withinMs) throw new Error(`“${f.withinText}” is not a duration; type e.g. 10m.`);
        Object.assign(body, { logPattern: f.pattern, count, withinMs });
      }
      if (f.selector.trim()) body.selector = f.selector.trim();
      if (f.hooks.length) body.webhooks = f.hooks;
      if (f.description.trim()) body.description = f.description.trim();
      const r = await alertsApi.createRule(body);
      setF(empty);
      onCreated(r);
    });
  };

  return (
    <FormCard
      title="New rule"
      formClassName="form rule-form"
      onSubmit={submit}
      busy={act.busy}
      submit="Create rule"
      busyText="Creating…"
      error={act.error}
    >
      <div className="rule-row">
        <label>
          <span>Name</span>
          <input
            name="rule-name"
            required
            maxLength={63}
            placeholder="e.g. battery-low"
            value={f.name}
            onChange={set("name")}
          />
        </label>
        <fieldset className="status-filter rule-kind" aria-label="Kind of rule">
          {(
            [
              ["metric", "A metric crosses a value"],
              ["offline", "A device is offline"],
              ["log", "A log pattern repeats"],
            ] as const
          ).map(([k, label]) => (
            <button
              key={k}
              type="button"
              className={f.kind === k ? "seg active" : "seg"}
              aria-pressed={f.kind === k}
              onClick={() => setF({ ...f, kind: k })}
            >
              {label}
            </button>
          ))}
        </fieldset>
      </div>
      {f.kind === "metric" && (
        <div className="rule-row">
          <label>
            <span>Metric</span>
            <input
              name="metric"
              placeholder="battery_percent"
              maxLength={128}
              value={f.metric}
              onChange={set("metric")}
            />
          </label>
          <label className="narrow">
            <span>Is</span>
            <select name="op" aria-label="Comparison" value={f.op} onChange={set("op")}>
              {OPS.map((o) => (
                <option key={o}>{o}</option>
              ))}
            </select>
          </label>
          <label className="narrow">
            <span>Value</span>
            <input
              name="value"
              inputMode="decimal"
              placeholder="15"
              value={f.value}
              onChange={set("value")}
            />
          </label>
          <label className="narrow">
            <span>For</span>
            <input name="for" placeholder="2m" value={f.forText} onChange={set("forText")} />
          </label>
          <label>
            <span>Series labels</span>
            <input
              name="labels"
              placeholder="optional, e.g. mount=/"
              maxLength={512}
              value={f.labels}
              onChange={set("labels")}
            />
          </label>
        </div>
      )}
      {f.kind === "offline" && (
        <div className="rule-row">
          <label className="narrow">
            <span>Offline for</span>
            <input name="offline" placeholder="5m" value={f.offlineText} onChange={set("offlineText")} />
          </label>
        </div>
      )}
      {f.kind === "log" && (
        <div className="rule-row">
          <label className="grow">
            <span>Pattern</span>
            <input
              name="pattern"
              className="mono"
              placeholder="motor (stalled|overheat)"
              maxLength={512}
              value={f.pattern}
              onChange={set("pattern")}
            />
            <small>A regular expression (RE2: no backreferences).</small>
          </label>
          <label className="narrow">
            <span>Seen</span>
            <input name="count" inputMode="numeric" value={f.count} onChange={set("count")} />
            <small>times</small>
          </label>
          <label className="narrow">
            <span>Within</span>
            <input name="within" placeholder="10m" value={f.withinText} onChange={set("withinText")} />
          </label>
        </div>
      )}
      <div className="rule-row">
        <label className="wide">
          <span>Devices</span>
          <input
            name="selector"
            placeholder="every device, or e.g. site=tokyo"
            maxLength={512}
            value={f.selector}
            onChange={set("selector")}
          />
        </label>
        <label className="narrow">
          <span>Severity</span>
          <select name="severity" value={f.severity} onChange={set("severity")}>
            <option>info</option>
            <option>warning</option>
            <option>critical</option>
          </select>
        </label>
        <label className="grow">
          <span>Description</span>
          <input
            name="description"
            placeholder="optional: what to do about it"
            maxLength={1000}
            value={f.description}
            onChange={set("description")}
          />
        </label>
      </div>
      {webhooks.length > 0 && (
        <fieldset className="rule-hooks">
          <legend>Notify</legend>
          {webhooks.map((w) => (
            <label key={w.name} className="check">
              <input
                type="checkbox"
                checked={f.hooks.includes(w.name)}
                onChange={(e) =>
                  setF({
                    ...f,
                    hooks: e.target.checked ? [...f.hooks, w.name] : f.hooks.filter((h) => h !== w.name),
                  })
                }
              />
              <span>{w.name}</span>
            </label>
          ))}
        </fieldset>
      )}
    </FormCard>
  );
}

// --- webhooks ----------------------------------------------------------------------------

function Webhooks() {
  const hooks = usePoll(() => alertsApi.webhooks(), REFRESH_MS);
  const now = useNow(10_000);
  return (
    <div className="card">
      <h2>Webhooks</h2>
      <p className="muted">
        Rules notify the webhooks they name when an alert fires and when it resolves (a signed JSON request in
        the Alertmanager shape). Create one with <code>tether webhooks create NAME --url URL</code>, and try
        it with <code>tether webhooks test NAME</code>.
      </p>
      <PollStatus poll={hooks} />
      {hooks.data && hooks.data.length === 0 && <p className="muted empty-line">No webhooks yet.</p>}
      {hooks.data && hooks.data.length > 0 && (
        <table className="webhooks">
          <thead>
            <tr>
              <th>Name</th>
              <th>URL</th>
              <th>Created</th>
              <th>Last delivery</th>
            </tr>
          </thead>
          <tbody>
            {hooks.data.map((w) => (
              <tr key={w.name} data-webhook={w.name}>
                <td>
                  <b>{w.name}</b>
                </td>
                <td className="mono">{w.url}</td>
                <td title={fmtTime(w.createdAt)}>
                  {ago(w.createdAt, now)} <span className="muted">by {w.createdBy}</span>
                </td>
                <td>
                  {w.lastDelivery ? (
                    <>
                      <span className={`delivery delivery-${w.lastDelivery.status}`}>
                        {w.lastDelivery.status}
                      </span>{" "}
                      <span className="muted" title={fmtTime(w.lastDelivery.at)}>
                        {ago(w.lastDelivery.at, now)}
                      </span>
                    </>
                  ) : (
                    <span className="muted">none yet</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

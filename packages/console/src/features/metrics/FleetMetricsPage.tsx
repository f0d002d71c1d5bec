/**
 * The fleet's metrics: every device's key figures (CPU, memory, disk, temperature, battery),
 * a CPU sparkline of the last hour, how old its newest sample is and a flag when its clock is
 * off. Sortable by each column and filtered by a selector, both in the URL
 * (`#/metrics?selector=site%3Dlab&sort=battery`); refreshed every 10 s.
 */
import {
  ageText,
  type FleetSummaryRow,
  fmtMetricValue,
  KEY_FIGURES,
  type KeyFigure,
  parseSelector,
  skewText,
} from "@tether/sdk";
import { FilterForm, PollStatus, StaleScope, useHashQuery, useNow, usePoll } from "../../ui";
import { metrics, REFRESH_MS } from "./api";
import { type FleetSortKey, nextSort, parseSort, sortRows } from "./fleet-sort";
import { Sparkline } from "./Sparkline";

const FIGURES: { key: KeyFigure; label: string }[] = [
  { key: "cpu", label: "CPU" },
  { key: "memory", label: "Memory" },
  { key: "disk", label: "Disk" },
  { key: "temperature", label: "Temp." },
  { key: "battery", label: "Battery" },
];

/** A device silent for longer than this is marked: several collection intervals missed. */
const SILENT_MS = 5 * 60_000;

export function FleetMetricsPage() {
  const [q, setQuery] = useHashQuery();
  const selector = q.get("selector") ?? "";
  const sort = parseSort(q.get("sort"));
  const now = useNow(5000);
  const poll = usePoll(
    async () => {
      if (selector) parseSelector(selector); // a bad selector is explained before any request
      return metrics.summary(selector || undefined);
    },
    REFRESH_MS,
    [selector],
  );
  const rows = poll.data ? sortRows(poll.data.devices, sort, now) : [];
  const reporting = rows.filter((r) => r.at !== null).length;

  const head = (key: FleetSortKey, label: string, className?: string) => (
    <th
      key={key}
      className={className}
      aria-sort={sort.key === key ? (sort.desc ? "descending" : "ascending") : undefined}
    >
      <button
        type="button"
        className="sort"
        data-sort={key}
        onClick={() => setQuery({ sort: nextSort(sort, key) })}
      >
        {label}
        <span className="sort-mark" aria-hidden="true">
          {sort.key === key ? (sort.desc ? " ▼" : " ▲") : ""}
        </span>
      </button>
    </th>
  );

  return (
    <section>
      <header className="page-head">
        <h1>Metrics</h1>
        {poll.data && (
          <span className="summary">
            {reporting} of {rows.length} {rows.length === 1 ? "device" : "devices"} reporting
          </span>
        )}
        <FilterForm
          key={selector}
          label="Selector"
          placeholder="selector, e.g. site=lab,fact.arch=arm64"
          value={selector}
          onApply={(v) => setQuery({ selector: v || null })}
        />
      </header>
      <PollStatus poll={poll} />
      {!poll.data && !poll.failure && <p className="muted">Loading…</p>}
      {poll.data && rows.length === 0 && (
        <p className="empty">
          {selector ? "No devices match this selector." : "No devices yet."}{" "}
          {!selector && <a href="#/enroll">Create an enrollment token</a>}
        </p>
      )}
      {rows.length > 0 && (
        <StaleScope asOf={poll.stale ? poll.asOf : null}>
          <table className="fleet-metrics">
            <thead>
              <tr>
                {head("name", "Device")}
                {FIGURES.map((f) => head(f.key, f.label, "num"))}
                <th>CPU, last hour</th>
                {head("age", "Last sample")}
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <FleetRow key={r.deviceId} r={r} now={now} />
              ))}
            </tbody>
          </table>
        </StaleScope>
      )}
    </section>
  );
}

function FleetRow({ r, now }: { r: FleetSummaryRow; now: number }) {
  const silent = r.at !== null && now - r.at > SILENT_MS;
  const skew = skewText(r.skewMs);
  return (
    <tr data-device={r.device} className={r.at === null ? "row-quiet" : undefined}>
      <td className="name">
        <a href={`#/devices/${encodeURIComponent(r.deviceId)}`}>{r.device}</a>
      </td>
      {FIGURES.map((f) => {
        const v = r.figures[f.key] ?? null;
        return (
          <td key={f.key} className={`num ${level(f.key, v)}`} data-figure={f.key} data-value={v ?? ""}>
            {v === null ? <span className="muted">—</span> : fmtMetricValue(KEY_FIGURES[f.key].metric, v)}
          </td>
        );
      })}
      <td className="spark">
        <Sparkline values={r.spark} range={[0, 100]} label={`CPU of ${r.device}, last hour`} />
      </td>
      <td className="nowrap">
        {r.at === null ? (
          <span className="muted">no metrics yet</span>
        ) : (
          <span className={silent ? "silent" : undefined} title={new Date(r.at).toLocaleString()}>
            {ageText(r.at, now)}
          </span>
        )}
        {skew && (
          <span className="skew-flag" title={`The ${skew}.`}>
            {" "}
            ⚠ clock
          </span>
        )}
      </td>
    </tr>
  );
}

/** Where a figure needs a look: a hot device, a full disk, an empty battery. */
function level(key: KeyFigure, v: number | null): string {
  if (v === null) return "";
  if (key === "battery") return v <= 10 ? "bad" : v <= 25 ? "warn" : "";
  if (key === "temperature") return v >= 85 ? "bad" : v >= 70 ? "warn" : "";
  return v >= 95 ? "bad" : v >= 85 ? "warn" : "";
}
